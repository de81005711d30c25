#!/bin/sh
# rblsmtpd's cost per connection under tcpserver, ours beside Debian's
# (see bench.py for the cases), then, with perf, the CPU time of one
# rblsmtpd run (the elapsed rates of a shared machine are noisy; CPU time
# much less so). Needs root (a DNS responder on 127.0.0.53:53, where
# Debian's rblsmtpd looks) and Debian's ucspi-tcp.
#   sh bench/rblsmtpd/run.sh            # N=1500 REPS=3 CONC=4
set -e
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p rblsmtpd
target=${CARGO_TARGET_DIR:-target}
ours="$target/release/rblsmtpd"
python3 bench/rblsmtpd/bench.py "$ours"
command -v perf >/dev/null || exit 0
echo
echo "CPU time per run (perf stat -r 300, task-clock):"
quit=$(mktemp)
printf 'QUIT\r\n' >"$quit"
for case in pass block; do
  for impl in /usr/bin/rblsmtpd "$ours"; do
    if [ $case = pass ]; then v=; else v=listed; fi
    ms=$(RBLSMTPD=$v TCPREMOTEIP=127.0.0.1 perf stat -r 300 -e task-clock \
      "$impl" /bin/true <"$quit" 2>&1 >/dev/null | awk '/task-clock/ { print $1 }')
    echo "  $case $impl: $ms ms"
  done
done
rm -f "$quit"
