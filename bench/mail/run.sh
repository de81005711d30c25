#!/usr/bin/env bash
# bench/mail/run.sh: end-to-end mail throughput (SMTP in, queue, Maildir,
# fsync on) of our system beside Debian's Postfix, in one run of
# ../shared/mailbench, with the four workloads of the throughput issue.
#
#   sudo bash bench/mail/run.sh          # REPS=2: about 15 minutes
#   sudo REPS=3 bash bench/mail/run.sh
#
# The shared harness stays read-only: it is copied to $WORK (default
# /tmp/mailbench-work) and run there, so its scratch/ and results/ land
# in the copy; the summary is copied to bench/mail/results/RUN.md.
# Our system starts with bench/mail/start-qmail (installed as the guide
# does: qmail-setup as root, qmail's users, tcpserver -u qmaild).
#
# Environment: REPS=2 WORKLOADS="1000:4096:1:10 2000:4096:4:10
#   2000:4096:16:10 2000:4096:4:10:p" SERVERS="postfix project"
#   SHARED=../shared/mailbench WORK=/tmp/mailbench-work
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/mailbench}
WORK=${WORK:-/tmp/mailbench-work}
[ -f "$SHARED/run.sh" ] || { echo "run.sh: no mailbench at $SHARED (set SHARED)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (the harness makes users, cgroups and namespaces)" >&2; exit 1; }

(cd "$ROOT" && cargo build --quiet --release)
BINDIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

rm -rf "$WORK/mailbench"; mkdir -p "$WORK"
cp -a "$SHARED" "$WORK/mailbench"; chmod -R u+w "$WORK/mailbench"
cd "$WORK/mailbench"
./setup.sh >/dev/null

export SERVERS=${SERVERS:-"postfix project"} CANDIDATE_NAME=project
export CANDIDATE_START="exec $HERE/start-qmail $BINDIR {PORT} {MAILDIR_ROOT} {WORKDIR}"
export REPS=${REPS:-2}
export WORKLOADS=${WORKLOADS:-"1000:4096:1:10 2000:4096:4:10 2000:4096:16:10 2000:4096:4:10:p"}
./run.sh
summary=$(ls -td results/run-*/ | head -1)summary.md
mkdir -p "$HERE/results"
cp "$summary" "$HERE/results/$(date -u +%Y-%m-%d-%H%M).md"
cat "$summary"
