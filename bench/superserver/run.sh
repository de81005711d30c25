#!/usr/bin/env bash
# bench/superserver/run.sh: our tcpserver against Debian's tcpserver, ipsvd's
# tcpsvd and a bare C accept+fork+exec loop, in one run, on loopback only.
#
#   bash bench/superserver/run.sh            # ~20 minutes; prints the summary
#   REPS=2 N=2000 bash bench/superserver/run.sh
#
# Reuses ../shared/bench: its load generator, C floor programs and handlers
# (built here into $WORK, the shared folder stays read-only), superserver.sh
# (one server, all concurrencies, RSS) and summarize.py (tables, ratios).
# Then targets.py checks the issue's targets on the same data.
#
# Order: each cand-* variant runs right after its deb-* twin, and every other
# rep runs the whole list backwards (A B C .. C B A), so drift hits all alike.
# Everything runs in a private network namespace (only lo exists there).
#
# Environment (defaults): REPS=3 N=5000 CONCS="1 8 32" HANDLERS=hello
#   WARMUP=200 SHARED=../shared/bench WORK=$CARGO_TARGET_DIR/bench (or
#   /tmp/superserver-bench) RESULTS=bench/superserver/results/RUN_ID
#   ONLY=REGEX (variant names)  NO_NETNS=1 (stay in the host namespace)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)}
[ -n "$SHARED" ] && [ -f "$SHARED/superserver.sh" ] || { echo "run.sh: no shared bench at ../shared/bench (set SHARED)" >&2; exit 1; }
export RUN_ID=${RUN_ID:-$(date +%Y%m%d-%H%M%S)}
WORK=${WORK:-${CARGO_TARGET_DIR:-/tmp/superserver-bench}/bench}
export RESULTS=${RESULTS:-$HERE/results/$RUN_ID}

if [ -z "${BENCH_IN_NETNS:-}" ] && [ "${NO_NETNS:-0}" != 1 ]; then
  # Build outside the namespace (cargo may need nothing from the network,
  # but keep the namespace for the measurement only).
  mkdir -p "$WORK/build"
  CC=${CC:-gcc}
  for f in hello true; do "$CC" -O2 -static -o "$WORK/build/$f" "$SHARED/c/$f.c" || exit 1; done
  for f in forkserver dnsresp; do
    "$CC" -O2 -static -Wall -Wno-clobbered -o "$WORK/build/$f" "$SHARED/c/$f.c" || exit 1
  done
  CARGO_TARGET_DIR=$WORK/loadgen cargo build --quiet --release --manifest-path "$SHARED/loadgen/Cargo.toml" || exit 1
  (cd "$ROOT" && cargo build --quiet --release -p tcpserver -p tcprules) || exit 1
  export BENCH_IN_NETNS=1 WORK
  exec unshare --net -- bash "$0" "$@"
fi
if [ -n "${BENCH_IN_NETNS:-}" ]; then
  ip link set lo up || { echo "run.sh: cannot bring lo up in the namespace" >&2; exit 1; }
fi

export BUILD=$WORK/build LOADGEN=$WORK/loadgen/release/loadgen
. "$SHARED/lib.sh"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
CAND=$TARGET/tcpserver
CAND_RULES=$TARGET/tcprules
DEB=${DEB_TCPSERVER:-/usr/bin/tcpserver}
DEB_RULES=${DEB_TCPRULES:-/usr/bin/tcprules}
TCPSVD=${IPSVD_TCPSVD:-/usr/bin/tcpsvd}
REPS=${REPS:-3} N=${N:-5000} CONCS=${CONCS:-"1 8 32"} HANDLERS=${HANDLERS:-hello} WARMUP=${WARMUP:-200}
ONLY=${ONLY:-.}
export OUT=$RESULTS/loadgen.tsv RSS_OUT=$RESULTS/rss.tsv SCRATCH=$RESULTS/scratch N CONCS WARMUP
mkdir -p "$SCRATCH"
for b in "$LOADGEN" "$BUILD/hello" "$BUILD/forkserver" "$CAND" "$DEB"; do
  [ -x "$b" ] || { echo "run.sh: missing $b" >&2; exit 1; }
done

{
  echo "run_id: $RUN_ID"
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "kernel: $(uname -srm)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "loadavg_start: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ -n "${BENCH_IN_NETNS:-}" ] && echo "netns: private (unshare --net, loopback only)"
  echo "packages: $(dpkg-query -W -f='${Package}=${Version} ' ucspi-tcp ipsvd 2>/dev/null)"
  echo "params: REPS=$REPS N=$N CONCS='$CONCS' HANDLERS='$HANDLERS' WARMUP=$WARMUP"
  echo "cand: $CAND sha256=$(sha256sum "$CAND" | cut -c1-16) commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
} > "$RESULTS/machine.txt"
cat "$RESULTS/machine.txt" >&2

