#!/usr/bin/env python3
"""redis-py's RedisCluster against a running ringcache cluster.

usage: cluster_check.py PROTOCOL(2|3) GROUP[,GROUP...] PORT [PORT...]

The first PORT is the only startup node the cluster client is given; the
others are used for direct (non-cluster) connections to check what each node
replies. Groups:
  basic    1,000 keys over all slots, MGET in one hash tag, a pipeline,
           cluster_nodes()/cluster_slots() parsed by redis-py
  ask      a slot moved by hand: -ASK followed with ASKING, then -MOVED
  replica  READONLY on replicas (needs a cluster with replicas), and
           read_from_replicas=True
  pubsub   PUBLISH through the cluster client reaches a subscriber on every
           primary; sharded pub/sub (ssubscribe/spublish) on channels spread
           over every primary
Prints `ok   <check>` or `FAIL <check>` (with a traceback) per check and a final
`N passed, M failed` line; exits 1 if anything failed.
"""
import sys
import time
import traceback
import warnings

import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError

HOST = "127.0.0.1"
TIMEOUT = 10  # seconds, for every socket operation


def eq(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def okay(got, what):
    """A +OK reply, however redis-py's callback for the command renders it."""
    if got not in (True, b"OK", "OK"):
        raise AssertionError(f"{what}: got {got!r}, want OK")


def expect_redirect(fn, kind, slot, port, what):
    """`fn()` must fail with exactly `kind` (AskError or MovedError) to slot, port."""
    try:
        got = fn()
    except AskError as e:
        eq((type(e).__name__, e.slot_id, e.host, e.port), (kind.__name__, slot, HOST, port), what)
    else:
        raise AssertionError(f"{what}: got {got!r}, want -{kind.__name__[:-5].upper()} {slot}")


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    if not cond():
        raise AssertionError(f"timed out waiting for {what}")


class Ctx:
    def __init__(self, proto, ports):
        self.proto = proto
        self.ports = ports
        self.rc = RedisCluster(
            host=HOST,
            port=ports[0],
            protocol=proto,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
        )

    def direct(self, port, **kw):
        """A plain (non-cluster) single-connection client to one node."""
        return redis.Redis(
            host=HOST,
            port=port,
            protocol=self.proto,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            single_connection_client=True,
            **kw,
        )

    def node_id(self, port):
        return self.direct(port).execute_command("CLUSTER MYID").decode()

    def slot_map(self, port):
        """[(start, end, primary port)] from `port`'s CLUSTER SLOTS."""
        return [(r[0], r[1], r[2][1]) for r in self.direct(port).execute_command("CLUSTER SLOTS")]

    def owner_port(self, port, slot, slot_map=None):
        """The port of the primary that `port`'s node (or `slot_map`) says owns `slot`."""
        for lo, hi, p in slot_map or self.slot_map(port):
            if lo <= slot <= hi:
                return p
        return None

    def primaries(self):
        """Ports of the primaries, as the first node's CLUSTER SLOTS lists them."""
        out = []
        for r in self.direct(self.ports[0]).execute_command("CLUSTER SLOTS"):
            if r[2][1] not in out:
                out.append(r[2][1])
        return sorted(out)

    def cached_port(self, slot):
        """The primary redis-py's slot cache holds for `slot`."""
        return self.rc.nodes_manager.get_node_from_slot(slot).port

    def asking_calls(self, port):
        """`cmdstat_asking` calls on one node (0 before the first)."""
        stats = self.direct(port).info("commandstats")
        return stats.get("cmdstat_asking", {}).get("calls", 0)


CHECKS = {}


def check(group):
    def wrap(fn):
        CHECKS.setdefault(group, []).append(fn)
        return fn

    return wrap


# ---- basic ----


@check("basic")
def discovers_every_node_from_one(c):
    eq(c.rc.get_node(HOST, c.ports[0]) is not None, True, "startup node known")
    got = sorted(n.port for n in c.rc.get_nodes())
    eq(got, sorted(c.ports), "nodes redis-py found through one startup node")
    eq(sorted(n.port for n in c.rc.get_primaries()), c.primaries(), "primaries")


@check("basic")
def set_get_1000_keys_over_all_primaries(c):
    keys = [f"key:{i}" for i in range(1000)]
    before = {p: c.direct(p).dbsize() for p in c.primaries()}
    total_before = c.rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
    for i, k in enumerate(keys):
        eq(c.rc.set(k, f"v{i}"), True, f"SET {k}")
    for i, k in enumerate(keys):
        eq(c.rc.get(k), f"v{i}".encode(), f"GET {k}")
    # Every key landed on the primary that owns its slot, and every primary got some.
    per_node = {}
    slots = c.slot_map(c.ports[0])
    for k in keys:
        per_node.setdefault(c.owner_port(None, c.rc.keyslot(k), slots), []).append(k)
    eq(sorted(per_node), c.primaries(), "primaries holding the keys")
    for port, ks in per_node.items():
        d = c.direct(port)
        eq(d.dbsize() - before[port], len(ks), f"new keys in DBSIZE on {port}")
        eq(d.get(ks[0]), f"v{keys.index(ks[0])}".encode(), f"direct GET {ks[0]} on {port}")
    total = c.rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
    eq(total - total_before, 1000, "new keys in DBSIZE summed over the primaries")


@check("basic")
def non_owner_replies_moved(c):
    k = "key:0"
    slot = c.rc.keyslot(k)
    owner = c.owner_port(c.ports[0], slot)
    other = next(p for p in c.primaries() if p != owner)
    expect_redirect(lambda: c.direct(other).get(k), MovedError, slot, owner, f"GET {k} on non-owner")
    expect_redirect(lambda: c.direct(other).set(k, "x"), MovedError, slot, owner, f"SET {k} on non-owner")


@check("basic")
def mget_in_one_hash_tag(c):
    mapping = {f"{{user:42}}:f{i}": f"x{i}" for i in range(20)}
    eq(c.rc.mset(mapping), True, "MSET {user:42}")
    keys = list(mapping) + ["{user:42}:missing"]
    want = [v.encode() for v in mapping.values()] + [None]
    eq(c.rc.mget(keys), want, "MGET {user:42}")
    # Across slots redis-py splits it per node itself.
    eq(c.rc.mget_nonatomic(["key:1", "key:2", "key:3", "nokey"]), [b"v1", b"v2", b"v3", None])
    eq(c.rc.delete(*mapping), 20, "DEL {user:42}")


@check("basic")
def pipeline_across_slots(c):
    p = c.rc.pipeline()
    for i in range(300):
        p.set(f"pipe:{i}", i)
    for i in range(300):
        p.get(f"pipe:{i}")
    p.incr("pipe:counter")
    p.incr("pipe:counter")
    res = p.execute()
    eq(res[:300], [True] * 300, "pipelined SETs")
    eq(res[300:600], [str(i).encode() for i in range(300)], "pipelined GETs")
    eq(res[600:], [1, 2], "pipelined INCRs")
    slots = c.slot_map(c.ports[0])
    owners = {c.owner_port(None, c.rc.keyslot(f"pipe:{i}"), slots) for i in range(300)}
    eq(sorted(owners), c.primaries(), "the pipeline spanned every primary")


@check("basic")
def cluster_nodes_parsed(c):
    nodes = c.rc.cluster_nodes()
    eq(sorted(int(a.rsplit(":", 1)[1]) for a in nodes), sorted(c.ports), "CLUSTER NODES addresses")
    covered = 0
    masters = 0
    for addr, n in nodes.items():
        port = int(addr.rsplit(":", 1)[1])
        eq(n["node_id"], c.node_id(port), f"id of {addr}")
        eq(n["connected"], True, f"{addr} connected")
        eq(n["migrations"], [], f"{addr} migrations")
        if "master" in n["flags"].split(","):
            masters += 1
            eq(n["master_id"], "-", f"{addr} master_id")
            for r in n["slots"]:
                lo, hi = int(r[0]), int(r[-1])
                covered += hi - lo + 1
        else:
            eq("slave" in n["flags"].split(","), True, f"{addr} flags {n['flags']}")
            eq(n["slots"], [], f"replica {addr} slots")
    eq(masters, len(c.primaries()), "masters in CLUSTER NODES")
    eq(covered, 16384, "slots covered in CLUSTER NODES")


@check("basic")
def cluster_slots_parsed(c):
    slots = c.rc.cluster_slots()
    eq(isinstance(slots, dict), True, f"parsed CLUSTER SLOTS is a dict: {slots!r}")
    covered = 0
    for (lo, hi), info in slots.items():
        covered += hi - lo + 1
        host, port = info["primary"]
        eq((str(host), port in c.primaries()), (HOST, True), f"primary of {lo}-{hi}")
        eq(c.owner_port(c.ports[0], lo), port, f"owner of {lo}")
        for host, port in info["replicas"]:
            eq((str(host), port in c.ports and port not in c.primaries()), (HOST, True), "replica")
    eq(covered, 16384, "slots covered in CLUSTER SLOTS")


# ---- ask ----


@check("ask")
def ask_then_moved(c):
    rc = c.rc
    tag = f"{{ask{c.proto}}}"
    moved, stays, fresh = f"{tag}:moved", f"{tag}:stays", f"{tag}:fresh"
    slot = rc.keyslot(moved)
    src = c.owner_port(c.ports[0], slot)
    dst = next(p for p in c.primaries() if p != src)
    src_id, dst_id = c.node_id(src), c.node_id(dst)
    print(f"     slot {slot}: {src} -> {dst}")
    eq(rc.set(moved, "m1"), True, f"SET {moved}")
    eq(rc.set(stays, "s1"), True, f"SET {stays}")
    eq(c.cached_port(slot), src, "redis-py's owner before the move")

    s, d = c.direct(src), c.direct(dst)
    okay(d.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id), "IMPORTING")
    okay(s.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id), "MIGRATING")
    okay(s.execute_command("MIGRATE", HOST, dst, "", 0, 5000, "KEYS", moved), "MIGRATE")

    # What the nodes reply to a client that does not follow redirects.
    expect_redirect(lambda: s.get(moved), AskError, slot, dst, f"GET {moved} on the source")
    eq(s.get(stays), b"s1", "source serves a key it still holds")
    expect_redirect(lambda: d.get(moved), MovedError, slot, src, "target without ASKING")
    okay(d.execute_command("ASKING"), "ASKING")
    eq(d.get(moved), b"m1", "target after ASKING")

    # redis-py: follows -ASK with ASKING, without re-pointing the slot.
    before = c.asking_calls(dst)
    eq(rc.get(moved), b"m1", f"redis-py GET {moved} (on the target now)")
    eq(c.asking_calls(dst) > before, True, "redis-py sent ASKING to the target")
    eq(rc.get(stays), b"s1", f"redis-py GET {stays} (still on the source)")
    eq(rc.set(fresh, "f1"), True, f"redis-py SET {fresh} (new key goes to the target)")
    okay(d.execute_command("ASKING"), "ASKING")
    eq(d.get(fresh), b"f1", "the new key is on the target")
    expect_redirect(lambda: s.exists(fresh), AskError, slot, dst, "and not on the source")
    eq(c.cached_port(slot), src, "an ASK does not change redis-py's slot owner")

    # Finish: move what is left, then SETSLOT NODE everywhere.
    for _ in range(100):
        left = s.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
        if not left:
            break
        okay(s.execute_command("MIGRATE", HOST, dst, "", 0, 5000, "KEYS", *left), "MIGRATE rest")
    eq(s.execute_command("CLUSTER COUNTKEYSINSLOT", slot), 0, "source emptied")
    okay(d.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id), "NODE on target")
    okay(s.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id), "NODE on source")
    for p in c.primaries():
        if p not in (src, dst):
            okay(c.direct(p).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id), "NODE")
    for p in c.ports:
        wait_for(lambda: c.owner_port(p, slot) == dst, f"node {p} to see {dst} own slot {slot}")
    expect_redirect(lambda: s.get(moved), MovedError, slot, dst, "source after the move")

    # redis-py: still thinks the source owns it, gets MOVED, follows and re-points.
    eq(c.cached_port(slot), src, "redis-py's owner before the MOVED")
    eq(rc.get(moved), b"m1", f"redis-py GET {moved} after the move")
    eq(c.cached_port(slot), dst, "redis-py re-pointed the slot after MOVED")
    eq(rc.get(stays), b"s1", f"redis-py GET {stays} after the move")
    eq(rc.set(stays, "s2"), True, "redis-py SET after the move")
    eq(d.get(stays), b"s2", "the write went to the new owner")
    eq(rc.get(fresh), b"f1", f"redis-py GET {fresh} after the move")


