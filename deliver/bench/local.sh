#!/bin/sh
# Local delivery speed: N messages delivered one process each into a
# Maildir by our qmail-local, and the same N by Debian's procmail (an MDA
# many sites use), in the same run. Prints messages per second and the
# ratio. Also times N fsyncs of a small file, the floor for a delivery
# that is durable before it is reported.
#
#   sh deliver/bench/local.sh [N]        (default 500)
set -eu
n=${1:-500}
here=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
cargo build --quiet --release -p deliver --bin qmail-local
local=$target/release/qmail-local

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
home=$work/home
mkdir -p "$home/Maildir/tmp" "$home/Maildir/new" "$home/Maildir/cur" \
    "$home/pm/tmp" "$home/pm/new" "$home/pm/cur"
chmod 755 "$home"
printf './Maildir/\n' > "$home/.qmail"
chmod 644 "$home/.qmail"
msg=$work/msg
{
    printf 'Received: from x by y; 3 Jan 2025 10:00:00 -0000\nSubject: bench\n\n'
    i=0; while [ $i -lt 40 ]; do
        printf 'a line of body text that is not very interesting at all.....\n'
        i=$((i + 1))
    done
} > "$msg"
printf 'MAILDIR=%s\nDEFAULT=%s/pm/\n' "$home" "$home" > "$work/rc"

now() { date +%s.%N; }
rate() { echo "$1 $2 $3" | awk '{ printf "%.1f", $1 / ($3 - $2) }'; }

t0=$(now)
i=0; while [ $i -lt "$n" ]; do
    "$local" -- joe "$home" joe '' '' example.com a@b.c ./Maildir/ < "$msg" > /dev/null
    i=$((i + 1))
done
t1=$(now)
ours=$(rate "$n" "$t0" "$t1")
[ "$(ls "$home/Maildir/new" | wc -l)" -eq "$n" ]

pm=skipped
if [ -x /usr/bin/procmail ]; then
    t0=$(now)
    i=0; while [ $i -lt "$n" ]; do
        /usr/bin/procmail "$work/rc" < "$msg"
        i=$((i + 1))
    done
    t1=$(now)
    pm=$(rate "$n" "$t0" "$t1")
    [ "$(ls "$home/pm/new" | wc -l)" -eq "$n" ]
fi

t0=$(now)
i=0; while [ $i -lt "$n" ]; do
    dd if="$msg" of="$work/f$i" conv=fsync status=none
    i=$((i + 1))
done
t1=$(now)
fs=$(rate "$n" "$t0" "$t1")

echo "qmail-local Maildir: $ours msg/s"
echo "procmail Maildir:    $pm msg/s"
[ "$pm" = skipped ] || echo "ratio ours/procmail: $(echo "$ours $pm" | awk '{ printf "%.2f", $1 / $2 }')"
echo "dd conv=fsync floor: $fs files/s"
