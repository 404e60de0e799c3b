#!/usr/bin/env python3
"""Write/read workload and loss checker for the failover chaos runs.

    python3 scripts/chaos/checker.py --nodes IP:PORT[,IP:PORT...] [options]

Runs until SIGTERM/SIGINT (or --duration S), then reads back every key it
ever wrote, prints a report (also to --report FILE, with a JSON twin next to
it) and exits:
    0  no write acknowledged with WAIT >= 1 was lost, every key was read back
    1  at least one WAIT-acknowledged write was lost
    3  none found lost, but some keys could not be read back (unverified)

Workload. KEYS keys "chaos:<run>:<i>" (spread over all slots by their hash)
are split between WRITERS threads, so each key has exactly one writer and its
values 1, 2, 3, ... are issued in order: every value is unique and a larger
value is a later write. A write is SET key value, and when acknowledged,
WAIT 1 WAIT_MS on the same connection (WAIT counts the replicas that have the
connection's last write, so it must follow the SET on that very connection).
The client is a small slot-aware router over redis-py Connections, one
connection per node per thread, no automatic retries: MOVED updates the slot
map and is retried at once (the SET was not applied), ASK goes to the target
once, every other error ends that write and is counted by kind.

Each write ends as one of
    acked+WAIT>=1   SET OK and WAIT reported at least one replica
    acked           SET OK, WAIT reported 0 replicas (or WAIT itself failed)
    refused         a definite error reply (CLUSTERDOWN, READONLY, ...) or a
                    refused connection: not applied
    ambiguous       timeout or connection lost after sending: maybe applied
READERS threads GET random keys from their primaries. A read is
    stale           it returned a value older than (or no value although) a
                    write acknowledged before the read was sent
    never-written   it returned a value that was never sent
    refused-visible it returned a value whose SET got a definite error
At the end every key is read back; an acknowledged write whose value is
greater than the key's final value (missing = 0) is lost (a smaller final
value means the key went back in time; a larger one supersedes it).

Faults. --events FILE holds what run.sh collected: per round a line
"ROUND n=.. kind=.. t_ms=..", then the fault script's "FAULT kind=..
node=IP:PORT t_ms=.. slots=A-B,.." and "RECOVER ... t_ms=..", run.sh's own
"PROMOTED round=.. node=.. t_ms=.." (another node claims the victim's slots)
and "HEALED round=.. t_ms=.." or "TIMEOUT round=.. t_ms=.. reason=...". For
each fault the report gives the time from the fault to the first acknowledged
write to the victim's slots taken by another node (a failover) or, when no
other node took one, to the first acknowledged write to those slots at all;
and the longest stretch without an acknowledged write to those slots. Those
are client-side times: they include the client noticing the new primary (the
slot map is rebuilt at least every second and soon after any error).
"""

import argparse
import array
import bisect
import collections
import json
import os
import random
import signal
import statistics
import sys
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

SLOTS = 16384


def now_ms():
    return int(time.time() * 1000)


def log(msg):
    t = time.time()
    sys.stderr.write("%s.%03d checker %s\n" % (time.strftime("%H:%M:%S", time.localtime(t)), int(t * 1000) % 1000, msg))
    sys.stderr.flush()


def classify(e):
    """An exception -> a short error kind for the report."""
    kinds = (
        (redis.exceptions.MovedError, "MOVED"),
        (redis.exceptions.AskError, "ASK"),
        (redis.exceptions.ClusterDownError, "CLUSTERDOWN"),
        (redis.exceptions.TryAgainError, "TRYAGAIN"),
        (redis.exceptions.MasterDownError, "MASTERDOWN"),
        (redis.exceptions.ReadOnlyError, "READONLY"),
        (redis.exceptions.BusyLoadingError, "LOADING"),
        (redis.exceptions.OutOfMemoryError, "OOM"),
        (redis.exceptions.TimeoutError, "timeout"),
    )
    for cls, kind in kinds:
        if isinstance(e, cls):
            return kind
    if isinstance(e, redis.exceptions.ConnectionError):
        text = str(e)
        if "refused" in text:
            return "conn-refused"
        if "reset" in text:
            return "conn-reset"
        if "closed" in text:
            return "conn-closed"
        if "Timeout" in text or "timed out" in text:
            return "timeout"  # connect timeout (a paused node's full backlog)
        return "conn-other"
    if isinstance(e, redis.exceptions.ResponseError):
        word = str(e).split(" ", 1)[0]
        # Redis error codes are upper-case words (NOREPLICAS, CROSSSLOT, ...).
        return word if word.isupper() else "ERR"
    return type(e).__name__


