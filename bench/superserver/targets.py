#!/usr/bin/env python3
"""targets.py RUN_DIR: the issue's targets, checked on one run of run.sh.

- ours >= Debian's tcpserver at every concurrency, same flags (ratio >= 1.0;
  aim 1.2): median of per-rep ratios cand/deb;
- within 10% of a bare C accept+fork+exec loop (floor-fork, backlog 128)
  with the same backlog (cand-tcpserver-HRl-b128 / floor-fork >= 0.90);
- peak RSS (VmHWM after load) no more than 1 MiB above Debian's.
Also shown, for information: ours against ipsvd's tcpsvd.
"""
import csv
import os
import statistics
import sys
from collections import defaultdict


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def ratio(a, b):
    """median [min-max] of per-rep a/b, or None."""
    rs = [a[r] / b[r] for r in a if r in b and a[r] and b[r]]
    if not rs:
        return None
    return statistics.median(rs), min(rs), max(rs)


def fmt(r):
    return "–" if r is None else f"{r[0]:.2f} [{r[1]:.2f}–{r[2]:.2f}]"


def main():
    run = sys.argv[1]
    cps = defaultdict(dict)
    concs, handlers = [], []
    for r in rows(os.path.join(run, "loadgen.tsv")):
        cps[(r["name"], r["handler"], r["conc"])][r["rep"]] = num(r["cps"])
        if r["conc"] not in concs:
            concs.append(r["conc"])
        if r["handler"] not in handlers:
            handlers.append(r["handler"])
    concs.sort(key=int)
    names = sorted({k[0] for k in cps})
    flags = [n[len("cand-tcpserver-"):] for n in names if n.startswith("cand-tcpserver-")]
    out = ["## Targets (issue: tcpserver and tcp-env)\n"]
    fails = 0

    def check(ok):
        nonlocal fails
        if ok is None:
            return "?"
        if not ok:
            fails += 1
        return "ok" if ok else "MISSED"

    out.append("ours ÷ Debian tcpserver, same flags (median of per-rep conn/s ratios [min–max]); target ≥ 1.00, aim 1.20\n")
    out.append("| flags | handler | " + " | ".join(f"c={c}" for c in concs) + " | target |")
    out.append("|---|---|" + "---|" * len(concs) + "---|")
    for f in flags:
        for h in handlers:
            rs = [ratio(cps.get((f"cand-tcpserver-{f}", h, c), {}), cps.get((f"deb-tcpserver-{f}", h, c), {})) for c in concs]
            ok = None if any(r is None for r in rs) else all(r[0] >= 1.0 for r in rs)
            out.append(f"| {f} | {h} | " + " | ".join(fmt(r) for r in rs) + f" | {check(ok)} |")
    out.append("")

    out.append("ours (-b 128) ÷ bare C accept+fork+exec loop (`forkserver`, backlog 128); target ≥ 0.90\n")
    out.append("| variant | handler | " + " | ".join(f"c={c}" for c in concs) + " | target |")
    out.append("|---|---|" + "---|" * len(concs) + "---|")
    for n in ("cand-tcpserver-HRl-b128", "ours-vforkmode-HRl-b128", "ours-forkmode-HRl-b128", "deb-tcpserver-HRl-b128"):
        for h in handlers:
            rs = [ratio(cps.get((n, h, c), {}), cps.get(("floor-fork", h, c), {})) for c in concs]
            ok = None if any(r is None for r in rs) else all(r[0] >= 0.90 for r in rs)
            mark = check(ok) if n.startswith("cand") else "(info)"
            out.append(f"| {n} | {h} | " + " | ".join(fmt(r) for r in rs) + f" | {mark} |")
    out.append("")

    if any(k[0] == "ipsvd-tcpsvd-l0" for k in cps):
        out.append("ours ÷ ipsvd tcpsvd (-c 100 -l 0; tcpsvd does no DNS or ident by default), for information\n")
        out.append("| ours | handler | " + " | ".join(f"c={c}" for c in concs) + " |")
        out.append("|---|---|" + "---|" * len(concs))
        for n in ("cand-tcpserver-HRl", "cand-tcpserver-HRl-b128"):
            for h in handlers:
                rs = [ratio(cps.get((n, h, c), {}), cps.get(("ipsvd-tcpsvd-l0", h, c), {})) for c in concs]
                out.append(f"| {n} | {h} | " + " | ".join(fmt(r) for r in rs) + " |")
        out.append("")

    hwm = defaultdict(list)
    for r in rows(os.path.join(run, "rss.tsv")):
        v = num(r["hwm_after_kb"])
        if v is not None:
            hwm[r["name"]].append(v)
    if hwm:
        out.append("peak resident memory (VmHWM after load, kB, median over reps); target: ours − Debian ≤ 1024 kB\n")
        out.append("| flags | ours | Debian | difference | target |")
        out.append("|---|---|---|---|---|")
        for f in flags:
            a, b = hwm.get(f"cand-tcpserver-{f}"), hwm.get(f"deb-tcpserver-{f}")
            if not a or not b:
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            out.append(f"| {f} | {ma:,.0f} | {mb:,.0f} | {ma - mb:+,.0f} | {check(ma - mb <= 1024)} |")
        for n in ("ipsvd-tcpsvd-l0", "floor-fork"):
            if hwm.get(n):
                out.append(f"| ({n}) | {statistics.median(hwm[n]):,.0f} | | | |")
        out.append("")
    out.append(f"**{'all targets met' if fails == 0 else f'{fails} target(s) missed'}**\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
