#!/usr/bin/env python3
"""Client-side caching invalidation latency (CLIENT TRACKING), raw sockets, stdlib only.

    bench-tracking.py run --port PORT [--mode default|bcast] [-n N] [--label NAME] [--out FILE]
    bench-tracking.py report FILE...

`run`: client A says HELLO 3 and CLIENT TRACKING ON (mode bcast: ON BCAST PREFIX
<key>); client B is a plain RESP2 writer. For i in 1..=N: A sends GET <key> and
reads its reply (so the key is tracked); B sends SET <key> i; then both sockets
are waited on with poll() until B's +OK and A's `>2 invalidate [<key>]` push have
both arrived (either may come first), at most 1 s. Each frame is stamped with
time.monotonic_ns() taken right after the poll() that found its bytes readable.
Per iteration it records
    push - reply   A's push time minus B's reply time (negative: the push came first)
    send -> push   A's push time minus the time B's SET was sent
    send -> reply  B's round trip (per-run summary line only)
Two frames readable at the same wake-up get the same stamp, so when waking this
process takes longer than the gap between them (tens of microseconds in a VM),
push - reply reads 0. Both measures are therefore taken a second time from the
kernel's receive timestamps (SO_TIMESTAMPNS: when the last segment a recvmsg()
read arrived, CLOCK_REALTIME; the send time from time.time_ns()), which do not
depend on when this process ran.
Warm-up iterations (--warmup, 200) run first and are not recorded. A push that
has not arrived 1 s after the SET is a MISSING invalidation, printed to stderr
at once and counted; a push that turns up later, or any other push, is counted
as stray. The run gives up after --max-missing missing ones. With --server-pid
it also reports the CPU (in cores over the run) of the server, of this client
and of everything else on the machine (from /proc), to spot a run that competed
with other work. Prints a summary line; --out writes the samples as JSON.

`report`: pools the samples of the JSON files per (mode, server) and prints
p50/p90/p99/p99.9/max of the four measures (poll and kernel stamps), servers
side by side, in microseconds.
Exit status 1 if any run had a missing invalidation or failed.
"""

import argparse
import json
import os
import select
import socket
import struct
import sys
import time


# ---------------------------------------------------------------- RESP3 parsing

class Incomplete(Exception):
    pass


class Push(list):
    pass


class Map(list):  # list of (key, value) pairs
    pass


class Err(str):
    pass


def _line(buf, pos):
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    return bytes(buf[pos:end]), end + 2


