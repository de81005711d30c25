#!/bin/sh
# qmail-remote speed: N deliveries of one SIZE-byte message, one
# qmail-remote process per delivery (as qmail-rspawn runs it), one after
# the other, to Postfix's smtp-sink on 127.0.0.1. The reference in the
# same run is Postfix's own client tool, smtp-source, sending the same
# number of messages of the same size, one message per connection.
# Both talk to the same sink; the ratio is what carries over.
#
#   cargo build --release -p remote
#   sh remote/bench/remote-bench.sh            # N=300 SIZE=4096
#
# Needs: smtp-sink and smtp-source (Debian's postfix), python3 (to find a
# free port). Run as root, smtp-sink drops to nobody.
set -eu
N=${N:-300}
SIZE=${SIZE:-4096}
here=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$here/target}/release/qmail-remote}
[ -x "$BIN" ] || { echo "remote-bench: build first: cargo build --release -p remote" >&2; exit 111; }
for t in smtp-sink smtp-source python3; do
	command -v "$t" >/dev/null || { echo "remote-bench: $t missing" >&2; exit 111; }
done

work=$(mktemp -d)
sink=
cleanup() { [ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then user="-u nobody"; else user=; fi
# shellcheck disable=SC2086
smtp-sink $user 127.0.0.1:"$port" 256 &
sink=$!
python3 - "$port" <<'EOF'
import socket, sys, time
for _ in range(500):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); break
    except OSError:
        time.sleep(0.01)
EOF

mkdir -p "$work/home/control" "$work/home/queue/lock"
echo bench.test > "$work/home/control/me"
echo "example.test:127.0.0.1:$port" > "$work/home/control/smtproutes"
head -c 1024 /dev/zero > "$work/home/queue/lock/tcpto"
python3 - "$SIZE" > "$work/message" <<'EOF'
import sys
size = int(sys.argv[1])
head = "From: a@example.org\nTo: b@example.test\nSubject: bench\n\n"
line = "x" * 71 + "\n"
body = line * ((size - len(head)) // len(line) + 1)
sys.stdout.write((head + body)[:size - 1] + "\n")
EOF

now() { python3 -c 'import time; print(time.monotonic())'; }

t0=$(now)
i=0
fails=0
while [ $i -lt "$N" ]; do
	out=$(QMAILHOME="$work/home" "$BIN" example.test a@example.org b@example.test < "$work/message" | tr '\0' '\n')
	case $out in *K127.0.0.1\ accepted*) ;; *) fails=$((fails + 1)) ;; esac
	i=$((i + 1))
done
t1=$(now)
# The same loop running /bin/true: the shell's own cost per run.
i=0
while [ $i -lt "$N" ]; do
	out=$(/bin/true < "$work/message" | tr '\0' '\n')
	i=$((i + 1))
done
tb=$(now)
smtp-source -s 1 -m "$N" -l "$SIZE" -f a@example.org -t b@example.test 127.0.0.1:"$port"
t2=$(now)

python3 - "$N" "$SIZE" "$t0" "$t1" "$tb" "$t2" "$fails" <<'EOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
t0, t1, tb, t2 = map(float, sys.argv[3:7])
fails = int(sys.argv[7])
ours, shell, ref = (t1 - t0) / n, (tb - t1) / n, (t2 - tb) / n
net = ours - shell
print(f"messages: {n} x {size} bytes, one connection each, sequential")
print(f"qmail-remote, shell loop: {1000 * ours:6.2f} ms each ({1 / ours:7.1f} msg/s), {fails} not accepted")
print(f"  the loop alone (/bin/true): {1000 * shell:6.2f} ms; qmail-remote net: {1000 * net:6.2f} ms")
print(f"smtp-source (one process):  {1000 * ref:6.2f} ms each ({1 / ref:7.1f} msg/s)")
print(f"ratio smtp-source time / qmail-remote net time: {ref / net:.2f}")
EOF