# ---- replica ----


def myself(c, port):
    """(flags, primary id) of a node's own CLUSTER NODES line."""
    r = c.direct(port).execute_command("CLUSTER NODES")
    if isinstance(r, dict):  # redis-py parsed it
        me = next(v for v in r.values() if "myself" in v["flags"].split(","))
        return me["flags"].split(","), me["master_id"]
    line = next(l for l in r.decode().splitlines() if "myself" in l.split(" ")[2])
    f = line.split(" ")
    return f[2].split(","), f[3]


def replica_pairs(c):
    """[(replica port, its primary's port)]."""
    ids = {c.node_id(p): p for p in c.ports}
    pairs = []
    for p in c.ports:
        flags, master = myself(c, p)
        if "slave" in flags:
            pairs.append((p, ids[master]))
    return pairs


@check("replica")
def replicas_serve_reads_after_readonly(c):
    pairs = replica_pairs(c)
    eq(sorted(p for _, p in pairs), c.primaries(), "one replica per primary")
    for replica, primary in pairs:
        # A key in this primary's slots.
        slots = c.slot_map(replica)
        key = next(f"ro:{i}" for i in range(10000) if c.owner_port(None, c.rc.keyslot(f"ro:{i}"), slots) == primary)
        slot = c.rc.keyslot(key)
        eq(c.rc.set(key, "on-primary"), True, f"SET {key}")
        eq(c.direct(primary).get(key), b"on-primary", f"GET {key} on its primary")
        eq(c.direct(primary).execute_command("WAIT", 1, 5000), 1, f"WAIT for {key} to reach the replica")
        # Without READONLY: MOVED to the primary, for reads as for writes.
        plain = c.direct(replica)
        expect_redirect(lambda: plain.get(key), MovedError, slot, primary, f"GET on replica {replica}")
        expect_redirect(lambda: plain.set(key, "x"), MovedError, slot, primary, f"SET on replica {replica}")
        # With READONLY: reads answered locally, from the replicated data.
        ro = c.direct(replica)
        okay(ro.execute_command("READONLY"), f"READONLY on {replica}")
        eq(ro.get(key), b"on-primary", f"GET {key} on replica {replica} after READONLY")
        eq(ro.exists(key), 1, f"EXISTS {key} on replica {replica} after READONLY")
        expect_redirect(lambda: ro.set(key, "x"), MovedError, slot, primary, "a write after READONLY")
        okay(ro.execute_command("READWRITE"), "READWRITE")
        expect_redirect(lambda: ro.get(key), MovedError, slot, primary, "GET after READWRITE")
        okay(c.direct(primary).execute_command("READONLY"), "READONLY on a primary")


