#!/usr/bin/env python3
"""STARTTLS session load: each session is greeting, EHLO, STARTTLS, the
TLS handshake, EHLO, MAIL, RCPT, RSET, QUIT (no DATA, so no queue is
involved: what is measured is the SMTP + TLS session cost).

    tlsload.py PORT SESSIONS CONCURRENCY

Prints "sessions seconds" on stdout. Every socket has a 20 s timeout;
the run is bounded by SESSIONS.
"""
import socket
import ssl
import sys
import time
from multiprocessing import Pool

PORT = int(sys.argv[1])
N = int(sys.argv[2])
C = int(sys.argv[3])

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise EOFError("server closed")
        if len(line) < 4 or line[3:4] != b"-":
            return line


def session(_):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=20)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO bench.example\r\n")
    reply(f)
    s.sendall(b"STARTTLS\r\n")
    if not reply(f).startswith(b"220"):
        raise RuntimeError("no STARTTLS")
    t = CTX.wrap_socket(s, server_hostname="mx.bench.example")
    g = t.makefile("rb")
    for cmd in (b"EHLO bench.example", b"MAIL FROM:<a@bench.example>",
                b"RCPT TO:<root@mailbench.test>", b"RSET", b"QUIT"):
        t.sendall(cmd + b"\r\n")
        r = reply(g)
        if r[:1] not in (b"2",):
            raise RuntimeError(r)
    t.close()
    return 1


if __name__ == "__main__":
    start = time.monotonic()
    with Pool(C) as p:
        done = sum(p.imap_unordered(session, range(N), chunksize=8))
    print(done, time.monotonic() - start)
