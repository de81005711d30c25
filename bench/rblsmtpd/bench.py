#!/usr/bin/env python3
"""rblsmtpd's cost per connection under tcpserver: ours beside Debian's.

Both run under the same server (Debian's tcpserver -HRl0, so only
rblsmtpd differs) in front of `true`. Cases:
  pass-env   RBLSMTPD="" : no lookup, exec of the server
  pass-dns   -r bench.test, client not listed (NXDOMAIN), then exec
  block-dns  -r bench.test, client listed (TXT): the dialogue, QUIT
and `floor`: tcpserver running `true` with no rblsmtpd at all.
A DNS responder for bench.test runs on 127.0.0.53:53 (root only).
Runs alternate A B B A per rep; only ratios within one run mean much.
"""
import os, socket, struct, subprocess, sys, threading, time

N = int(os.environ.get("N", "1500"))
REPS = int(os.environ.get("REPS", "3"))
CONC = int(os.environ.get("CONC", "4"))
OURS = sys.argv[1]
DEB = "/usr/bin/rblsmtpd"
TCPSERVER = "/usr/bin/tcpserver"
DNSIP = "127.0.0.53"
LISTED = "127.0.0.1"   # the client address the block case is listed as

def dns_server(stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((DNSIP, 53))
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            q, addr = s.recvfrom(512)
        except socket.timeout:
            continue
        i = 12; labels = []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("latin1")); i += 1 + q[i]
        qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
        name = ".".join(labels).lower()
        listed = name == "1.0.0.127.block.test" and qtype == 16
        text = b"Listed by the bench list"
        out = q[:2] + bytes([0x84 | (q[2] & 1), 0x80 | (0 if listed else 3)])
        out += struct.pack(">HHHH", 1, 1 if listed else 0, 0, 0) + q[12:i + 5]
        if listed:
            rd = bytes([len(text)]) + text
            out += b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, len(rd)) + rd
        s.sendto(out, addr)

def start(args, env):
    p = subprocess.Popen([TCPSERVER, "-1", "-HRl0", "-c", "100", "-b", "128",
                          "127.0.0.1", "0"] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(env, PATH="/usr/bin:/bin", DNSCACHEIP=DNSIP))
    port = int(p.stdout.readline())
    return p, port

def load(port, say_quit):
    per = N // CONC
    errors = []
    def worker():
        for _ in range(per):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                if say_quit:
                    c.recv(100)
                    c.sendall(b"QUIT\r\n")
                while c.recv(4096):
                    pass
                c.close()
            except OSError as e:
                errors.append(e)
    ts = [threading.Thread(target=worker) for _ in range(CONC)]
    t0 = time.monotonic()
    for t in ts: t.start()
    for t in ts: t.join()
    dt = time.monotonic() - t0
    return per * CONC / dt, len(errors)

CASES = {
    "floor":     (lambda r: ["true"], {}, False),
    "pass-env":  (lambda r: [r, "-r", "pass.test", "true"], {"RBLSMTPD": ""}, False),
    "pass-dns":  (lambda r: [r, "-r", "pass.test", "true"], {}, False),
    "block-dns": (lambda r: [r, "-r", "block.test", "true"], {}, True),
}

def main():
    stop = threading.Event()
    threading.Thread(target=dns_server, args=(stop,), daemon=True).start()
    results = {}
    for rep in range(REPS):
        order = [(c, impl) for c in CASES for impl in ("debian", "ours")]
        if rep % 2:
            order.reverse()
        for case, impl in order:
            if case == "floor" and impl == "ours":
                continue
            argf, env, say_quit = CASES[case]
            p, port = start(argf(DEB if impl == "debian" else OURS), env)
            try:
                rate, errs = load(port, say_quit)
            finally:
                p.kill(); p.wait()
            results.setdefault((case, impl), []).append(rate)
            print(f"rep {rep} {case:10} {impl:7} {rate:8.0f} conn/s errors {errs}", flush=True)
    stop.set()
    best = {k: max(v) for k, v in results.items()}
    floor = best[("floor", "debian")]
    print()
    print(f"| case | Debian conn/s | ours conn/s | ours/Debian | Debian us/conn over floor | ours us/conn over floor |")
    print(f"|---|---|---|---|---|---|")
    print(f"| floor (tcpserver + true) | {floor:.0f} | | | | |")
    for case in ("pass-env", "pass-dns", "block-dns"):
        d, o = best[(case, "debian")], best[(case, "ours")]
        cd = (1 / d - 1 / floor) * 1e6
        co = (1 / o - 1 / floor) * 1e6
        print(f"| {case} | {d:.0f} | {o:.0f} | {o / d:.2f} | {cd:.0f} | {co:.0f} |")

main()
