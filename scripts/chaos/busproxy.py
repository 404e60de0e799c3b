#!/usr/bin/env python3
"""Cluster-bus proxy that can cut the links between chosen nodes.

    python3 scripts/chaos/busproxy.py CONTROL_FILE MAP [MAP...]

Each MAP is IP:LISTEN_PORT:TARGET_PORT: listen on IP:LISTEN_PORT and forward
every accepted TCP connection to IP:TARGET_PORT (a plain bidirectional byte
pipe; half-closes are passed on).

Layout this is made for: every ringcache node runs on its own loopback IP
(127.0.0.11, 127.0.0.12, ...) with

    --bind IP --cluster-announce-ip IP
    --cluster-port REAL_BUS_PORT --cluster-announce-bus-port LISTEN_PORT

so peers reach its bus only through this proxy, and ringcache binds its own
outbound bus connections to its bind address, so the *source* IP of a
connection accepted here tells which node it comes from. By default only the
cluster bus goes through the proxy: clients and replication connect to the
node client ports directly and are never cut by it. In the chaos scripts'
CHAOS_CUT=all mode the client ports are mapped too (node started with
--port REAL_CLIENT_PORT --cluster-announce-port LISTEN_PORT): replicas then
reach their primary through here, from their own bind IP, and are cut like
the bus, while clients from an IP no rule names (127.0.0.1) are not.

CONTROL_FILE (missing = nothing cut) holds lines "IP_A IP_B": all traffic
between node IP_A and node IP_B is cut, both directions. "IP_A *" cuts IP_A
from every other IP (any source, 127.0.0.1 included: to spare clients, list
the node pairs instead). Lines starting with '#' and blank lines are ignored. A
connection accepted on the listener of IP D from source IP S is cut when the
pair {S, D} is cut: it is closed at once when accepted (the client may see
the reset already in connect()), and an already-open one is closed within
100 ms of the file changing. The file is polled every 50 ms, and a change
counts once two reads 10 ms apart agree, so a file rewritten in place is not
acted on half-written (renaming a new file into place is best all the same).
Closes are abortive (RST), like a link that broke, and leave no TIME_WAIT
behind however often the nodes reconnect.

Prints "ready" on stdout (flushed) once every listener is bound; exits with
status 0 on SIGTERM/SIGINT. Stdlib only. Environment: BUSPROXY_VERBOSE=1 logs
each connection on stderr (rule changes and cuts are always logged there);
BUSPROXY_NODELAY=1 sets TCP_NODELAY on both legs of every connection (for
request/reply traffic such as client ports, which Nagle would delay);
BUSPROXY_EXIT_WITH_PARENT=1 makes it exit (status 0) once its parent process
is gone, for test harnesses that might die without killing it.
"""

import os
import signal
import socket
import struct
import sys
import threading
import time

POLL_S = 0.05  # control-file poll period: cuts take effect within 2 polls
VERBOSE = os.environ.get("BUSPROXY_VERBOSE", "") not in ("", "0")
# For test harnesses: don't outlive the process that started us (a test that
# dies without killing us would otherwise leave the ports taken).
EXIT_WITH_PARENT = os.environ.get("BUSPROXY_EXIT_WITH_PARENT", "") not in ("", "0")
NODELAY = os.environ.get("BUSPROXY_NODELAY", "") not in ("", "0")


def log(msg):
    t = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % (int(t * 1000) % 1000)
    sys.stderr.write("busproxy %s %s\n" % (stamp, msg))
    sys.stderr.flush()


def parse_map(text):
    """IP:LISTEN_PORT:TARGET_PORT -> (ip, listen_port, target_port)."""
    ip, sep, rest = text.rpartition(":")
    ip, sep2, listen = ip.rpartition(":")
    if not (sep and sep2 and ip):
        raise ValueError("MAP must be IP:LISTEN_PORT:TARGET_PORT, got %r" % text)
    return ip, int(listen), int(rest)


def parse_rules(text):
    """Control-file text -> (set of frozenset pairs, set of IPs cut from all)."""
    pairs, everyone = set(), set()
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) != 2:
            log("control file line %d ignored (want 'IP_A IP_B' or 'IP_A *'): %r" % (n, line))
            continue
        a, b = words
        if b == "*":
            everyone.add(a)
        elif a == "*":
            everyone.add(b)
        else:
            pairs.add(frozenset((a, b)))
    return pairs, everyone


