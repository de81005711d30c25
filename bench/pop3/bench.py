#!/usr/bin/env python3
"""qmail-pop3d beside Dovecot's pop3 on the same Maildir.

RETR throughput (MB/s of message bytes received, one session fetching
every big message) and sessions per second (connect, USER, PASS, STAT,
QUIT; CONC clients at once). Both servers read one Maildir in a temporary
home owned by nobody: ours as tcpserver + qmail-popup + a checkpassword
stand-in (sh: closes fd 3, becomes nobody with setpriv, execs
qmail-pop3d; no password check, so the figure is the POP3 pair's cost,
not a password database's) + qmail-pop3d; Dovecot 2.3 with a
passwd-file. Reps alternate the order. Needs root and Debian's Dovecot.

usage: bench.py TCPSERVER QMAIL-POPUP QMAIL-POP3D
env: BIG (count of 1 MB messages, 20), SESSIONS (per rep, 300), CONC (4),
REPS (3)
"""
import os, pwd, shutil, socket, subprocess, sys, tempfile, threading, time

BIG = int(os.environ.get("BIG", "20"))
SESSIONS = int(os.environ.get("SESSIONS", "300"))
CONC = int(os.environ.get("CONC", "4"))
REPS = int(os.environ.get("REPS", "3"))
USER, PASS = "pop3b", "benchpw"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_home(top, uid, gid):
    home = os.path.join(top, "home")
    md = os.path.join(home, "Maildir")
    for d in (home, md, md + "/new", md + "/cur", md + "/tmp"):
        os.mkdir(d)
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\n"
    body = b"Subject: big\n\n" + line * (1_000_000 // len(line))
    old = time.time() - 3600
    for i in range(BIG):
        p = f"{md}/new/{int(old)}.M{i}P1.bench"
        with open(p, "wb") as f:
            f.write(body)
        os.utime(p, (old + i, old + i))
    for root, dirs, files in os.walk(home):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid)
    os.chown(home, uid, gid)
    return home, len(body)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def cmd(self, c):
        self.s.sendall(c + b"\r\n")
        l = self.line()
        if not l.startswith(b"+OK"):
            raise RuntimeError(f"{c!r}: {l!r}")
        return l

    def multi(self, c):
        self.cmd(c)
        chunks, n = [self.buf], len(self.buf)
        tail = self.buf[-5:]
        while not (b"\r\n" + bytes(tail)).endswith(b"\r\n.\r\n"):
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("closed in a message")
            chunks.append(d)
            n += len(d)
            tail = (bytes(tail) + d)[-5:]
        self.buf = b""
        return n

    def login(self):
        self.cmd(b"USER " + USER.encode())
        self.cmd(b"PASS " + PASS.encode())

    def quit(self):
        self.cmd(b"QUIT")
        self.s.close()


def retr_rate(port, size):
    c = Client(port)
    c.login()
    t = time.perf_counter()
    got = 0
    for i in range(1, BIG + 1):
        got += c.multi(b"RETR %d" % i)
    dt = time.perf_counter() - t
    c.quit()
    assert got >= BIG * size, got
    return BIG * size / dt / 1e6


def session_rate(port):
    errors = []

    def worker(n):
        try:
            for _ in range(n):
                c = Client(port)
                c.login()
                c.cmd(b"STAT")
                c.quit()
        except Exception as e:
            errors.append(e)

    per = SESSIONS // CONC
    ts = [threading.Thread(target=worker, args=(per,)) for _ in range(CONC)]
    t = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    dt = time.perf_counter() - t
    if errors:
        raise errors[0]
    return per * CONC / dt


def wait_port(port, proc):
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            Client(port).s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def main():
    tcpserver, popup, pop3d = sys.argv[1:4]
    nobody = pwd.getpwnam("nobody")
    uid, gid = nobody.pw_uid, nobody.pw_gid
    top = tempfile.mkdtemp()
    os.chmod(top, 0o755)
    procs = []
    try:
        home, size = make_home(top, uid, gid)
        ckpw = os.path.join(top, "checkpassword")
        with open(ckpw, "w") as f:
            f.write(f"#!/bin/sh\nread -r _ <&3 || :\nexec 3<&-\ncd {home} || exit 111\n"
                    f"HOME={home} USER={USER} exec setpriv --reuid={uid} "
                    f"--regid={gid} --clear-groups \"$@\"\n")
        os.chmod(ckpw, 0o755)
        ours = free_port()
        p = subprocess.Popen([tcpserver, "-HRl0", "-c", "100", "127.0.0.1", str(ours),
                              popup, "bench", ckpw, pop3d, "Maildir"],
                             stdin=subprocess.DEVNULL)
        procs.append(p)
        wait_port(ours, p)

        d = os.path.join(top, "dovecot")
        os.mkdir(d)
        os.chmod(d, 0o755)
        with open(f"{d}/users", "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASS}:{uid}:{gid}::{home}::\n")
        dport = free_port()
        with open(f"{d}/dovecot.conf", "w") as f:
            f.write(f"""protocols = pop3
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
instance_name = pop3bench{os.getpid()}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {dport}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  process_min_avail = {CONC}
}}
service pop3 {{
  process_limit = 100
}}
""")
        p = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", f"{d}/dovecot.conf"],
                             stdin=subprocess.DEVNULL)
        procs.append(p)
        wait_port(dport, p)

        # Warm up both (Dovecot builds its index, ours moves new/ to cur/).
        for port in (ours, dport):
            retr_rate(port, size)
        best = {}
        for rep in range(REPS):
            order = [("qmail-pop3d", ours), ("dovecot", dport)]
            if rep % 2:
                order.reverse()
            for name, port in order:
                r = retr_rate(port, size)
                s = session_rate(port)
                b = best.setdefault(name, [0, 0])
                b[0], b[1] = max(b[0], r), max(b[1], s)
                print(f"rep {rep + 1} {name}: RETR {r:.0f} MB/s, {s:.0f} sessions/s",
                      flush=True)
        q, dv = best["qmail-pop3d"], best["dovecot"]
        print(f"\nbest of {REPS}: {BIG} x {size} bytes RETR, {SESSIONS} sessions over {CONC} clients")
        print("| server | RETR MB/s | sessions/s |")
        print("|---|---|---|")
        print(f"| Dovecot pop3 | {dv[0]:.0f} | {dv[1]:.0f} |")
        print(f"| qmail-pop3d | {q[0]:.0f} | {q[1]:.0f} |")
        print(f"| ours/Dovecot | {q[0] / dv[0]:.2f} | {q[1] / dv[1]:.2f} |")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(top, ignore_errors=True)


main()