def parse(buf, pos=0):
    """One complete RESP2/RESP3 frame at buf[pos:] -> (value, next pos); Incomplete if cut short."""
    if pos >= len(buf):
        raise Incomplete
    t = buf[pos:pos + 1]
    line, pos = _line(buf, pos + 1)
    if t == b"+":
        return line.decode(), pos
    if t == b"-":
        return Err(line.decode()), pos
    if t == b":":
        return int(line), pos
    if t == b",":
        return float(line), pos
    if t == b"(":
        return int(line), pos
    if t == b"#":
        return line == b"t", pos
    if t == b"_":
        return None, pos
    if t in (b"$", b"!", b"="):
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise Incomplete
        data = bytes(buf[pos:pos + n])
        return (Err(data.decode()) if t == b"!" else data), pos + n + 2
    if t in (b"*", b"~", b">"):
        n = int(line)
        if n < 0:
            return None, pos
        out = Push() if t == b">" else []
        for _ in range(n):
            v, pos = parse(buf, pos)
            out.append(v)
        return out, pos
    if t in (b"%", b"|"):
        n = int(line)
        out = Map()
        for _ in range(n):
            k, pos = parse(buf, pos)
            v, pos = parse(buf, pos)
            out.append((k, v))
        if t == b"|":  # attribute: applies to the next frame, skip it
            return parse(buf, pos)
        return out, pos
    raise ValueError("bad RESP type byte %r at %d" % (t, pos))


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python 3.11 lacks the name


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The kernel's receive time (CLOCK_REALTIME) of the last segment each recvmsg read.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.kstamp = None

    def fileno(self):
        return self.sock.fileno()

    def send(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))  # a few dozen bytes: never blocks

    def fill(self):
        """Reads what is available (socket readable); False on EOF."""
        try:
            data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return True
        if not data:
            return False
        self.kstamp = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack("qq", cdata[:16])
                self.kstamp = sec * 1_000_000_000 + nsec
        self.buf += data
        return True

    def frames(self):
        """Complete frames in the buffer, removed from it."""
        out, pos = [], 0
        while True:
            try:
                v, pos2 = parse(self.buf, pos)
            except Incomplete:
                break
            out.append(v)
            pos = pos2
        if pos:
            del self.buf[:pos]
        return out

    def wait_frame(self, timeout=10.0):
        """Blocks for the next frame (pushes included)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                v, pos = parse(self.buf, 0)
                del self.buf[:pos]
                return v
            except Incomplete:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply within %.0f s" % timeout)
            r, _, _ = select.select([self.sock], [], [], left)
            if r and not self.fill():
                raise ConnectionError("server closed the connection")


def is_invalidation(frame, key):
    """True if frame is an `invalidate` push naming key (or a null = flush-everything one)."""
    if not isinstance(frame, Push) or len(frame) < 2 or frame[0] not in (b"invalidate", "invalidate"):
        return False
    keys = frame[1]
    return keys is None or (isinstance(keys, list) and key in keys)


# ---------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy_ticks():
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals[:8]) - idle  # user nice system idle iowait irq softirq steal


def proc_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime stime (all threads)


def cpu_snapshot(server_pid):
    t = os.times()
    return (time.monotonic(), machine_busy_ticks(),
            proc_ticks(server_pid) if server_pid else 0,
            (t.user + t.system) * CLK_TCK)


def cpu_usage(a, b, server_pid):
    wall = b[0] - a[0]
    if wall <= 0:
        return {}
    busy, server, client = (b[1] - a[1]), (b[2] - a[2]), (b[3] - a[3])
    out = {"client_cpu": client / CLK_TCK / wall}
    if server_pid:
        out["server_cpu"] = server / CLK_TCK / wall
        out["other_cpu"] = (busy - server - client) / CLK_TCK / wall  # tick-sampled: can dip below 0
    return out


# ---------------------------------------------------------------- the benchmark

def check_ok(frame, what):
    if frame != "OK":
        raise RuntimeError("%s: expected +OK, got %r" % (what, frame))


def run(args):
    key = args.key.encode()
    a = Conn(args.host, args.port)
    b = Conn(args.host, args.port)

    b.send("DEL", key)
    b.wait_frame()
    a.send("HELLO", "3")
    hello = a.wait_frame()
    if not isinstance(hello, Map) or dict((k if isinstance(k, str) else k.decode(), v)
                                         for k, v in hello).get("proto") != 3:
        raise RuntimeError("HELLO 3 did not switch to RESP3: %r" % (hello,))
    tracking = ["CLIENT", "TRACKING", "ON"]
    if args.mode == "bcast":
        tracking += ["BCAST", "PREFIX", key]
    a.send(*tracking)
    check_ok(a.wait_frame(), " ".join(str(x) for x in tracking))

    poller = select.poll()
    poller.register(a.fileno(), select.POLLIN)
    poller.register(b.fileno(), select.POLLIN)
    afd, bfd = a.fileno(), b.fileno()

    push_minus_reply, send_to_push, send_to_reply = [], [], []
    kernel_push_minus_reply, kernel_send_to_push = [], []
    missing = stray = 0
    missing_at = []
    snap0 = None
    total = args.warmup + args.n
    for it in range(1, total + 1):
        if it == args.warmup + 1:
            snap0 = cpu_snapshot(args.server_pid)
        i = it - args.warmup  # the recorded index, 1..=N; <= 0 while warming up

        # A reads the key (tracking it, in default mode). Pushes before the reply are
        # late or unexpected invalidations.
        a.send("GET", key)
        while True:
            f = a.wait_frame()
            if isinstance(f, Push):
                stray += 1
                continue
            if isinstance(f, Err):
                raise RuntimeError("GET: %s" % f)
            break

        value = str(it).encode()
        t_send = time.monotonic_ns()
        t_send_real = time.time_ns()  # the kernel's stamps are CLOCK_REALTIME
        b.send("SET", key, value)
        t_reply = t_push = k_reply = k_push = None
        deadline = t_send + int(args.timeout * 1e9)
        while t_reply is None or t_push is None:
            now = time.monotonic_ns()
            if now >= deadline:
                break
            events = poller.poll((deadline - now) / 1e6)
            t = time.monotonic_ns()
            for fd, ev in events:
                c = a if fd == afd else b
                if not c.fill():
                    raise ConnectionError("server closed client %s" % ("A" if c is a else "B"))
                for f in c.frames():
                    if c is b:
                        check_ok(f, "SET")
                        t_reply, k_reply = t, c.kstamp
                    elif is_invalidation(f, key) and t_push is None:
                        t_push, k_push = t, c.kstamp
                    else:
                        stray += 1  # a reply on A, or a second push
        if t_reply is None:
            # B's own write has not been answered in 1 s: nothing is measurable any more.
            raise RuntimeError("SET %s %s: no reply within %g s" % (args.key, value.decode(), args.timeout))
        if t_push is None:
            missing += 1
            if i > 0:
                missing_at.append(i)
            print("!!! MISSING invalidation: %s %s, mode %s, iteration %d (SET %s %s): no push within %g s"
                  % (args.label, args.host + ":" + str(args.port), args.mode, i, args.key,
                     value.decode(), args.timeout), file=sys.stderr, flush=True)
            if missing >= args.max_missing:
                print("!!! %d missing invalidations: giving up this run" % missing, file=sys.stderr, flush=True)
                break
            continue
        if i > 0:
            push_minus_reply.append(t_push - t_reply)
            send_to_push.append(t_push - t_send)
            send_to_reply.append(t_reply - t_send)
            if k_push is not None and k_reply is not None:
                kernel_push_minus_reply.append(k_push - k_reply)
            if k_push is not None:
                kernel_send_to_push.append(k_push - t_send_real)

    snap1 = cpu_snapshot(args.server_pid)
    result = {
        "label": args.label, "mode": args.mode, "port": args.port, "n": args.n,
        "warmup": args.warmup, "done": len(push_minus_reply) + len(missing_at),
        "missing": missing, "missing_at": missing_at[:100], "stray": stray,
        "push_minus_reply_ns": push_minus_reply, "send_to_push_ns": send_to_push,
        "send_to_reply_ns": send_to_reply, "kernel_push_minus_reply_ns": kernel_push_minus_reply,
        "kernel_send_to_push_ns": kernel_send_to_push,
    }
    if snap0:
        result.update(cpu_usage(snap0, snap1, args.server_pid))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f)
    print(summary_line(result))
    return 1 if missing else 0


# ---------------------------------------------------------------- statistics

PCTS = (50, 90, 99, 99.9)


def pct(sorted_vals, p):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, -(-len(sorted_vals) * p // 100) - 1))
    return sorted_vals[int(k)]


def stats_us(vals):
    s = sorted(vals)
    return [pct(s, p) / 1000 for p in PCTS] + [(s[-1] / 1000) if s else float("nan")]


def summary_line(r):
    fmt = lambda v: "/".join("%.1f" % x for x in stats_us(v))
    cpu = ""
    if "server_cpu" in r:
        cpu = " cpu server/client/other %.2f/%.2f/%.2f" % (r["server_cpu"], r["client_cpu"], r["other_cpu"])
    return ("%s %s: us p50/p90/p99/p99.9/max: push-reply %s; send->push %s; send->reply %s; "
            "kernel stamps: push-reply %s, send->push %s; missing %d stray %d%s"
            % (r["label"], r["mode"], fmt(r["push_minus_reply_ns"]), fmt(r["send_to_push_ns"]),
               fmt(r["send_to_reply_ns"]), fmt(r["kernel_push_minus_reply_ns"]),
               fmt(r["kernel_send_to_push_ns"]),
               r["missing"], r["stray"], cpu))


def report(files):
    runs = {}
    for path in files:
        with open(path) as f:
            r = json.load(f)
        runs.setdefault((r["mode"], r["label"]), []).append(r)
    modes = [m for m in ("default", "bcast") if any(k[0] == m for k in runs)]
    servers = sorted({k[1] for k in runs}, key=lambda s: (s != "redis", s))

    def pooled(mode, server, field):
        return [v for r in runs.get((mode, server), []) for v in r.get(field, [])]

    cols = ["p50", "p90", "p99", "p99.9", "max"]
    status = 0
    for field, title in (("push_minus_reply_ns", "invalidation push time - SET reply time (B); negative: push first"),
                         ("send_to_push_ns", "SET sent (B) -> invalidation push received (A)"),
                         ("kernel_push_minus_reply_ns", "push - reply again, from the kernel's receive timestamps"),
                         ("kernel_send_to_push_ns", "SET sent -> push again, push time from the kernel's receive timestamp")):
        print("\n%s; microseconds, all rounds pooled" % title)
        hdr = "%-8s" % "mode"
        for s in servers:
            hdr += " |" + "".join("%9s" % ("%s" % c) for c in cols) + "  %-9s" % s[:9]
        print(hdr)
        print("-" * len(hdr))
        for m in modes:
            line = "%-8s" % m
            for s in servers:
                st = stats_us(pooled(m, s, field))
                line += " |" + "".join("%9.1f" % x for x in st) + "  %-9s" % ""
            print(line)

    print("\nsamples, missing invalidations, stray pushes, CPU in cores (median over rounds: server/client/other)")
    for m in modes:
        for s in servers:
            rs = runs.get((m, s), [])
            n = len(pooled(m, s, "send_to_push_ns"))
            missing = sum(r["missing"] for r in rs)
            stray = sum(r["stray"] for r in rs)
            cpu = "n/a"
            if rs and all("server_cpu" in r for r in rs):
                med = lambda k: sorted(r[k] for r in rs)[len(rs) // 2]
                cpu = "%.2f/%.2f/%.2f" % (med("server_cpu"), med("client_cpu"), med("other_cpu"))
            p50s = " ".join("%.1f" % (pct(sorted(r["send_to_push_ns"]), 50) / 1000) for r in rs)
            print("%-8s %-10s runs %d samples %6d missing %d stray %d cpu %s  send->push p50 per run: %s"
                  % (m, s, len(rs), n, missing, stray, cpu, p50s))
            if missing:
                status = 1
                print("!!! %s, mode %s: %d MISSING invalidations (iterations %s)"
                      % (s, m, missing, ", ".join(str(x) for r in rs for x in r["missing_at"][:10])))
    worst = max([r.get("other_cpu", 0) for rs in runs.values() for r in rs] or [0])
    if worst > 0.2:
        print("note: other processes used up to %.2f cores during a run; those figures are unreliable" % worst)
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--mode", choices=("default", "bcast"), default="default")
    r.add_argument("-n", type=int, default=10000, help="recorded iterations (10000)")
    r.add_argument("--warmup", type=int, default=200, help="unrecorded iterations first (200)")
    r.add_argument("--key", default="k")
    r.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a push (1)")
    r.add_argument("--max-missing", type=int, default=20, help="give up the run after this many (20)")
    r.add_argument("--label", default="server")
    r.add_argument("--server-pid", type=int, default=0)
    r.add_argument("--out")
    p = sub.add_parser("report")
    p.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.cmd == "run":
        try:
            return run(args)
        except (RuntimeError, ConnectionError, TimeoutError, OSError) as e:
            print("!!! %s %s run failed: %s" % (args.label, args.mode, e), file=sys.stderr)
            return 2
    return report(args.files)


if __name__ == "__main__":
    sys.exit(main())
