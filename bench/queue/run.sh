#!/usr/bin/env bash
# Queue throughput: messages per second from local injection through to
# Maildir delivery, fsync on, for our queue (qmail-queue -> qmail-send ->
# qmail-lspawn -> our qmail-local) and for Debian's Postfix (sendmail ->
# postdrop -> pickup -> cleanup -> qmgr -> local) in the same run, beside
# this machine's fsync rate (write 4 KiB + fsync + rename, the limit).
#
#   sudo bash bench/queue/run.sh
#
# Knobs: N (messages per cell, 1000), SIZE (bytes, 4096), CONCS (parallel
# injectors, "1 4"), REPS (3), SYSTEMS ("ours postfix").
#
# Each cell: a fresh system in a fresh folder, 20 warm-up messages (not
# timed), then N messages injected by CONC shell loops, one process per
# message (qmail-queue for ours, sendmail for Postfix); delivered msg/s is
# N / (last arrival in new/ - start of injection), the arrival being the
# file's ctime (set by the link or rename into new/).
#
# Ours runs in the one-folder mode as nobody; Postfix runs as its own
# private instance (../shared/mailbench/anchors/postfix.sh: config, queue
# and Maildirs in the cell folder; it also listens on a loopback port).
# Both deliver to nobody's Maildir. Every daemon is started here and
# stopped by its pid; every wait is bounded.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared}
target=${CARGO_TARGET_DIR:-$root/target}
N=${N:-1000}
SIZE=${SIZE:-4096}
CONCS=${CONCS:-"1 4"}
REPS=${REPS:-3}
SYSTEMS=${SYSTEMS:-"ours postfix"}
RUNAS=65534
[ "$(id -u)" = 0 ] || { echo "run as root (ours runs as nobody, Postfix as its users)" >&2; exit 111; }

cd "$root"
echo "building (release)..." >&2
cargo build --quiet --release -p queue -p send -p deliver
cargo build --quiet --release --manifest-path "$shared/mailbench/smtpload/Cargo.toml" \
  --target-dir "$target/smtpload"
rel=$target/release
fsync_loop=$target/smtpload/release/fsync-loop
if [[ " $SYSTEMS " == *" postfix "* ]] && ! command -v postfix >/dev/null; then
  echo "note: postfix is not installed; running ours only" >&2
  SYSTEMS=ours
fi

