#!/usr/bin/env python3
"""Benchmark our tcprules and rules lookup against Debian's ucspi-tcp 0.88.

bench.py --ours PATH --deb PATH --lookup PATH --gen PATH [--rules N]
         [--reps R] [--rounds K] [--dir DIR]

1. Generates N rule lines with gen-rules.py (seeded: the same file every
   run) and compiles them R times with each tcprules, interleaved (ours
   first on odd reps, Debian's first on even ones). Prints the median wall
   time and CPU time (user+sys of the child) of each, and the ratios
   ours/Debian's (target: <= 1.0). Checks that the two cdbs are identical.
2. Runs lookup_timing on our cdb: K lookups each (file opened every time)
   for an exact hit, a prefix hit, an IPv4 address that falls through to
   the default rule, an IPv6 address that does, and the mean over
   gen-rules.py's 1,000 queries (a third exact, a third prefix or range, a
   third default); three runs each, medians printed (target: < 10 us).
   Each with rules::lookup, with rules::lookup_indexed (a NetIndex made
   once, as tcpserver's parent can keep one) and, for comparison, with a
   mapping of the file per lookup.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def run_compile(binary, rules, cdb, tmp):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(rules, "rb") as f:
        r = subprocess.run([binary, cdb, tmp], stdin=f, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{binary} failed: {r.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def parse_kv(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--deb", required=True)
    ap.add_argument("--lookup", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--rules", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--dir")
    a = ap.parse_args()

    base = a.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    with tempfile.TemporaryDirectory(prefix="rules-bench", dir=base) as d:
        prefix = os.path.join(d, "r")
        subprocess.run([sys.executable, a.gen, str(a.rules), prefix], check=True)
        rules = prefix + ".rules"
        print(f"rules: {a.rules} lines, {os.path.getsize(rules)} bytes, in {d}")

        times = {"ours": [], "deb": []}
        for rep in range(a.reps):
            order = ["ours", "deb"] if rep % 2 == 0 else ["deb", "ours"]
            for impl in order:
                binary = a.ours if impl == "ours" else a.deb
                cdb = os.path.join(d, impl + ".cdb")
                times[impl].append(run_compile(binary, rules, cdb, cdb + ".tmp"))
        ours_cdb = open(os.path.join(d, "ours.cdb"), "rb").read()
        deb_cdb = open(os.path.join(d, "deb.cdb"), "rb").read()
        identical = ours_cdb == deb_cdb
        print(f"cdb: {len(ours_cdb)} bytes, identical to Debian's: {identical}")
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in times.items()}
        for k in ("ours", "deb"):
            print(f"compile {k:4}: wall {med[k][0] * 1000:8.2f} ms  cpu {med[k][1] * 1000:8.2f} ms"
                  f"  (median of {a.reps})")
        print(f"compile ratio ours/Debian's: wall {med['ours'][0] / med['deb'][0]:.3f}"
              f"  cpu {med['ours'][1] / med['deb'][1]:.3f}  (target <= 1.0)")

        cdb = os.path.join(d, "ours.cdb")
        runs = []
        for _ in range(3):
            out = subprocess.run([a.lookup, cdb, str(a.rounds)], check=True,
                                 capture_output=True, text=True).stdout
            mix = subprocess.run([a.lookup, cdb, str(a.rounds), "@" + prefix + ".queries"],
                                 check=True, capture_output=True, text=True).stdout
            rows = [parse_kv(l) for l in out.splitlines()]
            rows += [parse_kv(l) for l in mix.splitlines() if l.startswith("queries=")]
            runs.append(rows)
        labels = ["open+close only (floor)", "prefix hit 127.0.0.1 (rule 127.)",
                  "prefix hit 172.16.1.9", "IPv4 to the default rule 198.51.100.7",
                  "IPv6 to the default rule 2001:db8::7", "mean over the 1,000 queries"]
        print(f"lookup in the {a.rules}-rule cdb, file opened per lookup, {a.rounds} rounds,"
              " median of 3 runs, us (wall / CPU of the thread):")
        print("  lookup: rules::lookup (pread); indexed: rules::lookup_indexed with a NetIndex"
              " made once; mmap: the same search on a mapping made per lookup")
        med = lambda rows, k: statistics.median(float(r[k]) for r in rows)
        for i, label in enumerate(labels):
            rows = [r[i] for r in runs]
            if "open_close_us" in rows[0]:
                p, c = med(rows, "open_close_us"), med(rows, "open_close_cpu_us")
                print(f"  {label:40} {p:8.2f} / {c:6.2f} us"
                      f"   (making the NetIndex: {med(rows, 'netindex_scan_ms'):.2f} ms, once)")
                continue
            p, c = med(rows, "pread_us"), med(rows, "pread_cpu_us")
            x, xc = med(rows, "indexed_us"), med(rows, "indexed_cpu_us")
            extra = ""
            if "mmap_us" in rows[0]:
                m, mc = med(rows, "mmap_us"), med(rows, "mmap_cpu_us")
                extra = f"  mmap {m:8.2f} / {mc:6.2f}"
            print(f"  {label:40} {p:8.2f} / {c:6.2f}   indexed {x:8.2f} / {xc:6.2f}{extra}")
        if not identical:
            sys.exit("cdb bytes differ")


if __name__ == "__main__":
    main()