def definite(kind):
    """True when an error kind proves the command was not applied."""
    return kind not in ("timeout", "conn-reset", "conn-closed", "conn-other")


class Topology:
    """Slot -> primary address map shared by all threads.

    Patched at once by MOVED replies; rebuilt by a background thread every
    PERIOD_S and soon after any thread reports trouble (a connection error,
    CLUSTERDOWN, ...), so workload threads never wait for it. A rebuild asks
    every known node for CLUSTER NODES and gives each slot to the primary with
    the highest config epoch claiming it, as Redis Cluster itself decides: a
    partitioned old primary still claims its slots, with a lower epoch."""

    PERIOD_S = 1.0
    MIN_GAP_S = 0.1

    def __init__(self, seeds):
        self.owner = [None] * SLOTS
        self.known = list(seeds)
        self.wanted = threading.Event()

    def get(self, slot):
        return self.owner[slot] or random.choice(self.known)

    def moved(self, slot, addr):
        self.owner[slot] = addr
        if addr not in self.known:
            self.known = self.known + [addr]

    def trouble(self):
        self.wanted.set()

    def views(self):
        """CLUSTER NODES of every node that answers within 0.25 s, as texts.

        Asked in parallel, so a paused node costs 0.25 s once, not per node."""
        out = []

        def ask(addr):
            host, port = addr.rsplit(":", 1)
            conn = redis.Connection(host=host, port=int(port), socket_timeout=0.25,
                                    socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0))
            try:
                conn.send_command("CLUSTER", "NODES")
                reply = conn.read_response()
                out.append(reply.decode() if isinstance(reply, bytes) else reply)
            except redis.exceptions.RedisError:
                pass
            finally:
                conn.disconnect()

        threads = [threading.Thread(target=ask, args=(a,), daemon=True) for a in list(self.known)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2)
        return list(out)

    def refresh(self):
        best_epoch = [-1] * SLOTS
        owner = [None] * SLOTS
        known = list(self.known)
        for text in self.views():
            for line in text.splitlines():
                f = line.split()
                if len(f) < 8:
                    continue
                addr = f[1].split("@", 1)[0]
                if addr not in known and not addr.startswith(":"):
                    known.append(addr)
                if "master" not in f[2] or "fail" in f[2] or "noaddr" in f[2]:
                    continue
                epoch = int(f[6])
                for r in f[8:]:
                    if r.startswith("["):
                        continue  # importing/migrating marker, not ownership
                    lo, _, hi = r.partition("-")
                    for slot in range(int(lo), int(hi or lo) + 1):
                        if epoch > best_epoch[slot]:
                            best_epoch[slot], owner[slot] = epoch, addr
        self.known = known
        if any(owner):
            # Keep what we had for slots nobody claims now (all owners down).
            old = self.owner
            self.owner = [o or old[i] for i, o in enumerate(owner)]
            return True
        return False

    def loop(self, stop):
        while not stop.is_set():
            self.wanted.wait(self.PERIOD_S)
            self.wanted.clear()
            if stop.is_set():
                return
            self.refresh()
            stop.wait(self.MIN_GAP_S)