work=$(mktemp -d /var/tmp/queue-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The message: headers and a body of SIZE bytes.
python3 - "$work/msg" "$SIZE" <<'PY'
import sys
path, size = sys.argv[1], int(sys.argv[2])
head = b"From: bench@bench.example\nTo: nobody@bench.example\nSubject: queue bench\n\n"
line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\n"
body = (line * (size // len(line) + 1))[: max(0, size - len(head) - 1)]
open(path, "wb").write(head + body + b"\n")
PY
printf 'Fbench@bench.example\0Tnobody@bench.example\0\0' > "$work/env"
chmod 644 "$work/msg" "$work/env"

asnobody() { setpriv --reuid=$RUNAS --regid=$RUNAS --clear-groups "$@"; }
now() { date +%s.%N; }
count_new() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }
# Wait (bounded) until DIR holds N files.
wait_new() {
  local dir=$1 n=$2 secs=$3 i
  for i in $(seq 1 $((secs * 20))); do
    [ "$(count_new "$dir")" -ge "$n" ] && return 0
    sleep 0.05
  done
  echo "timeout: $(count_new "$dir") of $n delivered in $dir" >&2
  return 1
}
# The latest ctime in DIR, seconds with fraction.
last_arrival() {
  python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
print(max(os.stat(os.path.join(d, f)).st_ctime_ns for f in os.listdir(d)) / 1e9)
PY
}
# Run CONC shell loops, together N runs of the shell command CMD (one
# process per message), each loop under RUNNER (a prefix command, or none).
inject() { # CONC N RUNNER CMD
  local conc=$1 n=$2 runner=$3 cmd=$4
  local per=$((n / conc)) extra=$((n % conc)) k lp=()
  for k in $(seq 1 "$conc"); do
    local m=$per
    [ "$k" -le "$extra" ] && m=$((m + 1))
    $runner bash -c 'i=0; while [ $i -lt "$0" ]; do '"$cmd"' || { echo "injection failed" >&2; exit 1; }; i=$((i + 1)); done' "$m" &
    lp+=($!)
  done
  local p rc=0
  for p in "${lp[@]}"; do wait "$p" || rc=1; done
  return $rc
}

# ------------------------------------------------------------------ ours
ours_start() {
  local cell=$1 h=$1/qmail
  mkdir -p "$h/bin" "$h/control" "$h/mail/nobody/Maildir/"{tmp,new,cur}
  for b in qmail-queue qmail-send qmail-start qmail-lspawn qmail-rspawn qmail-clean qmail-local qmail-getpw; do
    cp "$rel/$b" "$h/bin/"
  done
  echo bench.example > "$h/control/me"
  echo bench.example > "$h/control/locals"
  local q=$h/queue d i
  for d in pid intd todo bounce lock; do mkdir -p "$q/$d"; done
  for d in mess info local remote; do for i in $(seq 0 22); do mkdir -p "$q/$d/$i"; done; done
  head -c 1024 /dev/zero > "$q/lock/tcpto"
  : > "$q/lock/sendmutex"
  mkfifo -m 0622 "$q/lock/trigger"
  chmod 750 "$q" "$q/mess" "$q/todo" "$q/lock"; chmod 700 "$q/pid" "$q/intd" "$q/bounce" "$q/info" "$q/local" "$q/remote"
  chown -R $RUNAS:$RUNAS "$h"
  asnobody env - PATH="$h/bin:/usr/bin:/bin" QMAILHOME="$h" "$h/bin/qmail-start" ./Maildir/ > "$cell/log" 2>&1 &
  sys_pid=$!
  pids+=("$sys_pid")
  for i in $(seq 1 200); do grep -q '^status:' "$cell/log" 2>/dev/null && break; sleep 0.05; done
  grep -q '^status:' "$cell/log" || { echo "qmail-send did not start: $(cat "$cell/log")" >&2; exit 111; }
  maildir=$h/mail/nobody/Maildir/new
}
ours_inject() { # CONC N
  local h=$cell/qmail
  # One qmail-queue per message, as nobody, the envelope from a file on fd 1.
  inject "$1" "$2" "setpriv --reuid=$RUNAS --regid=$RUNAS --clear-groups" \
    "QMAILHOME=$h $h/bin/qmail-queue < $work/msg 1< $work/env"
}
ours_stop() {
  local kids
  kids=$(cat /proc/"$sys_pid"/task/*/children 2>/dev/null || true)
  kill -TERM "$sys_pid" 2>/dev/null || true
  wait "$sys_pid" 2>/dev/null || true
  local i k
  for i in $(seq 1 100); do
    local alive=0
    for k in $kids; do [ -e "/proc/$k" ] && ! grep -q ') Z ' "/proc/$k/stat" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.05
  done
  for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
}

# ------------------------------------------------------------------ Postfix
postfix_start() {
  local cell=$1
  local mroot=$cell/maildirs
  mkdir -p "$mroot/nobody/"{tmp,new,cur} "$cell/pf"
  chown -R $RUNAS:$RUNAS "$mroot/nobody"; chmod 700 "$mroot/nobody"
  chmod 755 "$mroot"
  pf_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # mailbench.test is the local domain of mailbench's Postfix config;
  # the message's To: header is just text.
  bash "$shared/mailbench/anchors/postfix.sh" start "$pf_port" "$mroot" "$cell/pf" > "$cell/log" 2>&1 &
  sys_pid=$!
  pids+=("$sys_pid")
  local i
  for i in $(seq 1 200); do postfix -c "$cell/pf/etc" status >/dev/null 2>&1 && break; sleep 0.1; done
  postfix -c "$cell/pf/etc" status >/dev/null 2>&1 || { echo "postfix did not start: $(cat "$cell/log")" >&2; exit 111; }
  maildir=$mroot/nobody/new
}
postfix_inject() { # CONC N
  inject "$1" "$2" "" \
    "/usr/sbin/sendmail -C $cell/pf/etc -f bench@bench.example -i nobody@mailbench.test < $work/msg"
}
postfix_stop() {
  postfix -c "$cell/pf/etc" stop >/dev/null 2>&1 || true
  local i
  for i in $(seq 1 200); do kill -0 "$sys_pid" 2>/dev/null || break; sleep 0.1; done
  kill "$sys_pid" 2>/dev/null || true
  wait "$sys_pid" 2>/dev/null || true
}

# ------------------------------------------------------------------ cells
results=$work/results.tsv
: > "$results"
fsync_rate() { # THREADS
  mkdir -p "$work/fsync"
  "$fsync_loop" --dir "$work/fsync" -n 1000 -s 4096 -p "$1" --quiet |
    python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["ops_per_s"])'
}
n_cell=0
for rep in $(seq 1 "$REPS"); do
  f1=$(fsync_rate 1); f4=$(fsync_rate 4)
  printf 'fsync\t1\t%s\t%s\t\t\n' "$rep" "$f1" >> "$results"
  printf 'fsync\t4\t%s\t%s\t\t\n' "$rep" "$f4" >> "$results"
  echo "rep $rep: fsync 1 writer $f1/s, 4 writers $f4/s" >&2
  order=$SYSTEMS
  [ $((rep % 2)) = 0 ] && order=$(echo "$SYSTEMS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for conc in $CONCS; do
    for sys in $order; do
      n_cell=$((n_cell + 1))
      cell=$work/c$n_cell
      mkdir -p "$cell"; chmod 755 "$cell"
      "${sys}_start" "$cell"
      "${sys}_inject" 1 20
      wait_new "$maildir" 20 120
      find "$maildir" -maxdepth 1 -type f -delete
      sync
      t0=$(now)
      "${sys}_inject" "$conc" "$N"
      t1=$(now)
      if wait_new "$maildir" "$N" 600; then
        tl=$(last_arrival "$maildir")
      else
        tl=nan
      fi
      got=$(count_new "$maildir")
      "${sys}_stop"
      python3 - "$sys" "$conc" "$rep" "$N" "$got" "$t0" "$t1" "$tl" >> "$results" <<'PY'
import sys
s, conc, rep, n, got, t0, t1, tl = sys.argv[1:]
n, got, t0, t1 = int(n), int(got), float(t0), float(t1)
tl = float(tl)
deliv = n / (tl - t0) if tl == tl else float("nan")
print(f"{s}\t{conc}\t{rep}\t{deliv:.1f}\t{n / (t1 - t0):.1f}\t{got}")
PY
      tail -n1 "$results" >&2
      rm -rf "$cell"
    done
  done
done

python3 - "$results" "$N" "$SIZE" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
n, size = sys.argv[2], sys.argv[3]
fs = {t: statistics.median(float(r[3]) for r in rows if r[0] == "fsync" and r[1] == t) for t in ("1", "4")}
print(f"# queue: {n} messages of {size} bytes, injection to Maildir, fsync on")
print()
print(f"fsync limit (write 4 KiB + fsync + rename): {fs['1']:.0f}/s with 1 writer, {fs['4']:.0f}/s with 4")
print()
print("| system | injectors | delivered msg/s (median) | injected msg/s (median) | delivered / fsync(1) |")
print("|---|---|---|---|---|")
systems = [s for s in dict.fromkeys(r[0] for r in rows) if s != "fsync"]
concs = sorted({r[1] for r in rows if r[0] != "fsync"}, key=int)
for c in concs:
    for s in systems:
        sel = [r for r in rows if r[0] == s and r[1] == c]
        d = statistics.median(float(r[3]) for r in sel)
        i = statistics.median(float(r[4]) for r in sel)
        print(f"| {s} | {c} | {d:.1f} | {i:.1f} | {d / fs['1']:.3f} |")
if "ours" in systems and "postfix" in systems:
    print()
    print("ours / postfix, delivered msg/s, per rep (>1: ours faster):")
    for c in concs:
        ratios = []
        for rep in sorted({r[2] for r in rows}):
            a = [float(r[3]) for r in rows if r[0] == "ours" and r[1] == c and r[2] == rep]
            b = [float(r[3]) for r in rows if r[0] == "postfix" and r[1] == c and r[2] == rep]
            if a and b and b[0] > 0:
                ratios.append(a[0] / b[0])
        if ratios:
            print(f"- {c} injector(s): median {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
PY
