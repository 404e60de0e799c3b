#!/usr/bin/env python3
"""Write/read workload and loss checker for the failover chaos runs.

    python3 scripts/chaos/checker.py --nodes IP:PORT[,IP:PORT...] [options]

Runs until SIGTERM/SIGINT (or --duration S), then reads back every key it
ever wrote, prints a report (also to --report FILE, with a JSON twin next to
it) and exits:
    0  no write acknowledged with WAIT >= 1 was lost, every key was read back
    1  at least one WAIT-acknowledged write was lost (at the final read-back,
       or lost then overwritten: class (a) below); with --scripted also
       when a script's writes were found torn apart or applied twice
    3  none found lost, but some keys could not be read back (unverified)

Workload. KEYS keys "chaos:<run>:<i>" (spread over all slots by their hash)
are split between WRITERS threads, so each key has exactly one writer and its
values 1, 2, 3, ... are issued in order: every value is unique and a larger
value is a later write. A write is SET key value GET (the reply is the value
it replaced), and when acknowledged, WAIT 1 WAIT_MS on the same connection
(WAIT counts the replicas that have the connection's last write, so it must
follow the SET on that very connection). The client is a small slot-aware
router over redis-py Connections, one connection per node per thread, no
automatic retries: MOVED updates the slot map and is retried at once (the SET
was not applied), ASK goes to the target once, every other error ends that
write and is counted by kind; the thread then waits (at most 0.3 s) for a
slot map rebuilt after the error and goes on with its next write. The slot
map is rebuilt by a background thread, like a cluster client's topology
refresh: every second, every 0.1 s while any thread had an error in the last
second, and at once (at most every 50 ms) when a thread waits for it. A
rebuild asks every node for CLUSTER NODES in parallel but is over as soon as
a majority answered (plus 25 ms for the rest), so a paused node never holds
it up; each slot goes to the primary claiming it with the highest config
epoch, never to a lower one than an earlier rebuild saw. Every acknowledged write is logged with its
node, send and ack times, the value it replaced and its WAIT result; every
ambiguous one with its node; every read with the node that served it.

Each write ends as one of
    acked+WAIT>=1   SET OK and WAIT reported at least one replica
    acked           SET OK, WAIT reported 0 replicas (or WAIT itself failed)
    refused         a definite error reply (CLUSTERDOWN, READONLY, ...) or a
                    refused connection: not applied
    ambiguous       timeout or connection lost after sending, or ringcache's
                    synchronous-write NOREPLICAS (applied, replicas silent):
                    maybe applied
READERS threads GET random keys from their primaries. A read is
    stale           it returned a value older than (or no value although) a
                    write acknowledged before the read was sent
    never-written   it returned a value that was never sent
    refused-visible it returned a value whose SET got a definite error
At the end every key is read back; an acknowledged write whose value is
greater than the key's final value (missing = 0) is lost (a smaller final
value means the key went back in time; a larger one supersedes it).

History. The final read-back cannot see a write lost at a failover and then
overwritten. So each key's surviving history is rebuilt: the final value, the
value its SET replaced, the value that one replaced, ... An acknowledged
value below the final one and not on that chain was lost then overwritten:
    (a) lost WAIT-confirmed  WAIT saw >= 1 replica: must not happen, counts
                             as a WAIT-acknowledged loss (exit 1)
    (b) lost async           WAIT saw 0 replicas or failed: allowed
An ambiguous write on the chain has no known predecessor; it is taken to
have replaced the key's last acknowledged value when that was acknowledged by
the same node with no other acknowledgement in between, and that node cannot
have lost it meanwhile (same connection, or no kill/promotion of it in the
events); otherwise the chain stops there and the acknowledged values below it
are "undetermined". A value skipped only because the chain lands on a write
that timed out on the very node that acknowledged the value is "maybe
overwritten by a delayed write" (the timed-out SET may have been applied
after it), not counted as lost. Each stale read (only against writes whose
SET OK came before the read was sent) is then explained as
    (c) stale, non-owner     a newer acknowledged value survived, and the
                             serving node had been superseded for that slot
                             (another node had taken it by then: run.sh's
                             PROMOTED, the first write acknowledged by another
                             node after the fault, or our slot map's epochs)
        stale, owner         a newer acknowledged value survived, and the
                             serving node is not known to have been superseded
        saw a lost write     every newer acknowledged value was lost: the read
                             shows the loss (a or b by the newest one's WAIT)
        undetermined         the newer values are undetermined
Times in examples are wall clock and ms from the nearest FAULT ("F3+120ms").

Scripted mode (--scripted). Each write is one Lua script instead of a SET,
on KEY = "{chaos:<run>:<i>}" and its siblings KEY:h and KEY:l (one hash tag,
so one slot), SCRIPT below: it reads the three parts as they were (string,
hash field v, list's last element), sets the string, HSET KEY:h v, RPUSH KEY:l,
and returns {string before, field before, last element before, string
after}. It is sent as EVALSHA (loaded with SCRIPT LOAD on every node at
start); a NOSCRIPT reply (a restarted or promoted node has an empty script
cache) is followed by EVAL of the same script on the same node, which is
still that write's one attempt (NOSCRIPT is a refusal: nothing was applied).
MOVED/ASK/TRYAGAIN/timeouts, WAIT 1 on the same connection, the outcome
classes, readers (GET KEY) and the history check are as for SET, with the
string before as "the value it replaced". The read-back reads the three
parts of every key on one connection (GET, HGET, LRANGE 0 -1) and takes the
key's final value as the oldest of the string, the field and the list's last
element: an acknowledged script any part of which is missing or older is
lost. The list is moreover the key's whole surviving history (every script
applied and kept appended its value), so, for values at or below the final
one, an acknowledged value not in the list was lost too (lost then
overwritten, seen even where the SET ... GET history stops or only says
"maybe delayed"); the report counts the values the list settles that the
history left undetermined. That makes --scripted the conclusive check where
many writes are ambiguous (synchronous writes' NOREPLICAS on a primary
without a replica: their predecessor is unknown, so the history stops). Failures of atomicity, reported apart and failing the run
(exit 1) like a WAIT-acknowledged loss:
    torn at read-back   the three parts of a key disagree (re-read twice)
    torn before a write the script found the previous write's parts disagreeing
    applied twice       a value more than once in a key's list
Values on the string's history but missing from the list, or lost from the
string's history but in the list, are listed too (they disagree; a loss is
counted by the list).

Faults. --events FILE holds what run.sh collected: per round a line
"ROUND n=.. kind=.. t_ms=..", then the fault script's "FAULT kind=..
node=IP:PORT t_ms=.. slots=A-B,.." and "RECOVER ... t_ms=..", run.sh's own
"PROMOTED round=.. node=.. t_ms=.." (another node claims the victim's slots)
and "HEALED round=.. t_ms=.." or "TIMEOUT round=.. t_ms=.. reason=...". For
each fault the report gives the time from the fault to the first acknowledged
write to the victim's slots taken by another node (a failover) or, when no
other node took one, to the first acknowledged write to those slots at all;
and the longest stretch without an acknowledged write to those slots. Those
are client-side times: they include the client noticing the new primary
(within about a rebuild, tens of ms, of the first error after the promotion;
a write in flight on a paused node still waits out --op-timeout, but does not
hold up the other threads' rebuilt routes).
"""

import argparse
import array
import bisect
import collections
import hashlib
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