@check("replica")
def read_from_replicas_client(c):
    with warnings.catch_warnings():
        # Deprecated in favour of load_balancing_strategy, still supported.
        warnings.simplefilter("ignore", DeprecationWarning)
        rr = RedisCluster(
            host=HOST,
            port=c.ports[0],
            protocol=c.proto,
            read_from_replicas=True,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
        )
    eq(len(rr.get_replicas()), len(c.primaries()), "replicas redis-py found")
    keys = [f"rr:{i}" for i in range(50)]
    for k in keys:
        eq(rr.set(k, "v"), True, f"SET {k} (writes go to primaries)")
    for p in c.primaries():
        eq(c.direct(p).execute_command("WAIT", 1, 5000), 1, f"WAIT on primary {p}")
    # Round robin over primary and replica: both answer "v", the replicas from
    # their replicated data. No redirect reaches the caller.
    def replica_gets():
        return sum(c.direct(n.port).info("commandstats").get("cmdstat_get", {}).get("calls", 0)
                   for n in rr.get_replicas())
    before = replica_gets()
    seen = set()
    for _ in range(4):
        for k in keys:
            seen.add(rr.get(k))
    eq(seen, {b"v"}, "values read through read_from_replicas")
    eq(replica_gets() > before, True, "replicas served some of the reads")


