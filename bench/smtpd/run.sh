#!/usr/bin/env bash
# qmail-smtpd throughput: messages per second through our qmail-smtpd
# under tcpserver into a queue program, with a pipelining SMTP client
# (../shared/mailbench/smtpload) at concurrency 1 and 16, and the server
# side CPU time per message (tcpserver + qmail-smtpd + queue program).
#
#   bash bench/smtpd/run.sh                # discarding queue program
#   QUEUE=real bash bench/smtpd/run.sh     # our bin/qmail-queue, real queue
#
# Knobs: N (messages per cell, 2000), SIZE (bytes, 4096), PER_CONN (10),
# REPS (3), CONCS ("1 16"), TCPSERVERS (space-separated paths; default
# ours and, when installed, Debian's /usr/bin/tcpserver, run interleaved
# so their ratio is meaningful on a noisy machine).
#
# Everything stays on 127.0.0.1; every server is started here and stopped
# by its own pid; every client run is bounded by count and by time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared}
target=${CARGO_TARGET_DIR:-$root/target}
N=${N:-2000}
SIZE=${SIZE:-4096}
PER_CONN=${PER_CONN:-10}
REPS=${REPS:-3}
CONCS=${CONCS:-"1 16"}
QUEUE=${QUEUE:-discard}

cd "$root"
echo "building (release)..." >&2
cargo build --quiet --release -p smtpd --bin qmail-smtpd
smtpd=$target/release/qmail-smtpd
if [ -z "${TCPSERVERS:-}" ]; then
  TCPSERVERS=""
  if cargo build --quiet --release -p tcpserver --bin tcpserver 2>/dev/null; then
    TCPSERVERS="$target/release/tcpserver"
  else
    echo "note: our tcpserver does not build; using only Debian's" >&2
  fi
  [ -x /usr/bin/tcpserver ] && TCPSERVERS="$TCPSERVERS /usr/bin/tcpserver"
fi
[ -n "$TCPSERVERS" ] || { echo "no tcpserver to run" >&2; exit 111; }
cargo build --quiet --release --manifest-path "$shared/mailbench/smtpload/Cargo.toml" \
  --target-dir "$target/smtpload"
smtpload=$target/smtpload/release/smtpload

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

home=$work/home
mkdir -p "$home/control" "$home/bin"
echo bench.example > "$home/control/me"
echo mailbench.test > "$home/control/rcpthosts"
case $QUEUE in
  discard)
    cc -O2 -o "$work/discard-queue" "$here/discard-queue.c"
    queue_prog=$work/discard-queue ;;
  real)
    cargo build --quiet --release -p queue --bin qmail-queue
    queue_prog=$target/release/qmail-queue
    # qmail's queue layout, owned by the caller (the one-folder mode).
    q=$home/queue
    for d in pid intd todo bounce lock; do mkdir -p "$q/$d"; done
    for d in mess info local remote; do
      for i in $(seq 0 22); do mkdir -p "$q/$d/$i"; done
    done
    head -c 1024 /dev/zero > "$q/lock/tcpto"
    : > "$q/lock/sendmutex"
    mkfifo "$q/lock/trigger" ;;
  *) echo "QUEUE must be discard or real" >&2; exit 100 ;;
esac

tck=$(getconf CLK_TCK)
# utime+stime+cutime+cstime of a pid, in clock ticks.
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }

start_server() {
  local ts=$1
  rm -f "$work/port"
  QMAILHOME=$home QMAILQUEUE=$queue_prog \
    "$ts" -1 -c 100 -R -H -l 0 127.0.0.1 0 "$smtpd" > "$work/port" 2>/dev/null &
  server_pid=$!
  local i
  for i in $(seq 1 200); do
    [ -s "$work/port" ] && break
    sleep 0.05
  done
  [ -s "$work/port" ] || { echo "tcpserver did not start" >&2; exit 111; }
  port=$(head -n1 "$work/port")
  [ -n "$port" ] || { echo "no port from $ts" >&2; exit 111; }
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Wait (bounded) until tcpserver has reaped every child, so their CPU
# time is in its cutime/cstime.
settle() {
  local i
  for i in $(seq 1 100); do
    [ -z "$(pgrep -P "$server_pid" || true)" ] && return
    sleep 0.05
  done
}

results=$work/results.tsv
: > "$results"
for rep in $(seq 1 "$REPS"); do
  for conc in $CONCS; do
    for ts in $TCPSERVERS; do
      start_server "$ts"
      "$smtpload" --port "$port" -n 20 -c 1 -m 10 --pipelining --quiet \
        --rcpt mb1@mailbench.test > /dev/null
      settle
      c0=$(cpu_ticks "$server_pid")
      timeout 300 "$smtpload" --port "$port" -n "$N" -s "$SIZE" -c "$conc" \
        -m "$PER_CONN" --pipelining --quiet --deadline-s 240 --io-timeout-s 30 \
        --rcpt mb1@mailbench.test > "$work/out.json" || true
      settle
      c1=$(cpu_ticks "$server_pid")
      stop_server
      python3 - "$work/out.json" "$ts" "$conc" "$rep" "$c0" "$c1" "$tck" >> "$results" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ts, conc, rep, c0, c1, tck = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
acc = j["accepted"]
cpu_ms = (c1 - c0) * 1000.0 / tck / acc if acc else float("nan")
print(f"{ts}\t{conc}\t{rep}\t{acc}\t{j['failed']}\t{j['accepted_per_s']:.1f}\t{cpu_ms:.3f}\t{j['pipelined_conns']}")
PY
      tail -n1 "$results" >&2
    done
  done
done

python3 - "$results" "$N" "$SIZE" "$PER_CONN" "$QUEUE" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
n, size, per, queue = sys.argv[2:6]
print(f"# qmail-smtpd: {n} messages of {size} bytes, {per} per connection, pipelined, queue={queue}")
print()
print("| tcpserver | conc | msg/s (median of reps) | server CPU ms/msg (median) | failed |")
print("|---|---|---|---|---|")
keys = []
for r in rows:
    if (r[0], r[1]) not in keys:
        keys.append((r[0], r[1]))
med = {}
for ts, conc in keys:
    sel = [r for r in rows if r[0] == ts and r[1] == conc]
    rate = statistics.median(float(r[5]) for r in sel)
    cpu = statistics.median(float(r[6]) for r in sel)
    failed = sum(int(r[4]) for r in sel)
    med[(ts, conc)] = (rate, cpu)
    print(f"| {ts} | {conc} | {rate:.1f} | {cpu:.3f} | {failed} |")
tss = []
for ts, _ in keys:
    if ts not in tss:
        tss.append(ts)
if len(tss) == 2:
    print()
    print(f"Ratio {tss[0]} / {tss[1]} (per rep, msg/s; >1 is faster):")
    for conc in sorted({c for _, c in keys}, key=int):
        ratios = []
        for rep in sorted({r[2] for r in rows}):
            a = [float(r[5]) for r in rows if r[0] == tss[0] and r[1] == conc and r[2] == rep]
            b = [float(r[5]) for r in rows if r[0] == tss[1] and r[1] == conc and r[2] == rep]
            if a and b and b[0] > 0:
                ratios.append(a[0] / b[0])
        if ratios:
            print(f"- conc {conc}: median {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
PY