# --scripted: one write = this script, on KEY, KEY:h, KEY:l (one hash tag).
# It returns what the three parts held before it (the string's is the value
# the write replaced, for the history check) and the string after it.
SCRIPT = """\
local before = {redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], 'v'), redis.call('LINDEX', KEYS[3], -1)}
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'v', ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
return {before[1], before[2], before[3], redis.call('GET', KEYS[1])}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def script_keys(key):
    """KEY's sibling keys written by SCRIPT, in KEYS order (one slot: KEY is
    a hash tag of its own)."""
    return (key, key + ":h", key + ":l")


# Wall-clock time that never goes backwards: "ack before read" is decided by
# comparing times taken in different threads, so they must share one clock.
_WALL0_US, _MONO0_NS = int(time.time() * 1e6), time.monotonic_ns()


def now_us():
    return _WALL0_US + (time.monotonic_ns() - _MONO0_NS) // 1000


def now_ms():
    return now_us() // 1000


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
        (redis.exceptions.NoScriptError, "NOSCRIPT"),  # redis-py drops the word from its text
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
        # ringcache's replica-sync-writes: applied here, its replicas' answer
        # missing: the write may or may not survive (unlike Redis's
        # min-replicas NOREPLICAS, which refuses the write before it runs).
        if word == "NOREPLICAS" and "applied on this node" in str(e):
            return "NOREPLICAS-applied"
        # Redis error codes are upper-case words (NOREPLICAS, CROSSSLOT, ...).
        return word if word.isupper() else "ERR"
    return type(e).__name__


def part_value(x):
    """A part of a scripted key as read back -> int (None = 0; not a
    number = -1, which no write sent)."""
    if x is None:
        return 0
    try:
        return int(x)
    except (TypeError, ValueError):
        return -1


def to_ranges(slots):
    """Sorted slot numbers -> [(lo, hi), ...]."""
    out = []
    for s in slots:
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def in_ranges(ranges, slot):
    return any(lo <= slot <= hi for lo, hi in ranges)


def definite(kind):
    """True when an error kind proves the command was not applied."""
    return kind not in ("timeout", "conn-reset", "conn-closed", "conn-other", "NOREPLICAS-applied")


class Topology:
    """Slot -> primary address map shared by all threads.

    Patched at once by MOVED replies; rebuilt by a background thread every
    PERIOD_S, every FAST_S while any thread has reported trouble in the last
    FAILING_S (a timeout, a connection error, CLUSTERDOWN, ...), and at once
    (at most every MIN_GAP_S) when a thread asks for it after an error. A
    thread that failed waits for a rebuild begun after its failure
    (await_refresh) and then goes on: it never queries the nodes itself.

    A rebuild asks every known node for CLUSTER NODES in parallel and gives
    each slot to the primary with the highest config epoch claiming it, as
    Redis Cluster itself decides (a partitioned old primary still claims its
    slots, with a lower epoch), and never to a lower epoch than an earlier
    rebuild saw for that slot. It does not wait for the slowest node: it is
    over once answers from a majority of the known nodes are in and either
    all of them have answered or GRACE_S more has passed (a paused node's
    ASK_TIMEOUT_S is paid by its own asking thread, not by the rebuild; a
    node whose last question is still unanswered is not asked again)."""

    PERIOD_S = 1.0      # rebuild period when all is well
    FAST_S = 0.1        # ... while some thread reported trouble lately
    FAILING_S = 1.0     # "lately"
    MIN_GAP_S = 0.05    # between two rebuilds' starts
    GRACE_S = 0.025     # for the rest of the answers once a majority is in
    ASK_TIMEOUT_S = 0.25  # connect and reply timeout of one CLUSTER NODES
    AWAIT_MAX_S = 0.3   # longest await_refresh

    def __init__(self, seeds):
        self.owner = [None] * SLOTS
        self.known = list(seeds)
        self.wanted = threading.Event()
        # (t_ms, owner, [(lo, hi), ...]): each time a rebuild gave slots to a
        # new owner. Lets the report tell, after the fact, whether a node that
        # served a read had already been superseded (MOVED patches are left
        # out: they say what one node thinks, not which epoch won).
        self.history = []
        # Per slot, the highest config epoch any rebuild saw claiming it, and
        # its claimer: a rebuild that heard only from nodes that had not yet
        # learnt of a promotion does not undo it.
        self.best_epoch = [-1] * SLOTS
        self.best_owner = [None] * SLOTS
        self.merge_lock = threading.Lock()
        # One question at a time per node, on a connection kept for it.
        self.probe_conns = {}
        self.in_flight = set()
        self.in_flight_lock = threading.Lock()
        # Rebuilds done: when (monotonic s) the last completed one began.
        self.done_cond = threading.Condition()
        self.last_done_start = float("-inf")
        self.failing_until = float("-inf")
        self.refreshes = 0

    def get(self, slot):
        return self.owner[slot] or random.choice(self.known)

    def moved(self, slot, addr):
        self.owner[slot] = addr
        if addr not in self.known:
            self.known = self.known + [addr]

    def trouble(self):
        self.failing_until = time.monotonic() + self.FAILING_S
        self.wanted.set()

    def await_refresh(self, since, stop=None):
        """After a failure at `since` (time.monotonic()): ask for a rebuild and
        wait until one begun after `since` is done (at most AWAIT_MAX_S), so
        the next command is routed by a slot map at least that fresh."""
        self.trouble()
        deadline = since + self.AWAIT_MAX_S
        with self.done_cond:
            while self.last_done_start < since and not (stop is not None and stop.is_set()):
                rest = deadline - time.monotonic()
                if rest <= 0:
                    return False
                self.done_cond.wait(min(rest, 0.05))
        return True

    def ask(self, addr):
        """CLUSTER NODES of one node, as text (raises RedisError). Only the
        one thread that has addr in in_flight uses its connection."""
        for _ in range(2):
            c = self.probe_conns.get(addr)
            fresh = c is None
            if fresh:
                host, port = addr.rsplit(":", 1)
                c = redis.Connection(host=host, port=int(port), socket_timeout=self.ASK_TIMEOUT_S,
                                     socket_connect_timeout=self.ASK_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
                self.probe_conns[addr] = c
            try:
                c.send_command("CLUSTER", "NODES")
                reply = c.read_response()
                return reply.decode() if isinstance(reply, bytes) else reply
            except redis.exceptions.RedisError as e:
                # Never reuse a connection that failed (a late reply would be
                # taken for the next one's).
                self.probe_conns.pop(addr, None)
                c.disconnect()
                # A kept connection the node closed meanwhile (restart): one
                # more try on a new one. A timeout is not retried.
                if fresh or not isinstance(e, redis.exceptions.ConnectionError):
                    raise
        raise redis.exceptions.ConnectionError("unreachable")

    def views(self):
        """CLUSTER NODES texts of the nodes that answered, asked in parallel;
        returns once a majority of the known nodes answered and the others
        did too or GRACE_S passed, or once every question asked is over."""
        addrs = list(self.known)
        need = len(addrs) // 2 + 1
        cond = threading.Condition()
        answers, over = [], []

        def one(addr):
            text = None
            try:
                text = self.ask(addr)
            except Exception:  # noqa: BLE001 - any failure is just no answer
                pass
            finally:
                with self.in_flight_lock:
                    self.in_flight.discard(addr)
                with cond:
                    if text is not None:
                        answers.append(text)
                    over.append(addr)
                    cond.notify_all()

        asked = 0
        for addr in addrs:
            with self.in_flight_lock:
                if addr in self.in_flight:
                    continue  # still waiting on its last question (paused?)
                self.in_flight.add(addr)
            threading.Thread(target=one, args=(addr,), daemon=True).start()
            asked += 1
        # Bound for a question: connect timeout + reply timeout (+ a retry's connect).
        deadline = time.monotonic() + 3 * self.ASK_TIMEOUT_S + 0.1
        quorum_at = None
        with cond:
            while len(over) < asked:
                now = time.monotonic()
                if quorum_at is None and len(answers) >= need:
                    quorum_at = now
                end = quorum_at + self.GRACE_S if quorum_at is not None else deadline
                if now >= end:
                    break
                cond.wait(end - now)
            return list(answers)

    def refresh(self):
        texts = self.views()
        with self.merge_lock:
            return self.merge(texts)

    def merge(self, texts):
        """Apply CLUSTER NODES texts (views() order) to the slot map."""
        claims = {}  # (epoch, addr, lo, hi) -> first view claiming it
        known = list(self.known)
        for n, text in enumerate(texts):
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
                    claims.setdefault((epoch, addr, int(lo), int(hi or lo)), n)
        self.known = known
        self.refreshes += 1
        if not claims:
            return False
        # Highest epoch per slot, never below what earlier rebuilds saw:
        # claims applied in rising epoch order, each where it is at least the
        # slot's best so far (equal epochs: the first view's claim goes last,
        # so it wins, as before, and beats an earlier rebuild's).
        best_e, best_o = list(self.best_epoch), list(self.best_owner)
        for (epoch, addr, lo, hi), n in sorted(claims.items(), key=lambda c: (c[0][0], -c[1])):
            if max(best_e[lo:hi + 1]) <= epoch:
                best_e[lo:hi + 1] = [epoch] * (hi - lo + 1)
                best_o[lo:hi + 1] = [addr] * (hi - lo + 1)
                continue
            for slot in range(lo, hi + 1):
                if best_e[slot] <= epoch:
                    best_e[slot], best_o[slot] = epoch, addr
        self.best_epoch, self.best_owner = best_e, best_o
        # Keep what we had for slots nobody ever claimed (all owners down).
        old = self.owner
        best = self.best_owner
        new = list(best) if None not in best else [o or old[i] for i, o in enumerate(best)]
        if new != old:
            self.owner = new
            # Stamped after the views came in: every claim seen existed by then.
            t, gained = now_ms(), collections.defaultdict(list)
            for slot, o in enumerate(new):
                if o is not None and o != old[slot]:
                    gained[o].append(slot)
            for o, slots in gained.items():
                self.history.append((t, o, to_ranges(slots)))
        return True

    def loop(self, stop):
        last = float("-inf")
        while not stop.is_set():
            now = time.monotonic()
            period = self.FAST_S if now < self.failing_until else self.PERIOD_S
            if now < last + period:
                self.wanted.wait(last + period - now)
            if stop.is_set():
                return
            gap = last + self.MIN_GAP_S - time.monotonic()
            if gap > 0 and stop.wait(gap):
                return
            # Cleared before the start is taken: trouble after it is served by
            # the next rebuild, failures before it by this one.
            self.wanted.clear()
            last = time.monotonic()
            try:
                self.refresh()
            except Exception as e:  # noqa: BLE001 - keep the slot map alive
                log("slot map rebuild failed: %r" % e)
            with self.done_cond:
                self.last_done_start = max(self.last_done_start, last)
                self.done_cond.notify_all()


class Client:
    """One thread's connections (one per node) and its routing loop."""

    def __init__(self, topo, timeout_s, stats):
        self.topo = topo
        self.timeout_s = timeout_s
        self.stats = stats
        self.conns = {}
        # Serial of each connection, and of the one the last command went
        # out on: two writes on one connection prove the node was not
        # restarted in between (its data cannot have been lost meanwhile).
        self.serials = {}
        self.next_serial = 0
        self.last_conn = -1

    def conn(self, addr):
        c = self.conns.get(addr)
        if c is None:
            host, port = addr.rsplit(":", 1)
            # retry=0: redis-py would otherwise silently resend after a
            # timeout, hiding exactly the errors this tool counts.
            c = redis.Connection(host=host, port=int(port), socket_timeout=self.timeout_s,
                                 socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
            self.conns[addr] = c
            self.next_serial += 1
            self.serials[addr] = self.next_serial
        return c

    def drop(self, addr):
        # A timed-out connection may still deliver the late reply; reusing it
        # would pair that reply with the next command. Always reconnect.
        c = self.conns.pop(addr, None)
        if c is not None:
            c.disconnect()

    def call(self, op, slot, *args, noscript=None):
        """Route a one-key command; returns (reply, addr) or raises Failure.

        MOVED/ASK are followed (counted under op as MOVED/ASK); with noscript
        (the EVAL twin of an EVALSHA), a NOSCRIPT reply is followed by that
        command on the same node, once (counted as NOSCRIPT); any other error
        is counted and raised as Failure(kind, addr)."""
        addr = self.topo.get(slot)
        asking = False
        for _ in range(6):
            c = self.conn(addr)
            self.last_conn = self.serials[addr]
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
                to = self.redirect(kind, e, slot)
                if to:
                    addr, asking = to
                    continue
                if kind == "NOSCRIPT" and noscript is not None:
                    # Not applied; the EVAL loads the script into this node's cache.
                    args, noscript = noscript, None
                    continue
                if not isinstance(e, redis.exceptions.ResponseError):
                    self.drop(addr)
                self.topo.trouble()
                raise Failure(kind, addr) from e
        self.stats.count(op, "too-many-redirects")
        raise Failure("too-many-redirects", addr)

    def redirect(self, kind, e, slot):
        """(addr, asking) to retry at after a MOVED (the slot map learns it)
        or an ASK reply of `kind`; None for any other error."""
        if kind == "MOVED":
            addr = "%s:%d" % (e.host, e.port)
            self.topo.moved(slot, addr)
            return addr, False
        if kind == "ASK":
            return "%s:%d" % (e.host, e.port), True
        return None

    def call_many(self, op, slot, cmds):
        """Several commands on keys of one slot, pipelined on one connection
        (not atomic: for the read-back of a quiet cluster); returns (replies,
        addr) or raises Failure. MOVED/ASK on any of them are followed for
        all (one slot: one owner), any other error reply ends it."""
        addr = self.topo.get(slot)
        asking = False
        for _ in range(5):
            c = self.conn(addr)
            self.last_conn = self.serials[addr]
            sent = [x for cmd in cmds for x in ((("ASKING",), cmd) if asking else (cmd,))]
            try:
                c.send_packed_command(c.pack_commands(sent))
                replies = []
                for _cmd in sent:
                    # Every reply is read, errors too, so the connection stays in step.
                    try:
                        replies.append(c.read_response())
                    except redis.exceptions.ResponseError as e:
                        replies.append(e)
            except redis.exceptions.RedisError as e:
                kind = classify(e)
                self.stats.count(op, kind)
                self.drop(addr)
                self.topo.trouble()
                raise Failure(kind, addr) from e
            if asking:
                replies = replies[1::2]
            errors = [r for r in replies if isinstance(r, redis.exceptions.ResponseError)]
            if not errors:
                return replies, addr
            e = errors[0]
            kind = classify(e)
            self.stats.count(op, kind)
            to = self.redirect(kind, e, slot)
            if to:
                addr, asking = to
                continue
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
    (a long run holds millions): ack time (SET reply in), send time, WAIT
    reply time (0 = none), slot, node, key, value, the value the SET
    replaced, WAIT's replica count, connection serial. Times in us."""

    FIELDS = ("t", "sent", "wait_done", "slot", "node", "key", "value", "prev", "waited", "conn")
    TYPES = ("q", "q", "q", "H", "h", "i", "i", "i", "b", "i")

    def __init__(self):
        for name, code in zip(self.FIELDS, self.TYPES):
            setattr(self, name, array.array(code))

    def add(self, t, sent, wait_done, slot, node, key, value, prev, waited, conn):
        for name, x in zip(self.FIELDS, (t, sent, wait_done, slot, node, key, value, prev, waited, conn)):
            getattr(self, name).append(x)

    def __len__(self):
        return len(self.t)


class ReadLog:
    """Every read of one reader thread: send time, reply time (us), slot,
    node that served it, key, value (0 = none)."""

    FIELDS = ("sent", "done", "slot", "node", "key", "value")
    TYPES = ("q", "q", "H", "h", "i", "i")

    def __init__(self):
        for name, code in zip(self.FIELDS, self.TYPES):
            setattr(self, name, array.array(code))

    def add(self, sent, done, slot, node, key, value):
        for name, x in zip(self.FIELDS, (sent, done, slot, node, key, value)):
            getattr(self, name).append(x)


# The analysis works on these (times in ms, as floats: sub-ms order matters
# when a read goes out right after an ack). An ambiguous write has acked=False,
# prev=None, waited=-1; timeout says whether it timed out (it may then be
# applied late) rather than lost its connection (settled when that died).
Write = collections.namedtuple("Write", "key value slot node sent done acked prev waited wait_done conn timeout")
Read = collections.namedtuple("Read", "key slot node sent done value")


class Checker:
    REREADS = 40  # --scripted read-back: re-reads of keys whose parts disagree
    def __init__(self, args):
        self.args = args
        self.run_id = "%x" % now_ms()
        self.scripted = getattr(args, "scripted", False)
        # Scripted: the key is its own hash tag, so KEY:h and KEY:l share its slot.
        self.keys = [("{chaos:%s:%d}" if self.scripted else "chaos:%s:%d") % (self.run_id, i) for i in range(args.keys)]
        self.write_op = "script" if self.scripted else "set"  # its column in the error table
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
        self.amb_logs = []   # per writer: ambiguous writes, as Write tuples
        self.read_logs = []
        self.read_anomalies = collections.Counter()
        self.read_examples = []
        self.reads_ok = 0
        # --scripted: key -> (string, field, [list]) as read back; writes
        # whose script found the key's parts disagreeing (examples); SCRIPT
        # LOAD results at start.
        self.parts = {}
        self.rereads = 0
        self.torn_before = 0
        self.torn_before_examples = []
        self.script_loads = {}
        self.started_ms = now_ms()

    def node_index(self, addr):
        with self.nodes_lock:
            return self.nodes.setdefault(addr, len(self.nodes))

    # ---- workload ------------------------------------------------------

    def writer(self, wid):
        mine = list(range(wid, self.args.keys, self.args.writers))
        acks, amb = AckLog(), []
        self.logs.append(acks)
        self.amb_logs.append(amb)
        client = Client(self.topo, self.args.op_timeout, self.stats)
        period = 1.0 / self.args.rate if self.args.rate > 0 else 0
        while not self.stop.is_set():
            t0 = time.time()
            k = random.choice(mine)
            v = self.issued[k] + 1
            self.issued[k] = v
            slot = self.key_slots[k]
            t_sent = now_us()
            try:
                if self.scripted:
                    # The script returns what the string held before: the value replaced.
                    ks = script_keys(self.keys[k])
                    reply, addr = client.call("script", slot, "EVALSHA", SCRIPT_SHA, 3, *ks, str(v),
                                              noscript=("EVAL", SCRIPT, 3) + ks + (str(v),))
                    reply = self.script_reply(k, v, reply, addr)
                else:
                    # GET: the reply is the value this SET replaced, which is what
                    # links each key's history (see "History" above).
                    reply, addr = client.call("set", slot, "SET", self.keys[k], str(v), "GET")
            except Failure as f:
                t_fail = time.monotonic()
                if definite(f.kind):
                    self.refused[k].add(v)
                    self.stats.outcome("refused")
                else:
                    self.stats.outcome("ambiguous")
                    amb.append(Write(k, v, slot, self.node_index(f.addr), t_sent / 1000.0, now_us() / 1000.0,
                                     False, None, -1, None, client.last_conn, f.kind == "timeout"))
                # Route the next write by a slot map rebuilt after this
                # failure (that also keeps it from spinning on a dead node).
                self.topo.await_refresh(t_fail, self.stop)
                continue
            t_ack = now_us()
            conn = client.last_conn
            try:
                prev = 0 if reply is None else int(reply)
            except (TypeError, ValueError):
                prev = None
            if prev is None or prev < 0:
                self.stats.count(self.write_op, "unexpected-reply")
                self.stats.outcome("ambiguous")
                amb.append(Write(k, v, slot, self.node_index(addr), t_sent / 1000.0, t_ack / 1000.0,
                                 False, None, -1, None, conn, False))
                continue
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
            acks.add(t_ack, t_sent, now_us() if waited >= 0 else 0, slot, self.node_index(addr), k, v,
                     min(prev, 2 ** 31 - 1), max(-1, min(waited, 100)), conn)
            self.stats.outcome("acked+wait" if waited >= 1 else "acked")
            if period:
                rest = period - (time.time() - t0)
                if rest > 0:
                    self.stop.wait(rest)

    def script_reply(self, k, v, reply, addr):
        """SCRIPT's reply -> the string's value before it (bytes or None), as
        SET ... GET would have replied; anything else is returned as it came
        (an unexpected reply). Counts a key whose parts disagreed before the
        script ran (the previous script's writes torn apart)."""
        if not isinstance(reply, list) or len(reply) != 4 or reply[3] != str(v).encode():
            return reply
        before = [0 if x is None else x for x in reply[:3]]
        if len(set(before)) > 1:
            with self.stats.lock:
                self.torn_before += 1
                if len(self.torn_before_examples) < 20:
                    self.torn_before_examples.append(
                        "%s on %s at %s, writing %d: before it string=%s field=%s list-last=%s" % (
                            self.keys[k], addr, clock(now_ms()), v,
                            *(x.decode() if isinstance(x, bytes) else "none" for x in reply[:3])))
        return reply[0]

    def load_script(self):
        """SCRIPT LOAD on every known node (best effort: EVALSHA falls back
        to EVAL where it is missing); records what each node answered."""
        for addr in list(self.topo.known):
            host, port = addr.rsplit(":", 1)
            c = redis.Connection(host=host, port=int(port), socket_timeout=2, socket_connect_timeout=2,
                                 retry=Retry(NoBackoff(), 0))
            try:
                c.send_command("SCRIPT", "LOAD", SCRIPT)
                sha = c.read_response()
                sha = sha.decode() if isinstance(sha, bytes) else str(sha)
                self.script_loads[addr] = "ok" if sha == SCRIPT_SHA else "sha %s, expected %s" % (sha, SCRIPT_SHA)
            except redis.exceptions.RedisError as e:
                self.script_loads[addr] = "failed: %s" % e
            finally:
                c.disconnect()
        log("SCRIPT LOAD (sha %s): %s" % (SCRIPT_SHA, ", ".join("%s %s" % x for x in sorted(self.script_loads.items()))))

    def reader(self, _rid):
        client = Client(self.topo, self.args.op_timeout, self.stats)
        reads = ReadLog()
        self.read_logs.append(reads)
        period = 1.0 / self.args.rate if self.args.rate > 0 else 0
        while not self.stop.is_set():
            t0 = time.time()
            k = random.randrange(self.args.keys)
            floor = self.last_acked[k]  # acknowledged before this read is sent
            # Taken after floor: whatever floor counts was acked before t_sent,
            # so the history check (by times) sees at least these as stale.
            t_sent = now_us()
            try:
                reply, addr = client.call("get", self.key_slots[k], "GET", self.keys[k])
            except Failure:
                self.topo.await_refresh(time.monotonic(), self.stop)
                continue
            v = 0 if reply is None else int(reply)
            reads.add(t_sent, now_us(), self.key_slots[k], self.node_index(addr), k, v)
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
                        self.read_examples.append("%s %s: got %s, acked before the read: %d, sent: %d (served by %s)"
                                                  % (what, self.keys[k], reply, floor, ceiling, addr))
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
        if self.scripted:
            self.load_script()
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
            if not ready and sum(len(a) for a in self.logs) >= self.args.writers:
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
                    if self.scripted:
                        final[k] = self.read_parts(client, k)
                    else:
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

    def read_parts(self, client, k):
        """--scripted read-back of key k: its string, hash field and list,
        kept in self.parts; returns the key's final value, the oldest of the
        string, the field and the list's last element (so an acknowledged
        script any part of which is missing or older counts as lost). Parts
        that disagree are read again (twice, 0.2 s apart) before that counts,
        for the first REREADS such keys only (many torn keys would otherwise
        use up the read-back's time and leave keys unread)."""
        key, hkey, lkey = script_keys(self.keys[k])
        for attempt in range(3):
            if attempt:
                if self.rereads >= self.REREADS:
                    break
                self.rereads += 1
                time.sleep(0.2)
            replies, _ = client.call_many("readback", self.key_slots[k],
                                          [("GET", key), ("HGET", hkey, "v"), ("LRANGE", lkey, 0, -1)])
            s, h, lst = (part_value(replies[0]), part_value(replies[1]), [part_value(x) for x in replies[2]])
            if s == h == (lst[-1] if lst else 0):
                break
        self.parts[k] = (s, h, lst)
        return min(s, h, lst[-1] if lst else 0)


# ---- history check ------------------------------------------------------
#
# Works on plain Write/Read tuples, so that --self-test can feed it synthetic
# runs. Categories of an acknowledged write (of a key that was read back):
SURVIVED = "survived"        # on the key's surviving history
LOST = "lost"                # off it, below the final value: lost then overwritten
FINAL_LOST = "final-lost"    # above the final value (the final read-back's own check)
DELAYED = "delayed"          # off it, maybe overwritten by a delayed ambiguous SET
UNDETERMINED = "undetermined"  # below a point where the history could not be followed

# Read classes (only reads that missed a value acknowledged before they were sent).
READ_CLASSES = (  # (name, tag in examples, label)
    ("stale-nonowner", "(c)", "(c) stale, from a node superseded for the slot by then"),
    ("stale-owner", "stale", "    stale, from a node not known to be superseded"),
    ("saw-lost-a", "saw (a)", "    saw a lost WAIT-confirmed write (a)"),
    ("saw-lost-b", "saw (b)", "    saw a lost async write (b)"),
    ("undetermined", "undet.", "    undetermined (the newer values' fate is unknown)"),
)


def build_claims(topo_history, faults, acks_by_done):
    """Who took which slots when, from what the run saw: (t_ms, owner,
    ranges, source), sorted by time. Every source sees a takeover at or after
    it happened (run.sh polls, the first write on the new owner needs the
    client to find it, our slot map is rebuilt periodically), so a node found
    superseded at t really was; one not found may just not be known yet."""
    claims = [(t, o, r, "slot map") for t, o, r in topo_history]
    done_times = [w.done for w in acks_by_done]
    for n, f in enumerate(faults, 1):
        ranges = to_ranges(sorted(f["slot_set"]))
        if not ranges:
            continue
        if f.get("promoted_ms") and f.get("promoted_node"):
            claims.append((f["promoted_ms"], f["promoted_node"], ranges, "PROMOTED of F%d" % n))
        # The first write another node acknowledged on the victim's slots: it
        # could only do so once it owned them (the victim, cut off, may still
        # ack some, but only until its lease runs out: those are not claims).
        for i in range(bisect.bisect_left(done_times, f["t_ms"]), len(acks_by_done)):
            w = acks_by_done[i]
            if w.done > f["t_ms"] + 120000:
                break
            if w.node != f["node"] and w.slot in f["slot_set"]:
                claims.append((w.done, w.node, ranges, "first write on %s after F%d" % (w.node, n)))
                break
    claims.sort(key=lambda c: c[0])
    return claims


def owner_at(claims, claim_times, slot, t):
    """The owner of slot at time t as far as the claims tell, as the earliest
    claim of its current tenure (so "since" is the first evidence), and the
    first later claim of the slot by a different node; either may be None."""
    i = bisect.bisect_right(claim_times, t)
    mine = [c for c in claims[:i] if in_ranges(c[2], slot)]
    cur = None
    for c in reversed(mine):
        if cur is not None and c[1] != cur[1]:
            break
        cur = c
    nxt = next((c for c in claims[i:] if in_ranges(c[2], slot) and (cur is None or c[1] != cur[1])), None)
    return cur, nxt


def analyze_history(writes, reads, final, refused, faults, topo_history):
    """The history check (module docstring, "History"). writes: acked and
    ambiguous Write tuples; reads: Read tuples; final: key -> value read back
    (keys missing here were not read back: their writes stay undetermined);
    refused: key -> values refused for sure; faults: parse_events(); times
    in ms. Returns a dict (see the end)."""
    acked = collections.defaultdict(dict)   # key -> value -> Write
    amb = collections.defaultdict(dict)
    for w in writes:
        (acked if w.acked else amb)[w.key][w.value] = w
    by_done = collections.defaultdict(list)  # key -> its acks in ack order
    for k, vs in acked.items():
        by_done[k] = sorted(vs.values(), key=lambda w: w.done)
    all_acks = sorted((w for vs in acked.values() for w in vs.values()), key=lambda w: w.done)

    # Events that may have changed a node's data behind a client's back: a
    # kill (restart from whatever it persisted) and a promotion (it was a
    # replica, so it may have been resynced from someone else before).
    unsafe = collections.defaultdict(list)
    for f in faults:
        if f.get("kind") == "kill":
            unsafe[f["node"]].append(f["t_ms"])
        if f.get("promoted_ms") and f.get("promoted_node"):
            unsafe[f["promoted_node"]].append(f["promoted_ms"])

    def infer_prev(a):
        """What the ambiguous write a replaced, if it can be told: the key's
        last acknowledged value before a was sent, when the same node took
        it and cannot have lost it since. Single writer per key: nothing else
        was written to the key in between except refused and ambiguous writes,
        and no acked value lies between, so the choice among those does not
        change which acknowledged values are on the chain."""
        lst = by_done[a.key]
        i = bisect.bisect_left([w.done for w in lst], a.sent)
        if i == 0:
            return 0  # nothing acknowledged before it: no acked value below to judge
        x = lst[i - 1]
        if x.node != a.node:
            return None  # another node took the key meanwhile: whose data did a land on?
        if x.conn == a.conn:
            return x.value  # one connection throughout: the node was not restarted
        if not faults:
            return None  # no events: cannot rule out a restart
        if any(x.done <= t <= a.sent for t in unsafe[a.node]):
            return None
        return x.value

    cat = {}          # (key, value) -> category, for acknowledged writes
    lost = []         # (Write, edge): edge = (upper, lower, how) that skips it
    delayed, undetermined = [], []
    breaks = collections.Counter()   # why a key's history stops early
    anomalies = []    # (key, what, value): a refused or unrecorded value in a history
    for k, vs in acked.items():
        if k not in final:
            for v, w in vs.items():
                cat[(k, v)] = UNDETERMINED
            continue
        top = final[k]
        edges, stop, cur, seen = [], None, top, set()
        while cur > 0:
            if cur in seen:
                stop = ("cycle", cur)
                break
            seen.add(cur)
            w = vs.get(cur)
            if w is not None:
                edges.append((cur, w.prev, "set-get"))
                cur = w.prev
                continue
            a = amb[k].get(cur)
            if a is not None:
                p = infer_prev(a)
                if p is None:
                    stop = ("ambiguous write with unknown predecessor", cur)
                    break
                edges.append((cur, p, "inferred"))
                cur = p
                continue
            # Neither acked nor ambiguous: refused for sure, or never sent at all.
            stop = ("refused value in history" if cur in refused.get(k, ()) else "value without a write record", cur)
            anomalies.append((k, stop[0], cur))
            break
        if stop:
            breaks[stop[0]] += 1
        on_chain = {top} | {e[0] for e in edges}
        for v, w in vs.items():
            if v > top:
                cat[(k, v)] = FINAL_LOST
                continue
            if v in on_chain:
                cat[(k, v)] = SURVIVED
                continue
            # The edge jumping over v: the write above it replaced a value below it.
            e = next((e for e in edges if e[1] < v < e[0]), None)
            if e is None:
                cat[(k, v)] = UNDETERMINED
                undetermined.append((w, stop))
                continue
            low = amb[k].get(e[1])
            if low is not None and low.timeout and low.node == w.node:
                # The landing write timed out on v's own node: it may have been
                # applied there after v (a late SET of an older value), which
                # overwrites v without anything being lost.
                cat[(k, v)] = DELAYED
                delayed.append((w, e))
            else:
                cat[(k, v)] = LOST
                lost.append((w, e))
    lost.sort(key=lambda x: x[0].done)
    delayed.sort(key=lambda x: x[0].done)
    undetermined.sort(key=lambda x: x[0].done)

    claims = build_claims(topo_history, faults, all_acks)
    claim_times = [c[0] for c in claims]

    # Reads: against the writes acknowledged (SET reply in) before the read
    # went out; per key, prefix maxima over those in ack order make each read
    # one bisect. A read that got r missed every such value > r.
    ANY, S, L, LA, U = range(5)  # newest of: any, survived, lost, lost WAIT-confirmed, other
    prefix = {}
    for k, lst in by_done.items():
        rows, best = [], [None] * 5
        for w in lst:
            c = cat.get((k, w.value), UNDETERMINED)
            group = S if c == SURVIVED else L if c in (LOST, FINAL_LOST) else U
            for g in (ANY, group) + ((LA,) if group == L and w.waited >= 1 else ()):
                if best[g] is None or w.value > best[g].value:
                    best[g] = w
            rows.append(tuple(best))
        prefix[k] = ([w.done for w in lst], rows)

    read_counts = collections.Counter()
    read_examples = collections.defaultdict(list)
    reads_by_key = collections.defaultdict(list)
    for r in reads:
        reads_by_key[r.key].append(r)
        if r.key not in prefix:
            continue
        times, rows = prefix[r.key]
        i = bisect.bisect_left(times, r.sent)
        if i == 0:
            continue
        b = rows[i - 1]

        def above(g):
            return b[g] is not None and b[g].value > r.value
        if not above(ANY):
            continue
        owner, nxt = owner_at(claims, claim_times, r.slot, r.sent)
        if above(S):
            cls = "stale-nonowner" if owner is not None and owner[1] != r.node else "stale-owner"
        elif above(U):
            cls = "undetermined"
        else:
            cls = "saw-lost-a" if above(LA) else "saw-lost-b"
        read_counts[cls] += 1
        read_examples[cls].append({"read": r, "newest": b[ANY], "newest_surviving": b[S] if above(S) else None,
                                   "owner": owner, "next_claim": nxt})
    for lst in reads_by_key.values():
        lst.sort(key=lambda r: r.sent)

    def first_read_missing(w):
        """The first read sent after w's ack that did not have w."""
        lst = reads_by_key.get(w.key, [])
        i = bisect.bisect_right([r.sent for r in lst], w.done)
        return next((r for r in lst[i:] if r.value < w.value), None)

    return {
        "cat": cat, "lost": lost, "delayed": delayed, "undetermined": undetermined,
        "breaks": breaks, "anomalies": anomalies, "claims": claims,
        "read_counts": read_counts, "read_examples": read_examples,
        "first_read_missing": first_read_missing, "acked": acked, "amb": amb,
    }


def analyze_scripts(parts, writes, cat):
    """The --scripted read-back check (module docstring, "Scripted mode").
    parts: key -> (string, field, [list elements]) read back (ints, 0 =
    missing); writes: Write tuples (the acknowledged ones are judged); cat:
    analyze_history()'s categories. Returns a dict (see the end)."""
    torn, twice, members = [], [], {}
    for k, (s, h, lst) in sorted(parts.items()):
        last = lst[-1] if lst else 0
        if not s == h == last:
            torn.append((k, s, h, last))
        twice.extend((k, v, n) for v, n in sorted(collections.Counter(lst).items()) if n > 1)
        members[k] = set(lst)
    list_lost = []     # (Write, category): acknowledged, at or below the final value, not in the list
    in_list_lost = []  # acknowledged, in the list, but lost from the string's history
    judged = 0         # acknowledged writes at or below their key's final value (the list judges them)
    settled = 0        # of them, undetermined by the string's history but in the list: survived
    for w in writes:
        if not w.acked or w.key not in parts:
            continue
        s, h, lst = parts[w.key]
        if w.value > min(s, h, lst[-1] if lst else 0):
            continue  # the final read-back's loss
        c = cat.get((w.key, w.value), UNDETERMINED)
        judged += 1
        if w.value in members[w.key]:
            if c == LOST:
                in_list_lost.append(w)
            elif c == UNDETERMINED:
                settled += 1
        else:
            list_lost.append((w, c))
    list_lost.sort(key=lambda x: x[0].done)
    in_list_lost.sort(key=lambda w: w.done)
    return {
        "torn": torn, "twice": twice, "list_lost": list_lost, "judged": judged, "settled": settled,
        # Lost by the list only: the string's history did not count them.
        "list_only_a": [w for w, c in list_lost if c != LOST and w.waited >= 1],
        "list_only_b": [w for w, c in list_lost if c != LOST and w.waited < 1],
        "on_string_not_list": [w for w, c in list_lost if c == SURVIVED],
        "in_list_lost": in_list_lost,
    }


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


def clock(t_ms):
    t_ms = int(t_ms)
    return time.strftime("%H:%M:%S", time.localtime(t_ms / 1000)) + ".%03d" % (t_ms % 1000)


def collect(ch):
    """The run's logs -> (Write list, Read list) for analyze_history."""
    names = {i: addr for addr, i in ch.nodes.items()}
    writes, reads = [], []
    for acks in ch.logs:
        for t, sent, wd, slot, node, k, v, prev, waited, conn in zip(*(getattr(acks, f) for f in AckLog.FIELDS)):
            writes.append(Write(k, v, slot, names.get(node), sent / 1000.0, t / 1000.0, True, prev, waited,
                                wd / 1000.0 if wd else None, conn, False))
    for amb in ch.amb_logs:
        writes.extend(w._replace(node=names.get(w.node)) for w in amb)
    for log_ in ch.read_logs:
        for sent, done, slot, node, k, v in zip(*(getattr(log_, f) for f in ReadLog.FIELDS)):
            reads.append(Read(k, slot, names.get(node), sent / 1000.0, done / 1000.0, v))
    return writes, reads


def history_section(ch, hist, final, at, rel, per_class=5):
    """The report's history-check lines (classes: module docstring). at(t):
    wall clock and offset from the nearest fault; rel(t): the offset only."""
    out = []
    w = out.append
    acked, amb = hist["acked"], hist["amb"]

    def wait_text(wr):
        if wr.waited < 0:
            return "WAIT failed"
        return "WAIT %d%s" % (wr.waited, " after %d ms" % round(wr.wait_done - wr.done) if wr.wait_done else "")

    def write_text(k, v, full=True):
        """One value of the key: who took it, when, how it ended."""
        t = at if full else rel
        wr = acked[k].get(v)
        if wr is not None:
            return "%d acked by %s at %s, %s" % (v, wr.node, t(wr.done), wait_text(wr))
        wr = amb[k].get(v)
        if wr is not None:
            return "%d ambiguous (%s on %s, sent %s)" % (
                v, "timed out" if wr.timeout else "connection lost", wr.node, t(wr.sent))
        return "%d (no record of it)" % v if v else "no value"

    def edge_text(k, e):
        upper, lower, how = e
        return "%s, whose SET %s %s" % (write_text(k, upper, False),
                                        "replaced" if how == "set-get" else "is taken to have replaced",
                                        write_text(k, lower, False))

    def read_text(r):
        return "%s from %s, sent %s" % ("got %d" % r.value if r.value else "got no value", r.node, at(r.sent))

    lost = hist["lost"]
    lost_a = [x for x in lost if x[0].waited >= 1]
    lost_b = [x for x in lost if x[0].waited < 1]
    n_keys = sum(1 for k in acked if k in final)
    w("history check (%s returns the value each write replaced: a key's surviving history is"
      % ("the script" if ch.scripted else "SET ... GET"))
    w("its final value, what that replaced, and so on; an acknowledged value below the final one and")
    w("off that history was lost then overwritten, which the final read-back cannot see):")
    stops = ", ".join("%d at a %s" % (n, why) for why, n in sorted(hist["breaks"].items()))
    w("  keys followed back to their first write %8d of %d%s" % (
        n_keys - sum(hist["breaks"].values()), n_keys, " (stopped early: %s)" % stops if stops else ""))
    w("  (a) lost WAIT-confirmed writes          %8d  (in %d keys; must be 0: a WAIT-acknowledged loss)" % (
        len(lost_a), len({x[0].key for x in lost_a})))
    w("  (b) lost async writes (WAIT 0 / failed) %8d  (in %d keys)" % (len(lost_b), len({x[0].key for x in lost_b})))
    w("      maybe overwritten by a delayed SET  %8d  (an older value's SET that timed out on the same node)"
      % len(hist["delayed"]))
    w("      undetermined (below an early stop)  %8d" % len(hist["undetermined"]))
    for k, what, v in hist["anomalies"][:per_class]:
        w("    anomaly %s: %s: %d" % (ch.keys[k], what, v))
    for tag, xs in (("(a)", lost_a), ("(b)", lost_b)):
        for wr, e in xs[:per_class]:
            seen = hist["first_read_missing"](wr)
            w("    %s %s: %s" % (tag, ch.keys[wr.key], write_text(wr.key, wr.value)))
            w("        skipped by %s" % edge_text(wr.key, e))
            w("        final value %d; first read without it: %s" % (
                final.get(wr.key, 0), read_text(seen) if seen else "none"))
    for wr, e in hist["delayed"][:per_class]:
        w("    delayed? %s: %s" % (ch.keys[wr.key], write_text(wr.key, wr.value)))
        w("        skipped by %s" % edge_text(wr.key, e))
    for wr, stop in hist["undetermined"][:per_class]:
        w("    undetermined %s: %s; history stops at %s" % (
            ch.keys[wr.key], write_text(wr.key, wr.value), ("%d (%s)" % (stop[1], stop[0])) if stop else "-"))

    counts, examples = hist["read_counts"], hist["read_examples"]
    w("  reads that missed a write acknowledged (SET reply in) before they were sent: %d" % sum(counts.values()))
    for cls, _, label in READ_CLASSES:
        w("  %-56s %8d" % (label, counts[cls]))
    for cls, tag, _ in READ_CLASSES:
        for x in examples.get(cls, [])[:per_class]:
            r, newest, surv, owner, nxt = x["read"], x["newest"], x["newest_surviving"], x["owner"], x["next_claim"]
            w("    %s %s: %s" % (tag, ch.keys[r.key], read_text(r)))
            for what, wr in (("newest acked before it", newest), ("newest surviving one", surv)):
                if wr is None or (what != "newest acked before it" and wr is newest):
                    continue
                confirmed = ("; WAIT reply not yet in when the read was sent"
                             if wr.waited >= 1 and wr.wait_done and wr.wait_done > r.sent else "")
                w("        %s: %s (%s)%s" % (what, write_text(r.key, wr.value, False),
                                             hist["cat"].get((r.key, wr.value), UNDETERMINED), confirmed))
            if owner is not None and owner[1] != r.node:
                w("        %s superseded: %s has the slot since %s (%s)" % (r.node, owner[1], rel(owner[0]), owner[3]))
            elif nxt is not None:
                w("        %s the owner as far as known; %s took the slot at %s (%s)" % (
                    r.node, nxt[1], rel(nxt[0]), nxt[3]))
    return out


def script_section(ch, sc, final, at, per_class=5):
    """The report's --scripted lines (module docstring, "Scripted mode")."""
    out = []
    w = out.append

    def ack_text(wr):
        return "%d acked by %s at %s, %s" % (wr.value, wr.node, at(wr.done),
                                             "WAIT %d" % wr.waited if wr.waited >= 0 else "WAIT failed")

    def parts_text(k):
        s, h, lst = ch.parts[k]
        tail = " ".join(str(x) for x in lst[-6:])
        return "string %d, field %d, list of %d ending %s" % (s, h, len(lst), ("... " if len(lst) > 6 else "") + tail
                                                               if lst else "(none)")

    lost = sc["list_lost"]
    w("script check (--scripted: each write is one script: SET KEY, HSET KEY:h v, RPUSH KEY:l; the list")
    w("holds every surviving script's value, so an acknowledged value at or below the final one and not")
    w("in the list was lost):")
    w("  keys read back with parts that disagree (torn)  %8d  (string, hash field, list's last element)"
      % len(sc["torn"]))
    w("  writes that found the previous write torn       %8d" % ch.torn_before)
    w("  values applied twice (twice in a list)          %8d" % len(sc["twice"]))
    w("  acknowledged values judged by the list          %8d  (at or below their key's final value)" % sc["judged"])
    w("    of them undetermined by the string's history %8d  but in the list: survived" % sc["settled"])
    w("  acknowledged values missing from the list       %8d  (WAIT-confirmed %d, async %d)" % (
        len(lost), sum(1 for x, _ in lost if x.waited >= 1), sum(1 for x, _ in lost if x.waited < 1)))
    w("    of them not lost by the string's history     %8d  (WAIT-confirmed %d: counted as WAIT-acknowledged losses)"
      % (len(sc["list_only_a"]) + len(sc["list_only_b"]), len(sc["list_only_a"])))
    w("    of them on the string's history              %8d  (string and list disagree)" % len(sc["on_string_not_list"]))
    w("  in the list but lost from the string's history  %8d  (string and list disagree)" % len(sc["in_list_lost"]))
    if ch.script_loads:
        w("  SCRIPT LOAD at start: %s" % ", ".join("%s %s" % x for x in sorted(ch.script_loads.items())))
    for k, _s, _h, _l in sc["torn"][:per_class]:
        w("    torn %s: %s" % (ch.keys[k], parts_text(k)))
    for e in ch.torn_before_examples[:per_class]:
        w("    torn before a write: " + e)
    for k, v, n in sc["twice"][:per_class]:
        w("    twice %s: %d is %d times in the list; %s" % (ch.keys[k], v, n, parts_text(k)))
    for wr, c in [x for x in lost if x[0].waited >= 1][:per_class] + [x for x in lost if x[0].waited < 1][:per_class]:
        w("    not in the list %s: %s (string's history: %s); final %d, %s" % (
            ch.keys[wr.key], ack_text(wr), c, final.get(wr.key, 0), parts_text(wr.key)))
    for wr in sc["in_list_lost"][:per_class]:
        w("    in the list, lost from the string's history %s: %s; %s" % (ch.keys[wr.key], ack_text(wr), parts_text(wr.key)))
    return out


def report(ch, final, unreadable, faults):
    a = ch.args
    # Merge the per-thread ack logs, in ack-time order (ms).
    rows = []
    for acks in ch.logs:
        rows.extend(zip((t // 1000 for t in acks.t), acks.slot, acks.node, acks.key, acks.value, acks.waited))
    rows.sort()
    names = {i: addr for addr, i in ch.nodes.items()}
    unread = set(unreadable)
    writes, reads = collect(ch)
    hist = analyze_history(writes, reads, final, ch.refused, faults, ch.topo.history)
    fault_ms = [f["t_ms"] for f in faults]

    def rel(t_ms):
        """Offset from the nearest fault, "F3+882ms" (wall clock without events)."""
        if not fault_ms:
            return clock(t_ms)
        n = min(range(len(fault_ms)), key=lambda i: abs(t_ms - fault_ms[i]))
        return "F%d%+dms" % (n + 1, int(round(t_ms - fault_ms[n])))

    def at(t_ms):
        return "%s (%s)" % (clock(t_ms), rel(t_ms)) if fault_ms else clock(t_ms)

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
                            % (ch.keys[k], v, at(t), names.get(node), waited if waited >= 0 else "failed",
                               final.get(k) or "missing"))
    if ch.scripted:
        # Every part, the whole list included.
        def values(k):
            s, h, lst = ch.parts.get(k, (0, 0, []))
            return [s, h] + lst
        corrupt = sum(1 for k in final if any(y > ch.issued[k] or y < 0 for y in values(k)))
        refused_final = sum(1 for k in final if any(y and y in ch.refused.get(k, ()) for y in values(k)))
        sc = analyze_scripts(ch.parts, writes, hist["cat"])
    else:
        corrupt = sum(1 for k, y in final.items() if y > ch.issued[k])
        refused_final = sum(1 for k, y in final.items() if y and y in ch.refused.get(k, ()))
        sc = None

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
                    lost_during += i in lost_rows or hist["cat"].get((k, v)) == LOST
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
    w("workload: run %s, %d keys, %d writers, %d readers (rate cap %s/s each), %s + WAIT 1 %d, %.1f s"
      % (ch.run_id, a.keys, a.writers, a.readers, a.rate or "no",
         "script (EVALSHA: SET + HSET + RPUSH)" if ch.scripted else "SET", a.wait_ms,
         (ch.stopped_ms - ch.started_ms) / 1000.0))
    w("")
    w("faults (%d):" % len(faults))
    if faults:
        w("  (times from the fault: undone = restarted/resumed/healed; promoted = another node claims the")
        w("   victim's first slot in its own CLUSTER NODES; healed = run.sh saw the cluster healthy; first")
        w("   write = first acknowledged write to the victim's slots, on another node if one took any;")
        w("   outage = longest time without an acknowledged write to those slots, fault to healed;")
        w("   lost = at the final read-back or lost then overwritten, see the history check)")
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
    w("  acknowledged (%-10s             %8d" % ("script OK)" if ch.scripted else "SET OK)", acked_total))
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
    if sc is not None:
        out.extend(script_section(ch, sc, final, at))
        w("")
    out.extend(history_section(ch, hist, final, at, rel))
    w("")
    w("errors by kind (per command; MOVED/ASK were followed%s):" % (
        "; NOSCRIPT was followed by EVAL" if ch.scripted else ""))
    ops = (ch.write_op, "wait", "get", "readback")
    kinds = sorted({k for (_, k) in ch.stats.errors})
    if kinds:
        w("  %-20s" % "" + "".join("%10s" % o for o in ops))
        for kind in kinds:
            w("  %-20s" % kind + "".join("%10d" % ch.stats.errors[(o, kind)] for o in ops))
    else:
        w("  none")
    w("")
    # Class (a) is as much a WAIT-acknowledged loss as one the read-back sees.
    lost_a = sum(1 for wr, _ in hist["lost"] if wr.waited >= 1)
    lost_b = len(hist["lost"]) - lost_a
    # --scripted: WAIT-confirmed values only the list shows lost, and atomicity failures.
    lost_list = len(sc["list_only_a"]) if sc else 0
    torn = (len(sc["torn"]) + ch.torn_before + len(sc["twice"])) if sc else 0
    torn_text = ("%d torn scripts (%d keys torn at the read-back, %d writes found a torn key, %d values applied twice)"
                 % (torn, len(sc["torn"]), ch.torn_before, len(sc["twice"]))) if torn else ""
    if lost_wait or lost_a or lost_list:
        verdict, code = "FAIL: %d WAIT-acknowledged writes lost (%d at the final read-back, %d lost then overwritten%s)%s" % (
            lost_wait + lost_a + lost_list, lost_wait, lost_a,
            ", %d missing from the list only" % lost_list if sc else "", "; " + torn_text if torn else ""), 1
    elif torn:
        verdict, code = "FAIL: " + torn_text, 1
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
        "history": {
            "lost_overwritten_wait": lost_a, "lost_overwritten_async": lost_b,
            "maybe_delayed_overwrite": len(hist["delayed"]), "undetermined": len(hist["undetermined"]),
            "history_stops": dict(hist["breaks"]),
            "anomalies": [{"key": ch.keys[k], "what": what, "value": v} for k, what, v in hist["anomalies"][:20]],
            "stale_reads": dict(hist["read_counts"]),
            "lost_examples": [
                {"key": ch.keys[wr.key], "value": wr.value, "node": wr.node, "ack_ms": int(wr.done), "waited": wr.waited,
                 "replaced_by": e[0], "over": e[1], "how": e[2]} for wr, e in hist["lost"][:50]],
            "stale_read_examples": {
                cls: [{"key": ch.keys[x["read"].key], "got": x["read"].value, "node": x["read"].node,
                       "sent_ms": int(x["read"].sent), "newest_acked": x["newest"].value,
                       "newest_acked_node": x["newest"].node, "newest_acked_ms": int(x["newest"].done),
                       "newest_acked_waited": x["newest"].waited,
                       "owner": x["owner"][1] if x["owner"] else None,
                       "owner_since_ms": int(x["owner"][0]) if x["owner"] else None,
                       "owner_source": x["owner"][3] if x["owner"] else None} for x in xs[:20]]
                for cls, xs in hist["read_examples"].items()},
        },
        "errors": {"%s %s" % k: n for k, n in ch.stats.errors.items()},
        "scripted": None if sc is None else {
            "torn_at_readback": len(sc["torn"]), "torn_before_write": ch.torn_before, "applied_twice": len(sc["twice"]),
            "missing_from_list": len(sc["list_lost"]),
            "missing_from_list_wait": sum(1 for wr, _ in sc["list_lost"] if wr.waited >= 1),
            "missing_from_list_only_wait": lost_list, "missing_from_list_only_async": len(sc["list_only_b"]),
            "on_string_history_not_in_list": len(sc["on_string_not_list"]),
            "in_list_lost_from_string_history": len(sc["in_list_lost"]),
            "torn_examples": [{"key": ch.keys[k], "string": x, "field": y, "list_last": z} for k, x, y, z in sc["torn"][:20]],
            "torn_before_examples": ch.torn_before_examples,
            "script_load": ch.script_loads,
        },
        "faults": [{k: v for k, v in f.items() if k != "slot_set"} for f in faults],
        "verdict": verdict, "exit": code,
    }
    return text, summary, code


def self_test():
    """Synthetic runs through analyze_history and report(): no cluster needed.
    Nodes "A"/"B" stand for addresses, times are ms, one key per scenario."""

    def ack(v, node, done, prev, waited=1, conn=1, k=0, slot=0):
        return Write(k, v, slot, node, done - 1, done, True, prev, waited, done + 1 if waited >= 0 else None, conn, False)

    def amb(v, node, sent, timeout, conn=1, k=0, slot=0):
        return Write(k, v, slot, node, sent, sent + 500, False, None, -1, None, conn, timeout)

    def read(node, sent, value, k=0, slot=0):
        return Read(k, slot, node, sent, sent + 1, value)

    def fault(kind, node, t_ms, promoted_ms=None, promoted_node=None, slots=(0, 5460)):
        f = {"kind": kind, "node": node, "t_ms": t_ms, "slots": "%d-%d" % slots,
             "slot_set": set(range(slots[0], slots[1] + 1))}
        if promoted_ms:
            f.update(promoted_ms=promoted_ms, promoted_node=promoted_node)
        return f

    def run(writes, final, reads=(), faults=(), refused=None, topo=()):
        return analyze_history(list(writes), list(reads), final, refused or {}, list(faults), list(topo))

    kill_a = [fault("kill", "A", 1000, 2000, "B")]
    # 1. Async write lost at a failover, then overwritten: only the history sees it.
    h = run([ack(1, "A", 100, 0), ack(2, "A", 900, 1, waited=0), ack(3, "B", 2500, 1)], {0: 3},
            [read("B", 2200, 1), read("B", 2600, 3)], kill_a)
    assert [(wr.value, e) for wr, e in h["lost"]] == [(2, (3, 1, "set-get"))], h["lost"]
    assert h["cat"][(0, 1)] == h["cat"][(0, 3)] == SURVIVED
    assert dict(h["read_counts"]) == {"saw-lost-b": 1}, h["read_counts"]
    assert h["first_read_missing"](h["lost"][0][0]).sent == 2200
    # 2. The same with WAIT confirmation: class (a).
    h = run([ack(1, "A", 100, 0), ack(2, "A", 900, 1, waited=1), ack(3, "B", 2500, 1)], {0: 3},
            [read("B", 2200, 1)], kill_a)
    assert len(h["lost"]) == 1 and h["lost"][0][0].waited == 1
    assert dict(h["read_counts"]) == {"saw-lost-a": 1}
    # 3. Old primary serving after the takeover (partition): stale, non-owner;
    #    the same read sent a hair before the newer value's ack came back is
    #    not stale; without any takeover evidence it is "owner as far as known".
    part = [fault("partition", "A", 1000, 2000, "B")]
    ws = [ack(1, "A", 100, 0), ack(2, "B", 2100, 1)]
    h = run(ws, {0: 2}, [read("A", 2300, 1), read("A", 2099.5, 1), read("A", 1900, 1)], part)
    assert not h["lost"] and dict(h["read_counts"]) == {"stale-nonowner": 1}, h["read_counts"]
    x = h["read_examples"]["stale-nonowner"][0]
    assert x["owner"][1] == "B" and x["owner"][0] == 2000 and x["newest"].value == 2
    h = run(ws, {0: 2}, [read("A", 2300, 1)])
    assert dict(h["read_counts"]) == {"stale-owner": 1}
    #    Evidence from the first write another node acked after the fault
    #    (no PROMOTED line) and from our slot map's history.
    h = run(ws, {0: 2}, [read("A", 2300, 1)], [fault("partition", "A", 1000)])
    assert dict(h["read_counts"]) == {"stale-nonowner": 1} and h["read_examples"]["stale-nonowner"][0]["owner"][0] == 2100
    topo = [(0, "A", [(0, 16383)]), (2200, "B", [(0, 5460)])]
    h = run(ws + [ack(1, "A", 100, 0, k=1, slot=6000), ack(2, "A", 2100, 1, k=1, slot=6000)], {0: 2, 1: 2},
            [read("A", 2300, 1), read("A", 2300, 1, k=1, slot=6000)], topo=topo)
    assert dict(h["read_counts"]) == {"stale-nonowner": 1, "stale-owner": 1}, h["read_counts"]
    # 4. An ambiguous write on the history: its predecessor is inferred when
    #    the same connection carried it, or when the events show no kill or
    #    promotion of that node in between; otherwise the history stops there.
    base = [ack(1, "A", 100, 0, conn=5), ack(3, "B", 3000, 2)]
    h = run(base + [amb(2, "A", 200, False, conn=5)], {0: 3})
    assert not h["breaks"] and not h["lost"] and not h["undetermined"]
    h = run(base + [amb(2, "A", 200, False, conn=6)], {0: 3}, faults=[fault("kill", "A", 150, 1500, "B")])
    assert h["breaks"] and h["cat"][(0, 1)] == UNDETERMINED and not h["lost"]
    h = run(base + [amb(2, "A", 200, False, conn=6)], {0: 3}, faults=[fault("pause", "A", 150, 1500, "B")])
    assert not h["breaks"] and h["cat"][(0, 1)] == SURVIVED
    h = run(base + [amb(2, "A", 200, False, conn=6)], {0: 3})
    assert h["breaks"] and h["cat"][(0, 1)] == UNDETERMINED
    #    An ambiguous write whose last acked predecessor is on another node:
    #    unknown which data it landed on.
    h = run([ack(1, "B", 100, 0), amb(2, "A", 200, False), ack(3, "A", 3000, 2)], {0: 3})
    assert h["breaks"] and h["cat"][(0, 1)] == UNDETERMINED
    # 5. A timed-out SET applied late on the node that acked a newer value
    #    overwrites that value: "maybe delayed", not a loss.
    h = run([ack(1, "A", 100, 0, conn=1), amb(2, "A", 200, True, conn=1), ack(3, "A", 800, 1, conn=2),
             ack(4, "A", 1500, 2, conn=2)], {0: 4}, [read("A", 1000, 2)])
    assert not h["lost"] and h["cat"][(0, 3)] == DELAYED and h["cat"][(0, 1)] == SURVIVED
    assert dict(h["read_counts"]) == {"undetermined": 1}
    #    ... but a value acked on another node than the timed-out SET went to
    #    was lost for real.
    h = run([ack(1, "A", 100, 0, conn=1), amb(2, "A", 200, True, conn=1), ack(3, "B", 800, 1),
             ack(4, "A", 1500, 2, conn=2)], {0: 4})
    assert [wr.value for wr, _ in h["lost"]] == [3]
    # 6. Above the final value: the read-back's loss, not counted again here.
    h = run([ack(1, "A", 100, 0), ack(2, "A", 200, 1)], {0: 1})
    assert h["cat"][(0, 2)] == FINAL_LOST and not h["lost"]
    # 7. A refused value in the history is an anomaly and stops it.
    h = run([ack(1, "A", 100, 0), ack(3, "A", 300, 2)], {0: 3}, refused={0: {2}})
    assert h["anomalies"] == [(0, "refused value in history", 2)] and h["cat"][(0, 1)] == UNDETERMINED
    # 8. A node restarted empty and took writes: everything before is lost;
    #    a read of no value counts as missing them.
    h = run([ack(1, "A", 100, 0), ack(2, "A", 200, 1, waited=0), ack(3, "A", 300, 0)], {0: 3},
            [read("A", 250, 0)])
    assert sorted(wr.value for wr, _ in h["lost"]) == [1, 2] and dict(h["read_counts"]) == {"saw-lost-a": 1}
    # 9. A read newer than everything acked, and one in flight: not stale.
    h = run([ack(1, "A", 100, 0), ack(2, "A", 200, 1)], {0: 2}, [read("A", 150, 2), read("A", 50, 0)])
    assert not h["read_counts"]
    # 10. Unread keys: undetermined, nothing counted.
    h = run([ack(1, "A", 100, 0), ack(2, "A", 200, 0)], {}, [read("A", 300, 0)])
    assert not h["lost"] and dict(h["read_counts"]) == {"undetermined": 1}

    topology_self_test()
    scripted_self_test(ack, amb, run)

    # report() end to end on scenario 2 + 3 (two keys), through the real logs.
    args = argparse.Namespace(nodes=["A", "B"], keys=2, writers=1, readers=1, rate=0, wait_ms=500)
    ch = Checker(args)
    ch.nodes = {"A": 0, "B": 1}
    log_ = AckLog()
    base_ms = 1796176611000
    for k, v, node, done, prev, waited in ((0, 1, 0, 100, 0, 1), (0, 2, 0, 900, 1, 1), (0, 3, 1, 2500, 1, 1),
                                           (1, 1, 0, 100, 0, 1), (1, 2, 1, 2100, 1, 1)):
        t = (base_ms + done) * 1000
        log_.add(t, t - 1000, t + 500, ch.key_slots[k], node, k, v, prev, waited, 1)
    ch.logs, ch.amb_logs = [log_], [[]]
    rl = ReadLog()
    for k, node, sent, v in ((0, 1, 2200, 1), (1, 0, 2300, 1)):
        rl.add((base_ms + sent) * 1000, (base_ms + sent + 1) * 1000, ch.key_slots[k], node, k, v)
    ch.read_logs = [rl]
    ch.issued = [3, 2]
    ch.stats.totals.update({"acked+wait": 5})
    ch.started_ms, ch.stopped_ms = base_ms, base_ms + 3000
    faults = [fault("kill", "A", base_ms + 1000, base_ms + 2000, "B", slots=(0, 16383))]
    faults[0].update(recover_ms=base_ms + 3000, healed_ms=base_ms + 3100)
    text, summary, code = report(ch, {0: 3, 1: 2}, [], faults)
    assert code == 1 and "1 lost then overwritten" in summary["verdict"], summary["verdict"]
    assert summary["history"]["stale_reads"] == {"saw-lost-a": 1, "stale-nonowner": 1}, summary["history"]
    assert "(F1-100ms)" in text and "(F1+1200ms)" in text, text
    json.dumps(summary)
    sys.stdout.write(text)
    print("self-test passed")
    return 0


def scripted_self_test(ack, amb, run):
    """analyze_scripts() and a --scripted report() on synthetic runs."""

    def check(writes, parts, faults=()):
        final = {k: min(s, h, lst[-1] if lst else 0) for k, (s, h, lst) in parts.items()}
        h = run(writes, final, faults=faults)
        return h, analyze_scripts(parts, writes, h["cat"])

    chain = [ack(1, "A", 100, 0), ack(2, "A", 200, 1), ack(3, "A", 300, 2)]
    # All three parts agree and the list has every value: nothing to say.
    h, sc = check(chain, {0: (3, 3, [1, 2, 3])})
    assert not any(sc[x] for x in ("torn", "twice", "list_lost", "in_list_lost")), sc
    # The list lost the last script's element: torn, and the final value is
    # the oldest part, so the read-back sees 3 lost (not the list check).
    h, sc = check(chain, {0: (3, 3, [1, 2])})
    assert sc["torn"] == [(0, 3, 3, 2)] and h["cat"][(0, 3)] == FINAL_LOST and not sc["list_lost"]
    # A value on the string's history but not in the list: lost by the list.
    h, sc = check(chain, {0: (3, 3, [1, 3])})
    assert [w.value for w in sc["list_only_a"]] == [2] and [w.value for w in sc["on_string_not_list"]] == [2]
    assert not sc["torn"]
    # A value applied twice.
    h, sc = check(chain, {0: (3, 3, [1, 2, 2, 3])})
    assert sc["twice"] == [(0, 2, 2)], sc["twice"]
    # "Maybe delayed" (self-test 5): the list tells. 3 in it, before the
    # late 2: not lost; not in it: lost.
    delayed = [ack(1, "A", 100, 0, conn=1), amb(2, "A", 200, True, conn=1), ack(3, "A", 800, 1, conn=2),
               ack(4, "A", 1500, 2, conn=2)]
    h, sc = check(delayed, {0: (4, 4, [1, 3, 2, 4])})
    assert h["cat"][(0, 3)] == DELAYED and not sc["list_lost"]
    h, sc = check(delayed, {0: (4, 4, [1, 2, 4])})
    assert [(w.value, c) for w, c in sc["list_lost"]] == [(3, DELAYED)] and len(sc["list_only_a"]) == 1
    # Lost from the string's history (self-test 1) yet in the list: they disagree.
    lost = [ack(1, "A", 100, 0), ack(2, "A", 900, 1, waited=0), ack(3, "B", 2500, 1)]
    h, sc = check(lost, {0: (3, 3, [1, 2, 3])})
    assert [w.value for w in sc["in_list_lost"]] == [2] and not sc["list_lost"]
    h, sc = check(lost, {0: (3, 3, [1, 3])})
    assert [(w.value, c) for w, c in sc["list_lost"]] == [(2, LOST)] and not sc["list_only_b"]
    # The string's history stops at an ambiguous write on another node (a
    # synchronous write's NOREPLICAS on a new primary); the list settles
    # what lies below it: in it, survived; missing, lost.
    cut = [ack(1, "A", 100, 0), amb(2, "B", 1500, False), ack(3, "B", 2500, 2)]
    h, sc = check(cut, {0: (3, 3, [1, 2, 3])})
    assert h["cat"][(0, 1)] == UNDETERMINED and (sc["judged"], sc["settled"]) == (2, 1) and not sc["list_lost"]
    h, sc = check(cut, {0: (3, 3, [2, 3])})
    assert [(w.value, c) for w, c in sc["list_lost"]] == [(1, UNDETERMINED)] and sc["settled"] == 0

    # report(): a torn key fails the run even with nothing lost; a value
    # missing from the list only is a WAIT-acknowledged loss.
    args = argparse.Namespace(nodes=["A"], keys=2, writers=1, readers=0, rate=0, wait_ms=500, scripted=True)
    ch = Checker(args)
    assert ch.keys[0].startswith("{chaos:") and key_slot(script_keys(ch.keys[0])[2].encode()) == ch.key_slots[0]
    ch.nodes = {"A": 0}
    base_ms = 1796176611000
    log_ = AckLog()
    for k, v, prev in ((0, 1, 0), (0, 2, 1), (1, 1, 0), (1, 2, 1), (1, 3, 2)):
        t = (base_ms + 100 * v) * 1000
        log_.add(t, t - 1000, t + 500, ch.key_slots[k], 0, k, v, prev, 1, 1)
    ch.logs, ch.amb_logs, ch.read_logs = [log_], [[]], []
    ch.issued = [2, 3]
    ch.stats.totals.update({"acked+wait": 5})
    ch.started_ms, ch.stopped_ms = base_ms, base_ms + 1000
    ch.parts = {0: (2, 1, [1, 2]), 1: (3, 3, [1, 2, 3])}
    text, summary, code = report(ch, {0: 1, 1: 3}, [], [])
    assert code == 1 and summary["lost_wait"] == 1 and "1 torn scripts" in summary["verdict"], summary["verdict"]
    ch.parts = {0: (2, 2, [1, 2]), 1: (3, 3, [1, 3])}
    text, summary, code = report(ch, {0: 2, 1: 3}, [], [])
    assert code == 1 and "1 missing from the list only" in summary["verdict"] and "torn" not in summary["verdict"]
    ch.parts = {0: (2, 2, [1, 2]), 1: (3, 3, [1, 2, 3])}
    ch.torn_before = 1
    text, summary, code = report(ch, {0: 2, 1: 3}, [], [])
    assert code == 1 and summary["verdict"].startswith("FAIL: 1 torn scripts"), summary["verdict"]
    ch.torn_before = 0
    text, summary, code = report(ch, {0: 2, 1: 3}, [], [])
    assert code == 0 and "script check" in text, summary["verdict"]
    json.dumps(summary)


def topology_self_test():
    """Topology without a cluster: the slot map built from CLUSTER NODES
    texts, and the refresh's timing with a fake node that never answers."""

    def line(addr, flags, epoch, *slots):
        return "%s %s@1 %s - 0 0 %d connected %s" % (addr.replace(":", "") * 4, addr, flags, epoch, " ".join(slots))

    def view(*lines):
        return "\n".join(lines) + "\n"

    A, B, C, D = "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"
    t = Topology([A, B])
    assert t.merge([view(line(A, "myself,master", 1, "0-8191"), line(B, "master", 2, "8192-16383"),
                         line(C, "slave", 1), line(D, "slave", 2))])
    assert t.owner[0] == A and t.owner[8191] == A and t.owner[8192] == B and t.known == [A, B, C, D]
    # A partitioned old primary still claims its slots with a lower epoch; a
    # failed one is not a claim; the highest epoch wins whatever the order.
    promoted = view(line(A, "master,fail", 1), line(B, "myself,master", 2, "8192-16383"),
                    line(C, "master", 3, "0-8191"), line(D, "slave", 2))
    stale = view(line(A, "myself,master", 1, "0-8191"), line(B, "master", 2, "8192-16383"),
                 line(C, "slave", 1), line(D, "slave", 2))
    assert t.merge([stale, promoted]) and t.owner[0] == C and t.owner[8191] == C and t.owner[8192] == B
    assert [(o, r) for _, o, r in t.history] == [(A, [(0, 8191)]), (B, [(8192, 16383)]), (C, [(0, 8191)])]
    # A later rebuild that only heard stale views does not undo the promotion.
    t.merge([stale])
    assert t.owner[0] == C and len(t.history) == 3
    # Nobody claims a slot (its owner failed, no promotion yet): kept as it was.
    t.merge([view(line(C, "master,fail", 3), line(B, "myself,master", 2, "8192-16383"))])
    assert t.owner[0] == C
    # Part of a range taken at a higher epoch (a resharded slot), and a tie
    # (equal epochs): the first view's claim wins, as it always did.
    t.merge([view(line(D, "myself,master", 4, "100"), line(C, "master", 3, "0-8191"))])
    assert t.owner[99] == C and t.owner[100] == D and t.owner[101] == C
    t.merge([view(line(A, "master", 9, "16000-16383")), view(line(B, "master", 9, "16000-16383"))])
    assert t.owner[16000] == A and t.owner[15999] == B
    # A MOVED patch lasts until the next rebuild.
    t.moved(5, B)
    assert t.owner[5] == B
    t.merge([promoted])
    assert t.owner[5] == C

    class Fake(Topology):
        """Nodes n1..n6; "frozen" ones never answer (a SIGSTOPped node: the
        question times out after ASK_TIMEOUT_S)."""

        def __init__(self):
            super().__init__(["n%d" % i for i in range(1, 7)])
            self.frozen, self.asked, self.text = {"n6"}, collections.Counter(), stale

        def ask(self, addr):
            self.asked[addr] += 1
            if addr in self.frozen:
                time.sleep(self.ASK_TIMEOUT_S)
                raise redis.exceptions.TimeoutError("Timeout reading from socket")
            time.sleep(0.002)
            return self.text

    # A frozen node costs neither its timeout nor a second question while the
    # first is pending; a majority of answers plus the grace is enough.
    f = Fake()
    t0 = time.monotonic()
    assert f.refresh() and f.owner[0] == A
    took = time.monotonic() - t0
    assert took < f.ASK_TIMEOUT_S / 2, took
    t0 = time.monotonic()
    f.text = promoted
    assert f.refresh() and f.owner[0] == C and f.asked["n6"] == 1 and f.asked["n1"] == 2
    assert time.monotonic() - t0 < f.ASK_TIMEOUT_S / 2
    # Fewer than a majority answering: the rebuild waits for the questions.
    f = Fake()
    f.frozen = {"n4", "n5", "n6"}
    t0 = time.monotonic()
    f.refresh()
    assert time.monotonic() - t0 >= f.ASK_TIMEOUT_S * 0.9 and f.owner[0] == A
    # The background rebuilds: a thread that failed gets a map rebuilt after
    # its failure within about a rebuild's time, not a period.
    f = Fake()
    f.PERIOD_S = 5.0
    stop = threading.Event()
    th = threading.Thread(target=f.loop, args=(stop,), daemon=True)
    th.start()
    assert f.await_refresh(time.monotonic()) and f.owner[0] == A
    time.sleep(0.3)  # the frozen node's first question is over now
    f.text = promoted
    t0 = time.monotonic()
    assert f.await_refresh(t0) and f.owner[0] == C
    assert time.monotonic() - t0 < 0.15, time.monotonic() - t0
    # While trouble is recent, rebuilds come every FAST_S without being asked.
    n = f.refreshes
    time.sleep(0.35)
    assert f.refreshes - n >= 2, f.refreshes - n
    stop.set()
    f.trouble()
    th.join(1)
    assert not th.is_alive()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--nodes", help="comma-separated IP:PORT seed nodes (required)")
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
    p.add_argument("--scripted", action="store_true",
                   help="write with a Lua script (EVALSHA, EVAL on NOSCRIPT) that sets KEY, HSET KEY:h, RPUSH KEY:l "
                        "atomically; the read-back checks all three (see the docstring)")
    p.add_argument("--self-test", action="store_true",
                   help="check the history analysis on synthetic runs (no cluster) and exit")
    args = p.parse_args()
    if args.self_test:
        return self_test()
    if not args.nodes:
        p.error("--nodes is required")
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
