/* A qmail-queue that throws the message away: read the message on fd 0
   and the envelope on fd 1 to their ends, then report success. For
   measuring qmail-smtpd alone (bench/smtpd/run.sh). */
#include <unistd.h>

int main(void)
{
  static char buf[65536];
  while (read(0, buf, sizeof buf) > 0) ;
  while (read(1, buf, sizeof buf) > 0) ;
  return 0;
}