class Client:
    """One thread's connections (one per node) and its routing loop."""

    def __init__(self, topo, timeout_s, stats):
        self.topo = topo
        self.timeout_s = timeout_s
        self.stats = stats
        self.conns = {}

    def conn(self, addr):
        c = self.conns.get(addr)
        if c is None:
            host, port = addr.rsplit(":", 1)
            # retry=0: redis-py would otherwise silently resend after a
            # timeout, hiding exactly the errors this tool counts.
            c = redis.Connection(host=host, port=int(port), socket_timeout=self.timeout_s,
                                 socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
            self.conns[addr] = c
        return c

    def drop(self, addr):
        # A timed-out connection may still deliver the late reply; reusing it
        # would pair that reply with the next command. Always reconnect.
        c = self.conns.pop(addr, None)
        if c is not None:
            c.disconnect()

    def call(self, op, slot, *args):
        """Route a one-key command; returns (reply, addr) or raises Failure.

        MOVED/ASK are followed (counted under op as MOVED/ASK); any other error
        is counted and raised as Failure(kind, addr)."""
        addr = self.topo.get(slot)
        asking = False
        for _ in range(5):
            c = self.conn(addr)
            try:
                if asking:
                    c.send_packed_command(c.pack_commands([("ASKING",), args]))
                    c.read_response()
                else:
                    c.send_command(*args)
                return c.read_response(), addr
            except redis.exceptions.RedisError as e:
                kind = classify(e)
                self.stats.count(op, kind)
                if kind == "MOVED":
                    addr = "%s:%d" % (e.host, e.port)
                    self.topo.moved(slot, addr)
                    asking = False
                    continue
                if kind == "ASK":
                    addr, asking = "%s:%d" % (e.host, e.port), True
                    continue
                if not isinstance(e, redis.exceptions.ResponseError):
                    self.drop(addr)
                self.topo.trouble()
                raise Failure(kind, addr) from e
        self.stats.count(op, "too-many-redirects")
        raise Failure("too-many-redirects", addr)


class Failure(Exception):
    def __init__(self, kind, addr):
        super().__init__(kind)
        self.kind, self.addr = kind, addr


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.errors = collections.Counter()  # (op, kind) -> n
        self.totals = collections.Counter()  # outcome -> n

    def count(self, op, kind):
        with self.lock:
            self.errors[(op, kind)] += 1

    def outcome(self, what):
        with self.lock:
            self.totals[what] += 1


class AckLog:
    """Every acknowledged write of one writer thread, in compact arrays
    (a long run holds millions): ack time, slot, node, key, value, WAIT."""

    def __init__(self):
        self.t = array.array("q")
        self.slot = array.array("H")
        self.node = array.array("h")
        self.key = array.array("i")
        self.value = array.array("i")
        self.waited = array.array("b")  # replicas WAIT reported, -1 = WAIT failed

    def add(self, t, slot, node, key, value, waited):
        self.t.append(t)
        self.slot.append(slot)
        self.node.append(node)
        self.key.append(key)
        self.value.append(value)
        self.waited.append(waited)


class Checker:
    def __init__(self, args):
        self.args = args
        self.run_id = "%x" % now_ms()
        self.keys = ["chaos:%s:%d" % (self.run_id, i) for i in range(args.keys)]
        self.key_slots = [key_slot(k.encode()) for k in self.keys]
        # Per key, shared by its writer and the readers. Single assignments of
        # ints are atomic under the GIL, which is all the readers need.
        self.issued = [0] * args.keys      # highest value sent
        self.last_acked = [0] * args.keys  # highest value acknowledged (SET OK)
        self.refused = collections.defaultdict(set)  # key -> values refused for sure
        self.nodes = {}  # addr -> small int for the ack log
        self.nodes_lock = threading.Lock()
        self.stats = Stats()
        self.topo = Topology(args.nodes)
        self.stop = threading.Event()
        self.logs = []
        self.read_anomalies = collections.Counter()
        self.read_examples = []
        self.reads_ok = 0
        self.started_ms = now_ms()

    def node_index(self, addr):
        with self.nodes_lock:
            return self.nodes.setdefault(addr, len(self.nodes))

    # ---- workload ------------------------------------------------------

    def writer(self, wid):
        mine = list(range(wid, self.args.keys, self.args.writers))
        acks = AckLog()
        self.logs.append(acks)
        client = Client(self.topo, self.args.op_timeout, self.stats)
        period = 1.0 / self.args.rate if self.args.rate > 0 else 0
        while not self.stop.is_set():
            t0 = time.time()
            k = random.choice(mine)
            v = self.issued[k] + 1
            self.issued[k] = v
            slot = self.key_slots[k]
            try:
                reply, addr = client.call("set", slot, "SET", self.keys[k], str(v))
            except Failure as f:
                if definite(f.kind):
                    self.refused[k].add(v)
                    self.stats.outcome("refused")
                else:
                    self.stats.outcome("ambiguous")
                time.sleep(0.05)  # don't spin on a node that is down
                continue
            if reply != b"OK":
                self.stats.count("set", "unexpected-reply")
                self.stats.outcome("ambiguous")
                continue
            t_ack = now_ms()
            self.last_acked[k] = v
            # WAIT on the very connection that took the SET (no routing: it
            # is about that connection's write, not about a key).
            waited = -1
            c = client.conn(addr)
            try:
                c.send_command("WAIT", 1, self.args.wait_ms)
                waited = int(c.read_response(timeout=self.args.wait_ms / 1000.0 + self.args.op_timeout))
            except redis.exceptions.RedisError as e:
                self.stats.count("wait", classify(e))
                if not isinstance(e, redis.exceptions.ResponseError):
                    client.drop(addr)
            acks.add(t_ack, slot, self.node_index(addr), k, v, max(-1, min(waited, 100)))
            self.stats.outcome("acked+wait" if waited >= 1 else "acked")
            if period:
                rest = period - (time.time() - t0)
                if rest > 0:
                    self.stop.wait(rest)

    def reader(self, _rid):
        client = Client(self.topo, self.args.op_timeout, self.stats)
        period = 1.0 / self.args.rate if self.args.rate > 0 else 0
        while not self.stop.is_set():
            t0 = time.time()
            k = random.randrange(self.args.keys)
            floor = self.last_acked[k]  # acknowledged before this read is sent
            try:
                reply, _ = client.call("get", self.key_slots[k], "GET", self.keys[k])
            except Failure:
                time.sleep(0.05)
                continue
            v = 0 if reply is None else int(reply)
            ceiling = self.issued[k]  # sent by the time the reply is in
            what = None
            if v > ceiling:
                what = "never-written"
            elif v and v in self.refused.get(k, ()):
                what = "refused-visible"
            elif v < floor:
                what = "stale"
            with self.stats.lock:  # readers share these counters
                if what:
                    self.read_anomalies[what] += 1
                    if len(self.read_examples) < 10:
                        self.read_examples.append("%s %s: got %s, acked before the read: %d, sent: %d"
                                                  % (what, self.keys[k], reply, floor, ceiling))
                else:
                    self.reads_ok += 1
            if period:
                rest = period - (time.time() - t0)
                if rest > 0:
                    self.stop.wait(rest)

    def progress(self, last):
        t = dict(self.stats.totals)
        t["reads"] = self.reads_ok
        d = {k: t.get(k, 0) - last.get(k, 0) for k in ("acked+wait", "acked", "refused", "ambiguous", "reads")}
        log("last %ds: writes acked+wait %d, acked %d, refused %d, ambiguous %d; consistent reads %d"
            % (self.args.progress, d["acked+wait"], d["acked"], d["refused"], d["ambiguous"], d["reads"]))
        return t

    def run(self):
        if not self.topo.refresh():
            log("no node answers CLUSTER NODES; starting anyway (routing by MOVED)")
        topo_stop = threading.Event()
        threading.Thread(target=self.topo.loop, args=(topo_stop,), daemon=True).start()
        threads = [threading.Thread(target=self.writer, args=(i,), daemon=True) for i in range(self.args.writers)]
        threads += [threading.Thread(target=self.reader, args=(i,), daemon=True) for i in range(self.args.readers)]
        for t in threads:
            t.start()
        log("run %s: %d keys, %d writers, %d readers, WAIT 1 %d" % (
            self.run_id, self.args.keys, self.args.writers, self.args.readers, self.args.wait_ms))
        deadline = time.time() + self.args.duration if self.args.duration else None
        last, ready, next_progress = {}, False, time.time() + self.args.progress
        while not self.stop.wait(0.1):
            if not ready and sum(len(a.t) for a in self.logs) >= self.args.writers:
                ready = True
                if self.args.ready_file:
                    with open(self.args.ready_file, "w") as f:
                        f.write("ready\n")
                log("ready (writes acknowledged)")
            if time.time() >= next_progress:
                last = self.progress(last)
                next_progress += self.args.progress
            if deadline and time.time() >= deadline:
                self.stop.set()
        self.stopped_ms = now_ms()
        # Every operation is bounded by its socket timeout, so this is too.
        for t in threads:
            t.join(self.args.wait_ms / 1000.0 + self.args.op_timeout + 2)
        topo_stop.set()
        self.topo.trouble()
        log("workload stopped; reading back %d keys" % sum(1 for v in self.issued if v))
        return self.readback()

    # ---- end -----------------------------------------------------------

    def readback(self):
        final = {}
        todo = [k for k in range(self.args.keys) if self.issued[k]]
        client = Client(self.topo, self.args.op_timeout, self.stats)
        deadline = time.time() + self.args.readback_timeout
        self.topo.refresh()
        while todo and time.time() < deadline:
            again = []
            # A node that timed out or refused once in a pass is skipped for
            # the rest of it: a hung node would cost op-timeout per key.
            bad = set()
            for k in todo:
                slot = self.key_slots[k]
                if time.time() >= deadline or self.topo.get(slot) in bad:
                    again.append(k)
                    continue
                try:
                    reply, _ = client.call("readback", slot, "GET", self.keys[k])
                    final[k] = 0 if reply is None else int(reply)
                except Failure as f:
                    if not definite(f.kind) or f.kind.startswith("conn-"):
                        bad.add(f.addr)
                    again.append(k)
            todo = again
            if todo:
                log("read-back: %d keys not readable yet" % len(todo))
                time.sleep(0.5)
                self.topo.refresh()
        return final, todo


def parse_events(path):
    """run.sh's events file -> list of fault dicts, in order.

    A "ROUND n=.." line opens a round; the lines after it (FAULT, RECOVER,
    PROMOTED, HEALED, TIMEOUT, in whatever order run.sh learnt them) belong
    to it. Without ROUND lines each FAULT opens its own record."""
    faults = []
    if not path or not os.path.exists(path):
        return faults
    cur = None
    with open(path) as f:
        for line in f:
            word, _, rest = line.strip().partition(" ")
            # reason= is free text and always last
            head, _, reason = rest.partition(" reason=")
            fields = dict(kv.partition("=")[::2] for kv in head.split())
            if word == "ROUND" or (word == "FAULT" and (cur is None or "kind" in cur)):
                cur = {}
                faults.append(cur)
            if cur is None:
                continue
            if word == "FAULT":
                slots = set()
                for r in fields.get("slots", "").split(","):
                    if r and r != "-":
                        lo, _, hi = r.partition("-")
                        slots.update(range(int(lo), int(hi or lo) + 1))
                cur.update(kind=fields.get("kind"), node=fields.get("node"), t_ms=int(fields.get("t_ms", 0)),
                           slots=fields.get("slots", ""), slot_set=slots)
            elif word == "RECOVER":
                cur["recover_ms"] = int(fields.get("t_ms", 0))
            elif word == "PROMOTED":
                cur["promoted_ms"], cur["promoted_node"] = int(fields.get("t_ms", 0)), fields.get("node")
            elif word == "HEALED":
                cur["healed_ms"] = int(fields.get("t_ms", 0))
            elif word == "TIMEOUT":
                cur["timeout"] = reason or "timed out"
    # A round whose fault script never got to its FAULT line has no fault.
    return [f for f in faults if "kind" in f]


def fmt_ms(ms):
    return "-" if ms is None else ("%d ms" % ms if ms < 10000 else "%.1f s" % (ms / 1000.0))


def report(ch, final, unreadable, faults):
    a = ch.args
    # Merge the per-thread ack logs, in ack-time order.
    rows = []
    for acks in ch.logs:
        rows.extend(zip(acks.t, acks.slot, acks.node, acks.key, acks.value, acks.waited))
    rows.sort()
    names = {i: addr for addr, i in ch.nodes.items()}
    unread = set(unreadable)

    # Losses: an acknowledged value above the key's final value.
    lost_wait = lost_plain = 0
    lost_wait_keys, lost_plain_keys = set(), set()
    examples = []
    lost_rows = set()
    for i, (t, slot, node, k, v, waited) in enumerate(rows):
        if k in unread or final.get(k, 0) >= v:
            continue
        lost_rows.add(i)
        if waited >= 1:
            lost_wait += 1
            lost_wait_keys.add(k)
        else:
            lost_plain += 1
            lost_plain_keys.add(k)
        if len(examples) < 10 or (waited >= 1 and len(examples) < 20):
            examples.append("%s value %d (acked %s by %s, WAIT %s) lost: final value %s"
                            % (ch.keys[k], v, time.strftime("%H:%M:%S", time.localtime(t / 1000)) + ".%03d" % (t % 1000),
                               names.get(node), waited if waited >= 0 else "failed", final.get(k) or "missing"))
    corrupt = sum(1 for k, y in final.items() if y > ch.issued[k])
    refused_final = sum(1 for k, y in final.items() if y and y in ch.refused.get(k, ()))

    # Faults: first acknowledged write to the victim's slots after the fault.
    times, promoted_times, outages = [], [], []
    fault_lines = []
    for n, f in enumerate(faults, 1):
        first_any = first_other = None
        on_victim_during = lost_during = 0
        end = f.get("healed_ms") or f.get("recover_ms") or ch.stopped_ms
        # Outage: the longest stretch without an acknowledged write to the
        # victim's slots, from the fault until the first write after healed.
        prev, outage, outage_open = f["t_ms"], 0, True
        start = bisect.bisect_left(rows, (f["t_ms"],))
        for i in range(start, len(rows)):
            t, slot, node, k, v, waited = rows[i]
            if slot not in f["slot_set"]:
                continue
            if outage_open:
                outage, prev = max(outage, t - prev), t
                outage_open = t <= end
            addr = names.get(node)
            if first_any is None:
                first_any = (t, addr)
            if addr == f["node"]:
                if t <= end:
                    on_victim_during += 1
                    lost_during += i in lost_rows
            elif first_other is None:
                first_other = (t, addr)
            # Past the fault window with the answer found (or long past it
            # without one): the rest of the run cannot change the result.
            if t > end and first_any is not None and (first_other is not None or t > end + 60000):
                break
        pick = first_other or first_any
        dt = pick[0] - f["t_ms"] if pick else None
        if dt is not None:
            times.append(dt)
        f["first_write_ms"], f["first_write_node"] = dt, pick[1] if pick else None
        f["failover"] = first_other is not None
        if outage_open:  # no write after the window: open until the run stopped
            outage = max(outage, ch.stopped_ms - prev)
        f["outage_ms"] = outage
        outages.append(outage)
        f["victim_acks_during"], f["victim_acks_during_lost"] = on_victim_during, lost_during
        if f.get("promoted_ms"):
            promoted_times.append(f["promoted_ms"] - f["t_ms"])
        fault_lines.append("  %-2d %-9s %-16s %-12s %-12s %-8s %-8s %-8s %-8s %-25s %s%s" % (
            n, f["kind"], f["node"], f["slots"],
            time.strftime("%H:%M:%S", time.localtime(f["t_ms"] / 1000)) + ".%03d" % (f["t_ms"] % 1000),
            fmt_ms(f["recover_ms"] - f["t_ms"]) if f.get("recover_ms") else "-",
            fmt_ms(f["promoted_ms"] - f["t_ms"]) if f.get("promoted_ms") else "-",
            fmt_ms(f["healed_ms"] - f["t_ms"]) if f.get("healed_ms") else ("TIMEOUT" if "timeout" in f else "-"),
            fmt_ms(outage),
            ("%s by %s" % (fmt_ms(dt), pick[1])) if pick else "none",
            "failover" if f["failover"] else "no failover",
            (", victim acked %d writes from fault to healed (%d of them lost)" % (on_victim_during, lost_during)) if on_victim_during else ""))

    t = ch.stats.totals
    acked_total = t["acked+wait"] + t["acked"]
    out = []
    w = out.append
    w("ringcache failover chaos report, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    w("workload: run %s, %d keys, %d writers, %d readers (rate cap %s/s each), SET + WAIT 1 %d, %.1f s"
      % (ch.run_id, a.keys, a.writers, a.readers, a.rate or "no", a.wait_ms, (ch.stopped_ms - ch.started_ms) / 1000.0))
    w("")
    w("faults (%d):" % len(faults))
    if faults:
        w("  (times from the fault: undone = restarted/resumed/healed; promoted = another node claims the")
        w("   victim's first slot in its own CLUSTER NODES; healed = run.sh saw the cluster healthy; first")
        w("   write = first acknowledged write to the victim's slots, on another node if one took any;")
        w("   outage = longest time without an acknowledged write to those slots, fault to healed)")
        w("  #  kind      victim           slots        at           undone   promoted healed   outage   first write")
        out.extend(fault_lines)
        for n, f in enumerate(faults, 1):
            if "timeout" in f:
                w("  round of fault %d timed out: %s" % (n, f["timeout"]))

        def spread(xs):
            return "min %s, median %s, max %s (n=%d)" % (
                fmt_ms(min(xs)), fmt_ms(int(statistics.median(xs))), fmt_ms(max(xs)), len(xs))
        if times:
            w("  fault -> first write on its slots (new primary if failover): " + spread(times))
        if promoted_times:
            w("  fault -> another node claims its slots (server side):        " + spread(promoted_times))
        if outages:
            w("  longest write outage on the victim's slots:                  " + spread(outages))
    w("")
    w("writes:")
    w("  sent                                  %8d" % (acked_total + t["refused"] + t["ambiguous"]))
    w("  acknowledged (SET OK)                 %8d" % acked_total)
    w("    with WAIT >= 1                      %8d" % t["acked+wait"])
    w("    without WAIT confirmation           %8d" % t["acked"])
    w("  refused (definite error, not applied) %8d" % t["refused"])
    w("  ambiguous (timeout / connection lost) %8d" % t["ambiguous"])
    w("")
    w("final read-back: %d keys written, %d read back, %d unreadable" % (
        sum(1 for v in ch.issued if v), len(final), len(unreadable)))
    w("  WAIT-acknowledged writes lost         %8d  (in %d keys)" % (lost_wait, len(lost_wait_keys)))
    w("  other acknowledged writes lost        %8d  (in %d keys)" % (lost_plain, len(lost_plain_keys)))
    w("  keys holding a never-written value    %8d" % corrupt)
    w("  keys holding a refused write          %8d" % refused_final)
    for e in examples:
        w("    " + e)
    w("")
    w("reads during the run: %d consistent, %d stale, %d never-written, %d refused-visible" % (
        ch.reads_ok, ch.read_anomalies["stale"], ch.read_anomalies["never-written"], ch.read_anomalies["refused-visible"]))
    for e in ch.read_examples:
        w("    " + e)
    w("")
    w("errors by kind (per command; MOVED/ASK were followed):")
    ops = ("set", "wait", "get", "readback")
    kinds = sorted({k for (_, k) in ch.stats.errors})
    if kinds:
        w("  %-20s" % "" + "".join("%10s" % o for o in ops))
        for kind in kinds:
            w("  %-20s" % kind + "".join("%10d" % ch.stats.errors[(o, kind)] for o in ops))
    else:
        w("  none")
    w("")
    if lost_wait:
        verdict, code = "FAIL: %d WAIT-acknowledged writes lost" % lost_wait, 1
    elif unreadable:
        verdict, code = "UNVERIFIED: %d keys could not be read back (no WAIT-acknowledged loss among the rest)" % len(unreadable), 3
    else:
        verdict, code = "PASS: no WAIT-acknowledged write lost", 0
    w("verdict: " + verdict)
    text = "\n".join(out) + "\n"

    summary = {
        "run": ch.run_id, "keys": a.keys, "outcomes": dict(t), "lost_wait": lost_wait, "lost_plain": lost_plain,
        "unreadable": len(unreadable), "corrupt": corrupt, "refused_final": refused_final,
        "reads_ok": ch.reads_ok, "read_anomalies": dict(ch.read_anomalies),
        "errors": {"%s %s" % k: n for k, n in ch.stats.errors.items()},
        "faults": [{k: v for k, v in f.items() if k != "slot_set"} for f in faults],
        "verdict": verdict, "exit": code,
    }
    return text, summary, code


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--nodes", required=True, help="comma-separated IP:PORT seed nodes")
    p.add_argument("--keys", type=int, default=2000, help="keys written (and read back)")
    p.add_argument("--writers", type=int, default=16, help="writer threads (each owns KEYS/WRITERS keys)")
    p.add_argument("--readers", type=int, default=4, help="reader threads")
    p.add_argument("--rate", type=float, default=50, help="ops/s cap per thread (0 = none)")
    p.add_argument("--wait-ms", type=int, default=500, help="WAIT 1 <this> after each SET")
    p.add_argument("--op-timeout", type=float, default=0.5,
                   help="reply timeout, s (WAIT: wait-ms + this); short, so a hung primary is given up on soon")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (0 = at SIGTERM)")
    p.add_argument("--events", help="fault events file written by run.sh")
    p.add_argument("--report", help="write the report here too (and a .json next to it)")
    p.add_argument("--ready-file", help="touched once writes are acknowledged")
    p.add_argument("--readback-timeout", type=float, default=30, help="s to keep retrying the final read-back")
    p.add_argument("--progress", type=int, default=5, help="progress line every N s on stderr")
    args = p.parse_args()
    args.nodes = [n for n in args.nodes.split(",") if n]
    if args.writers < 1 or args.keys < args.writers:
        p.error("need at least 1 writer and at least as many keys as writers")

    ch = Checker(args)

    def stop(_sig, _frame):
        ch.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    final, unreadable = ch.run()
    text, summary, code = report(ch, final, unreadable, parse_events(args.events))
    sys.stdout.write(text)
    sys.stdout.flush()
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.report)[0] + ".json", "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