class Proxy:
    def __init__(self, control_file, maps, nodelay=False, out=None):
        self.control_file = control_file
        self.maps = maps
        self.nodelay = nodelay  # TCP_NODELAY on both legs of each pipe
        self.out = out if out is not None else sys.stdout  # gets "ready"
        # One lock guards the rules and the set of open pipes, so a connection
        # is either refused under the rules in force or registered before the
        # next rule change looks for pipes to cut (no window where a freshly
        # accepted pipe of a cut pair survives).
        self.lock = threading.Lock()
        self.pairs, self.everyone = set(), set()
        self.pipes = set()
        self.stopping = threading.Event()
        self.listeners = []
        self.last_text = None

    # ---- rules ---------------------------------------------------------

    def is_cut(self, src, dst):
        """True when traffic between src and dst is cut (caller holds lock)."""
        if src == dst:
            # A node talking to itself is no link between two nodes.
            return False
        if src in self.everyone or dst in self.everyone:
            return True
        return frozenset((src, dst)) in self.pairs

    def read_control(self):
        try:
            with open(self.control_file, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
        except OSError as e:
            # A transient error (e.g. mid-rename) must not lift existing cuts.
            log("cannot read %s: %s (keeping previous rules)" % (self.control_file, e))
            return self.last_text if self.last_text is not None else ""

    def reload(self):
        """Re-read the control file; close open pipes that are now cut."""
        text = self.read_control()
        if text == self.last_text:
            return
        # A writer that rewrites the file in place (truncate, then write) can
        # be caught halfway, which would lift cuts for one poll: act only on
        # content that reads the same twice, 10 ms apart.
        time.sleep(0.01)
        if self.read_control() != text:
            return
        self.last_text = text
        pairs, everyone = parse_rules(text)
        with self.lock:
            self.pairs, self.everyone = pairs, everyone
            doomed = [p for p in self.pipes if self.is_cut(p.src, p.dst)]
        for p in doomed:
            p.close()
        desc = sorted("%s-%s" % tuple(sorted(pr)) for pr in pairs) + sorted("%s-*" % ip for ip in everyone)
        log("rules: %s; closed %d open connection(s)" % (", ".join(desc) or "(none)", len(doomed)))

    # ---- connections ---------------------------------------------------

    def serve(self, lsock, ip, target_port):
        while not self.stopping.is_set():
            try:
                conn, peer = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                time.sleep(0.01)  # e.g. EMFILE: back off, don't spin
                continue
            src = peer[0]
            with self.lock:
                refused = self.is_cut(src, ip)
                if not refused:
                    pipe = Pipe(self, conn, src, ip)
                    self.pipes.add(pipe)
            if refused:
                if VERBOSE:
                    log("refused %s -> %s:%d (cut)" % (src, ip, lsock.getsockname()[1]))
                abort(conn)
                continue
            threading.Thread(target=pipe.run, args=(target_port,), daemon=True).start()

    def run(self):
        for ip, listen_port, target_port in self.maps:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, listen_port))
            s.listen(128)
            # A timeout lets accept() notice shutdown without relying on
            # close() waking a blocked accept (it does not, portably).
            s.settimeout(0.2)
            self.listeners.append((s, ip, target_port))
        self.reload()  # the rules in force before the first connection
        for s, ip, target_port in self.listeners:
            threading.Thread(target=self.serve, args=(s, ip, target_port), daemon=True).start()
        self.out.write("ready\n")
        self.out.flush()
        log("forwarding %s" % ", ".join("%s:%d->%d" % m for m in self.maps))
        parent = os.getppid()
        while not self.stopping.wait(POLL_S):
            self.reload()
            if EXIT_WITH_PARENT and os.getppid() != parent:
                log("parent process gone; exiting")
                break
        for s, _, _ in self.listeners:
            s.close()
        with self.lock:
            pipes = list(self.pipes)
        for p in pipes:
            p.close()


def abort(sock):
    """Close with RST (SO_LINGER 0): a broken link, and no TIME_WAIT."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Pipe:
    """One proxied connection: downstream (accepted) <-> upstream (target).

    close() only shuts the sockets down (which wakes the pump threads blocked
    in recv); the file descriptors are released by whichever thread finishes
    last, so no thread ever reads from a descriptor number already reused by
    a newer connection.
    """

    def __init__(self, proxy, down, src, dst):
        self.proxy = proxy
        self.down = down
        self.up = None
        self.src, self.dst = src, dst
        self.lock = threading.Lock()
        self.closed = False
        self.users = 1  # threads still using the sockets (the connect thread)

    def run(self, target_port):
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.up = up
        try:
            # Keep the source IP on the forwarded leg too, so the node sees the
            # same peer address as without the proxy.
            try:
                up.bind((self.src, 0))
            except OSError:
                pass
            up.settimeout(2.0)
            up.connect((self.dst, target_port))
            up.settimeout(None)
            if self.proxy.nodelay:
                for sock in (self.down, up):
                    try:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except OSError:
                        pass  # cut meanwhile: handled below
        except OSError as e:
            if VERBOSE:
                log("%s -> %s:%d failed: %s" % (self.src, self.dst, target_port, e))
            self.close()
            self.release()
            return
        if VERBOSE:
            log("open %s -> %s:%d" % (self.src, self.dst, target_port))
        with self.lock:
            if self.closed:
                # Cut while connecting: close() could not shut `up` down yet.
                shut(up)
            self.users += 2
        for a, b in ((self.down, up), (up, self.down)):
            threading.Thread(target=self.pump, args=(a, b), daemon=True).start()
        self.release()

    def pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
            # EOF one way: pass the half-close on, keep the other way open.
            b.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()  # reset or cut: the whole connection goes
        self.release()

    def release(self):
        with self.lock:
            self.users -= 1
            last = self.users == 0
        if last:
            abort(self.down)
            if self.up is not None:
                abort(self.up)
            with self.proxy.lock:
                self.proxy.pipes.discard(self)

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            shut(self.down)
            if self.up is not None:
                shut(self.up)


def shut(sock):
    """Shut a socket down both ways; set to reset on its final close."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    try:
        maps = [parse_map(m) for m in argv[2:]]
    except ValueError as e:
        sys.stderr.write("busproxy: %s\n" % e)
        return 2
    proxy = Proxy(argv[1], maps, nodelay=NODELAY)

    def stop(_sig, _frame):
        proxy.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        proxy.run()
    except OSError as e:
        sys.stderr.write("busproxy: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
