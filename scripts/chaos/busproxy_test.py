#!/usr/bin/env python3
"""Self-test of busproxy.py, without ringcache: echo servers stand in for the
nodes' real bus ports on 127.0.0.21..23, and clients bound to those IPs play
the nodes' outbound bus links.

    python3 scripts/chaos/busproxy_test.py        (prints "ok" and exits 0)

Checks: forwarding keeps the source IP; a listed pair is closed within 100 ms
of the file changing and refused at accept, both directions; other pairs are
untouched; "IP *" cuts one IP from all others but not from itself; comments,
blank and malformed lines; a missing file lifts every cut; half-close and a
1 MB transfer pass through; a second listener on the same IP (a client port,
as with CHAOS_CUT=all) is cut alike, while connections from 127.0.0.1 (no
node's IP) survive pair cuts ("IP *" cuts them too); SIGTERM exits with
status 0; with nodelay (BUSPROXY_NODELAY=1) both legs have TCP_NODELAY.
"""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

IPS = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def echo_server(ip):
    """Echo each chunk back prefixed by the peer's IP; returns the port."""
    srv = socket.socket()
    srv.bind((ip, 0))
    srv.listen(16)

    def handle(c, peer):
        with c:
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        c.shutdown(socket.SHUT_WR)  # answer a half-close with one
                        return
                    c.sendall(peer[0].encode() + b"|" + d if len(d) < 100 else d)
            except OSError:
                pass

    def loop():
        while True:
            c, peer = srv.accept()
            threading.Thread(target=handle, args=(c, peer), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def connect(src, dst, port):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(1)
    s.connect((dst, port))
    return s


def talk(s):
    """One round trip; the reply, or None when the connection is cut."""
    try:
        s.sendall(b"hi")
        d = s.recv(100)
        return d or None
    except OSError:
        return None


def fresh(src, dst, port):
    """A round trip on a new connection; None when cut. The proxy's reset can
    arrive before connect() returns, so a failed connect counts as cut."""
    try:
        s = connect(src, dst, port)
    except OSError:
        return None
    with s:
        return talk(s)


def main():
    tmp = tempfile.mkdtemp(prefix="busproxy-test-")
    ctl = os.path.join(tmp, "cuts")
    real = {ip: echo_server(ip) for ip in IPS}
    lport = {ip: free_port(ip) for ip in IPS}
    # A second listener per IP to the same target, like the client port next
    # to the bus port in the CHAOS_CUT=all layout.
    cport = {ip: free_port(ip) for ip in IPS}
    maps = ["%s:%d:%d" % (ip, lport[ip], real[ip]) for ip in IPS]
    maps += ["%s:%d:%d" % (ip, cport[ip], real[ip]) for ip in IPS]
    proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "busproxy.py"), ctl] + maps,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    a, b, c = IPS

    def write(text):
        with open(ctl + ".tmp", "w") as f:
            f.write(text)
        os.replace(ctl + ".tmp", ctl)

    try:
        assert proxy.stdout.readline().strip() == "ready"

        ab = connect(a, b, lport[b])
        cb = connect(c, b, lport[b])
        assert talk(ab) == a.encode() + b"|hi", "forwarded with the source IP kept"
        assert talk(cb) == c.encode() + b"|hi"

        t0 = time.time()
        write("# comment\n\n   \nnot a rule line with four words\n%s %s\n" % (b, a))
        while talk(ab) is not None:
            assert time.time() - t0 < 0.5, "open cut connection not closed"
            time.sleep(0.005)
        closed_ms = (time.time() - t0) * 1000
        assert closed_ms <= 150, "closed after %.0f ms" % closed_ms
        assert talk(cb) == c.encode() + b"|hi", "other pair untouched"
        assert fresh(a, b, lport[b]) is None, "refused at accept"
        assert fresh(b, a, lport[a]) is None, "both directions"
        assert fresh(a, c, lport[c]) is not None, "a-c not cut"

        write("%s *\n" % c)
        time.sleep(0.15)
        assert talk(cb) is None, "'IP *' closes c's open connections"
        assert fresh(a, c, lport[c]) is None
        assert fresh(c, a, lport[a]) is None
        assert fresh(c, c, lport[c]) is not None, "not cut from itself"
        assert fresh(a, b, lport[b]) is not None, "a-b lifted"

        os.remove(ctl)
        time.sleep(0.15)
        assert fresh(b, c, lport[c]) is not None, "missing file = nothing cut"

        s = connect(a, c, lport[c])
        s.settimeout(5)
        s.sendall(b"x" * 1000000)
        s.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
        assert got >= 1000000, "1 MB echoed through, then EOF after half-close (got %d)" % got
        s.close()

        # CHAOS_CUT=all: b cut from the other nodes by pairs, on both of its
        # listeners; a client from 127.0.0.1 keeps its connection and gets new ones.
        local = "127.0.0.1"
        ab2 = connect(a, b, cport[b])
        lb2 = socket.create_connection((b, cport[b]), timeout=1)
        assert lb2.getsockname()[0] == local
        assert talk(lb2) == local.encode() + b"|hi"
        write("%s %s\n%s %s\n" % (b, a, b, c))
        time.sleep(0.15)
        assert talk(ab2) is None, "pair cut closes the second listener's connections too"
        assert fresh(a, b, cport[b]) is None and fresh(b, c, cport[c]) is None
        assert fresh(a, b, lport[b]) is None, "and the first listener's"
        assert talk(lb2) == local.encode() + b"|hi", "a client from 127.0.0.1 is not cut"
        assert fresh(local, b, cport[b]) is not None and fresh(local, b, lport[b]) is not None
        assert fresh(a, c, cport[c]) is not None, "a-c not cut"
        write("%s *\n" % b)
        time.sleep(0.15)
        assert talk(lb2) is None, "'IP *' cuts 127.0.0.1 too"
        lb2.close()
        ab2.close()
        os.remove(ctl)
        time.sleep(0.15)

        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait(5) == 0, "SIGTERM exits 0"
        print("ok (cut connection closed %.0f ms after the file changed)" % closed_ms)
        return 0
    finally:
        if proxy.poll() is None:
            proxy.kill()
            proxy.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def nodelay_test():
    """In-process: with nodelay both legs of a pipe have TCP_NODELAY, without
    it neither has (the default bus-only behaviour is unchanged)."""
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # leave no __pycache__ next to the scripts
    import busproxy  # pylint: disable=import-outside-toplevel
    busproxy.log = lambda _msg: None  # its rule/forwarding lines: not ours to show
    ip = IPS[0]
    real = echo_server(ip)
    for nodelay in (True, False):
        tmp = tempfile.mkdtemp(prefix="busproxy-test-")
        port = free_port(ip)
        proxy = busproxy.Proxy(os.path.join(tmp, "cuts"), [(ip, port, real)], nodelay=nodelay, out=io.StringIO())
        t = threading.Thread(target=proxy.run, daemon=True)
        t.start()
        try:
            deadline = time.time() + 5
            while "ready" not in proxy.out.getvalue():
                assert time.time() < deadline, "in-process proxy not ready"
                time.sleep(0.01)
            s = connect(IPS[1], ip, port)
            assert talk(s) == IPS[1].encode() + b"|hi"
            with proxy.lock:
                pipes = list(proxy.pipes)
            assert len(pipes) == 1
            for sock in (pipes[0].down, pipes[0].up):
                got = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert got == nodelay, "TCP_NODELAY %s with nodelay=%s" % (got, nodelay)
            s.close()
        finally:
            proxy.stopping.set()
            t.join(5)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    rc = main()
    nodelay_test()
    print("ok (nodelay)")
    sys.exit(rc)
