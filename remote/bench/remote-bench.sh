#!/bin/sh
# qmail-remote speed: N deliveries of one SIZE-byte message, one
# qmail-remote process per delivery (as qmail-rspawn runs it), one after
# the other, to Postfix's smtp-sink on 127.0.0.1. hyperfine times the
# runs; the same shell starting /bin/true is subtracted. The reference in
# the same run is Postfix's own client tool, smtp-source, sending as many
# messages of the same size, one message per connection, from one
# process. Both talk to the same sink; the ratio is what carries over.
#
#   cargo build --release -p remote
#   sh remote/bench/remote-bench.sh            # N=300 SIZE=4096
#
# Needs: smtp-sink and smtp-source (Debian's postfix), hyperfine, python3.
# As root, smtp-sink drops to nobody.
set -eu
N=${N:-300}
SIZE=${SIZE:-4096}
here=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$here/target}/release/qmail-remote}
[ -x "$BIN" ] || { echo "remote-bench: build first: cargo build --release -p remote" >&2; exit 111; }
for t in smtp-sink smtp-source python3 hyperfine; do
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
python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(500):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); break
    except OSError:
        time.sleep(0.01)
PY

mkdir -p "$work/home/control" "$work/home/queue/lock"
echo bench.test > "$work/home/control/me"
echo "example.test:127.0.0.1:$port" > "$work/home/control/smtproutes"
head -c 1024 /dev/zero > "$work/home/queue/lock/tcpto"
python3 - "$SIZE" > "$work/message" <<'PY'
import sys
size = int(sys.argv[1])
head = "From: a@example.org\nTo: b@example.test\nSubject: bench\n\n"
line = "x" * 71 + "\n"
body = line * ((size - len(head)) // len(line) + 1)
sys.stdout.write((head + body)[:size - 1] + "\n")
PY

# One delivery first: it must work.
QMAILHOME="$work/home" "$BIN" example.test a@example.org b@example.test < "$work/message" |
	tr '\0' '\n' | grep -q 'K127.0.0.1 accepted' || {
	echo "remote-bench: qmail-remote did not deliver" >&2
	exit 111
}

hyperfine --style none -r "$N" -w 10 --export-json "$work/h.json" \
	"QMAILHOME=$work/home $BIN example.test a@example.org b@example.test < $work/message > $work/out" \
	"/bin/true < $work/message > $work/out" > /dev/null

now() { python3 -c 'import time; print(time.monotonic())'; }
t0=$(now)
smtp-source -s 1 -m "$N" -l "$SIZE" -f a@example.org -t b@example.test 127.0.0.1:"$port"
t1=$(now)

python3 - "$N" "$SIZE" "$t0" "$t1" "$work/h.json" <<'PY'
import json, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
t0, t1 = map(float, sys.argv[3:5])
h = json.load(open(sys.argv[5]))["results"]
ours, shell = h[0]["mean"], h[1]["mean"]
net = ours - shell
ref = (t1 - t0) / n
print(f"messages: {n} x {size} bytes, one connection each, sequential")
print(f"qmail-remote, one process per message: {1000 * net:6.3f} ms each ({1 / net:7.1f} msg/s)")
print(f"  (hyperfine mean {1000 * ours:.3f} ms minus the shell's own {1000 * shell:.3f} ms)")
print(f"smtp-source, one process for all:      {1000 * ref:6.3f} ms each ({1 / ref:7.1f} msg/s)")
print(f"ratio qmail-remote msg/s / smtp-source msg/s: {ref / net:.2f}")
PY