# 1000 generated rules; the client matches `127.` after three misses.
python3 "$SHARED/gen-rules.py" 1000 "$SCRATCH/x1k" || exit 1
"$DEB_RULES" "$SCRATCH/x1k-deb.cdb" "$SCRATCH/x1k-deb.tmp" < "$SCRATCH/x1k.rules" || exit 1
"$CAND_RULES" "$SCRATCH/x1k-cand.cdb" "$SCRATCH/x1k-cand.tmp" < "$SCRATCH/x1k.rules" || exit 1

DNS_PID=
if [ -n "${BENCH_IN_NETNS:-}" ]; then
  "$BUILD/dnsresp" -a 127.0.0.1 -p 53 & DNS_PID=$!
  trap '[ -n "$DNS_PID" ] && stop_pid "$DNS_PID"' EXIT
fi

variants() { # $1 = deb|cand, $2 = binary, $3 = cdb
  local p=$1 b=$2 x=$3
  echo "$p-tcpserver-HRl|$b -c 100 -H -R -l 0 {HOST} {PORT} {HANDLER}"
  echo "$p-tcpserver-HRl-x1k|$b -c 100 -H -R -l 0 -x $x {HOST} {PORT} {HANDLER}"
  echo "$p-tcpserver-HRl-b128|$b -c 100 -H -R -l 0 -b 128 {HOST} {PORT} {HANDLER}"
  echo "$p-tcpserver-HRl-x1k-v|$b -v -c 100 -H -R -l 0 -x $x {HOST} {PORT} {HANDLER}"
  if [ -n "$DNS_PID" ]; then
    echo "$p-tcpserver-HR|$b -c 100 -H -R {HOST} {PORT} {HANDLER}"
    echo "$p-tcpserver-default|$b -c 100 {HOST} {PORT} {HANDLER}"
  fi
}
mapfile -t DEBV < <(variants deb "$DEB" "$SCRATCH/x1k-deb.cdb")
mapfile -t CANDV < <(variants cand "$CAND" "$SCRATCH/x1k-cand.cdb")
VARIANTS=()
for i in "${!DEBV[@]}"; do VARIANTS+=("${DEBV[i]}" "${CANDV[i]}"); done
VARIANTS+=("ours-forkmode-HRl-b128|env TCPSERVER_SPAWN=fork $CAND -c 100 -H -R -l 0 -b 128 {HOST} {PORT} {HANDLER}")
VARIANTS+=("ours-vforkmode-HRl-b128|env TCPSERVER_SPAWN=vfork $CAND -c 100 -H -R -l 0 -b 128 {HOST} {PORT} {HANDLER}")
[ -x "$TCPSVD" ] && VARIANTS+=("ipsvd-tcpsvd-l0|$TCPSVD -c 100 -l 0 {HOST} {PORT} {HANDLER}")
VARIANTS+=("floor-fork|$BUILD/forkserver {HOST} {PORT} {HANDLER}")

log "run $RUN_ID: ${#VARIANTS[@]} variants x {$HANDLERS} x $REPS reps, N=$N, CONCS='$CONCS'"
for rep in $(seq 1 "$REPS"); do
  order=("${VARIANTS[@]}")
  if (( rep % 2 == 0 )); then
    order=(); for (( i=${#VARIANTS[@]}-1; i>=0; i-- )); do order+=("${VARIANTS[i]}"); done
  fi
  for h in $HANDLERS; do
    for v in "${order[@]}"; do
      name=${v%%|*} tpl=${v#*|}
      [[ $name =~ $ONLY ]] || continue
      # superserver.sh execs the template: `env` keeps the pid the server's.
      REP=$rep HANDLER=$BUILD/$h bash "$SHARED/superserver.sh" "$name" "$tpl" \
        || log "$name/$h rep $rep: errors (see $OUT and $SCRATCH)"
    done
  done
done

echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RESULTS/machine.txt"
python3 "$SHARED/summarize.py" "$RESULTS" > "$RESULTS/summary.md"
python3 "$HERE/targets.py" "$RESULTS" >> "$RESULTS/summary.md"
log "summary: $RESULTS/summary.md"
cat "$RESULTS/summary.md"
