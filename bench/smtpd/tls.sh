#!/usr/bin/env bash
# STARTTLS sessions per second: our qmail-smtpd under our tcpserver
# beside Debian's Postfix smtpd with TLS (a private instance, via
# ../shared/mailbench/anchors/postfix.sh), the same ECDSA P-256
# certificate, the same client (tlsload.py: EHLO, STARTTLS, handshake,
# EHLO, MAIL, RCPT, RSET, QUIT; no DATA, so no queue is involved),
# interleaved REPS times so the ratio is meaningful on a noisy machine.
# Also the server side CPU time per session (ours: tcpserver and its
# children; Postfix: every process of the instance, from /proc).
#
#   bash bench/smtpd/tls.sh        # N=2000 sessions a cell, C=8, REPS=3
#
# Everything stays on 127.0.0.1; every server is started here and stopped
# by its own pid (Postfix by its own stop command).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared}
target=${CARGO_TARGET_DIR:-$root/target}
N=${N:-2000}
C=${C:-8}
REPS=${REPS:-3}

cd "$root"
echo "building (release)..." >&2
cargo build --quiet --release -p smtpd --bin qmail-smtpd -p tcpserver --bin tcpserver
work=$(mktemp -d)
chmod 711 "$work" # the Postfix instance (user postfix) lives below it
server_pid=""
pf_port=""
pf_bg=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pf_port" ]; then bash "$shared/mailbench/anchors/postfix.sh" stop "$pf_port" "$work/maildirs" "$work/pf" >/dev/null 2>&1 || true; fi
  if [ -n "$pf_bg" ]; then wait "$pf_bg" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=mx.bench.example -days 2 2>/dev/null
home=$work/home
mkdir -p "$home/control" "$work/maildirs"
echo bench.example > "$home/control/me"
echo mailbench.test > "$home/control/rcpthosts"
cat "$work/cert.pem" "$work/key.pem" > "$home/control/servercert.pem"

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }

QMAILHOME=$home "$target/release/tcpserver" -1 -c 100 -R -H -l 0 127.0.0.1 0 \
  "$target/release/qmail-smtpd" > "$work/port" 2>/dev/null &
server_pid=$!
for _ in $(seq 1 200); do [ -s "$work/port" ] && break; sleep 0.05; done
ours=$(head -n1 "$work/port")

have_postfix=0
if [ -x /usr/sbin/postfix ] && [ "$(id -u)" = 0 ]; then
  pf_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  chmod 644 "$work/cert.pem"; chmod 600 "$work/key.pem"
  # Appended lines win over postfix.sh's own (postconf warns about it).
  # in_flow_delay: without DATA no message reaches qmgr, so Postfix's
  # smtpd would sleep 1 s at each MAIL waiting for a flow token.
  POSTFIX_MAINCF_EXTRA="smtpd_tls_security_level = may
smtpd_tls_cert_file = $work/cert.pem
smtpd_tls_key_file = $work/key.pem
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 0
in_flow_delay = 0
default_process_limit = 100
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0" \
    bash "$shared/mailbench/anchors/postfix.sh" start "$pf_port" "$work/maildirs" "$work/pf" >"$work/pf.out" 2>&1 &
  pf_bg=$!
  # start-fg stays in the foreground: wait (bounded) for the greeting.
  ok=0
  for _ in $(seq 1 200); do
    if python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=2); sys.exit(0 if s.recv(3)==b"220" else 1)' "$pf_port" 2>/dev/null; then ok=1; break; fi
    kill -0 "$pf_bg" 2>/dev/null || break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { grep -v 'overriding earlier' "$work/pf.out" >&2; exit 111; }
  have_postfix=1
else
  echo "note: Postfix not installed or not root: ours only" >&2
fi

# CPU ticks of the instance: its master (whose cutime holds every
# child it reaped) and the master's live children.
pf_ticks() {
  local m t p
  m=$(tr -d ' ' < "$work/pf/spool/pid/master.pid")
  t=$(cpu_ticks "$m")
  for p in $(pgrep -P "$m" || true); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(cpu_ticks "$p")))
  done
  echo "$t"
}

run_cell() { # name port
  local before after out
  if [ "$1" = ours ]; then before=$(cpu_ticks "$server_pid"); else before=$(pf_ticks); fi
  out=$(timeout 600 python3 "$here/tlsload.py" "$2" "$N" "$C")
  # Until tcpserver has reaped its last children (their CPU is then in
  # its cutime), bounded.
  for _ in $(seq 1 100); do
    [ -z "$(pgrep -P "$server_pid" || true)" ] && break
    sleep 0.05
  done
  if [ "$1" = ours ]; then after=$(cpu_ticks "$server_pid"); else after=$(pf_ticks); fi
  set -- "$1" $out
  awk -v n="$1" -v s="$2" -v t="$3" -v d=$((after - before)) -v tck="$tck" \
    'BEGIN { printf "%s\t%.1f\t%.3f\n", n, s / t, d / tck * 1000 / s }'
}

printf 'server\tsessions/s\tserver CPU ms/session\n'
for rep in $(seq 1 "$REPS"); do
  run_cell ours "$ours" | tee -a "$work/results"
  if [ "$have_postfix" = 1 ]; then run_cell postfix "$pf_port" | tee -a "$work/results"; fi
done
awk -F'\t' '{ s[$1] += $2; c[$1] += $3; k[$1]++ }
  END {
    for (n in s) printf "mean %s: %.1f sessions/s, %.3f ms CPU/session\n", n, s[n]/k[n], c[n]/k[n]
    if (("postfix" in s) && ("ours" in s)) printf "ratio ours/postfix: %.2f (sessions/s)\n", s["ours"]/s["postfix"]
  }' "$work/results"
