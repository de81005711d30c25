#!/usr/bin/env bash
# Compile 100,000 rules with our tcprules and Debian's in the same run and
# print the time ratio (target <= 1.0); time one lookup in the
# 100,000-rule cdb, the file opened each time (target < 10 us).
#
# Usage: bench/rules/bench.sh [bench.py options: --rules N --reps R
#        --rounds K --dir DIR]
# Needs: Debian's ucspi-tcp (/usr/bin/tcprules), python3, and
# ../shared/bench/gen-rules.py beside the repository (or GEN_RULES=path).
# Builds release binaries into $CARGO_TARGET_DIR (default target/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
gen=${GEN_RULES:-$repo/../shared/bench/gen-rules.py}
deb=${DEB_TCPRULES:-/usr/bin/tcprules}
[ -x "$deb" ] || { echo "bench: $deb not found (apt-get install ucspi-tcp)" >&2; exit 111; }
[ -f "$gen" ] || { echo "bench: $gen not found (set GEN_RULES)" >&2; exit 111; }
(cd "$repo" && CARGO_TARGET_DIR=$target cargo build --quiet --release -p tcprules \
  && CARGO_TARGET_DIR=$target cargo build --quiet --release -p rules --example lookup_timing)
uptime
exec python3 "$here/bench.py" --ours "$target/release/tcprules" --deb "$deb" \
  --lookup "$target/release/examples/lookup_timing" --gen "$gen" "$@"