def collect(pubsub, get, want, what):
    """Reads messages with `get` until `want` (a set of (channel, data)) is seen."""
    seen = set()
    deadline = time.monotonic() + TIMEOUT
    while seen != want and time.monotonic() < deadline:
        m = get(pubsub)
        if m and m["type"] in ("message", "smessage"):
            seen.add((m["channel"], m["data"]))
    eq(seen, want, what)


@check("pubsub")
def publish_reaches_subscribers_on_every_primary(c):
    subs = []
    for port in c.primaries():
        p = c.direct(port).pubsub(ignore_subscribe_messages=True)
        p.subscribe("news")
        subs.append((port, p))
    wait_for(lambda: all(c.direct(port).pubsub_numsub("news") == [(b"news", 1)] for port in c.primaries()),
             "every primary counts its subscriber")
    # Published through the cluster client, i.e. on one node of its choice.
    for i in range(20):
        c.rc.publish("news", f"n{i}")
    want = {(b"news", f"n{i}".encode()) for i in range(20)}
    for port, p in subs:
        collect(p, lambda ps: ps.get_message(timeout=1.0), want, f"messages at {port}")
        p.close()


@check("pubsub")
def sharded_pubsub_over_every_primary(c):
    slots = c.slot_map(c.ports[0])
    # One shard channel per primary.
    channels = {}
    for i in range(10000):
        ch = f"sch:{i}"
        owner = c.owner_port(None, c.rc.keyslot(ch), slots)
        channels.setdefault(owner, ch)
        if len(channels) == len(c.primaries()):
            break
    eq(sorted(channels), c.primaries(), "a shard channel on every primary")
    p = c.rc.pubsub()
    p.ssubscribe(*channels.values())
    # The subscription confirmations, one per channel, from its owner.
    confirmed = set()
    deadline = time.monotonic() + TIMEOUT
    while len(confirmed) < len(channels) and time.monotonic() < deadline:
        m = p.get_sharded_message(timeout=1.0)
        if m and m["type"] == "ssubscribe":
            confirmed.add(m["channel"])
    eq(confirmed, {ch.encode() for ch in channels.values()}, "ssubscribe confirmations")
    for owner, ch in channels.items():
        eq(c.direct(owner).execute_command("PUBSUB", "SHARDNUMSUB", ch), [ch.encode(), 1],
           f"SHARDNUMSUB {ch} on its owner {owner}")
        eq(c.rc.spublish(ch, f"to {ch}"), 1, f"SPUBLISH {ch}")
    want = {(ch.encode(), f"to {ch}".encode()) for ch in channels.values()}
    collect(p, lambda ps: ps.get_sharded_message(timeout=1.0), want, "sharded messages")
    p.sunsubscribe()
    p.close()


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    proto, groups = int(sys.argv[1]), sys.argv[2].split(",")
    ports = [int(p) for p in sys.argv[3:]]
    c = Ctx(proto, ports)
    passed = failed = 0
    for group in groups:
        if group not in CHECKS:
            print(f"unknown group {group!r}", file=sys.stderr)
            return 2
        for fn in CHECKS[group]:
            started = time.monotonic()
            try:
                fn(c)
            except Exception:
                failed += 1
                print(f"FAIL {group}/{fn.__name__} (RESP{proto})")
                traceback.print_exc(file=sys.stdout)
            else:
                passed += 1
                ms = (time.monotonic() - started) * 1000
                print(f"ok   {group}/{fn.__name__} (RESP{proto}, {ms:.0f} ms)")
            sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
