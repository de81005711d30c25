#!/bin/sh
# qmail-pop3d beside Dovecot's pop3 on one Maildir: RETR MB/s and
# sessions/s, with the ratio (see bench.py). Needs root and Debian's
# dovecot-pop3d.
#   sh bench/pop3/run.sh            # BIG=20 SESSIONS=300 CONC=4 REPS=3
set -e
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p pop3 -p tcpserver
t=$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)
python3 bench/pop3/bench.py "$t/tcpserver" "$t/qmail-popup" "$t/qmail-pop3d"
