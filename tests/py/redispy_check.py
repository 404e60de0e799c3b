#!/usr/bin/env python3
"""redis-py against a running server: strings, pipelines, TTLs, scan_iter.

usage: redispy_check.py PORT PROTOCOL(2|3) GROUP[,GROUP...]
groups: strings, pipeline, ttl, scan. Prints one line per check and a final
`N passed, M failed` line; exits 1 if anything failed.
"""
import sys
import traceback

import redis

CHECKS = {}


def check(group):
    def wrap(fn):
        CHECKS.setdefault(group, []).append(fn)
        return fn
    return wrap


def eq(got, want):
    if got != want:
        raise AssertionError(f"got {got!r}, want {want!r}")


@check("strings")
def set_get(r, rs):
    eq(r.set("s", "v"), True)
    eq(r.get("s"), b"v")
    eq(r.get("missing"), None)
    eq(rs.get("s"), "v")
    eq(r.set("s", "w", nx=True), None)
    eq(r.set("s", "w", xx=True, get=True), b"v")
    eq(r.getset("s", "x"), b"w")
    eq(r.getdel("s"), b"x")
    eq(r.exists("s"), 0)


@check("strings")
def binary_and_unicode(r, rs):
    blob = bytes(range(256)) * 4
    r.set("bin", blob)
    eq(r.get("bin"), blob)
    eq(r.strlen("bin"), 1024)
    rs.set("uni", "héllo wörld ✓")
    eq(rs.get("uni"), "héllo wörld ✓")


@check("strings")
def counters(r, rs):
    r.delete("n")
    eq(r.incr("n"), 1)
    eq(r.incrby("n", 10), 11)
    eq(r.decr("n", 2), 9)
    eq(r.incrbyfloat("n", 0.5), 9.5)
    r.set("nan", "abc")
    try:
        r.incr("nan")
    except redis.ResponseError as e:
        eq(str(e), "value is not an integer or out of range")
    else:
        raise AssertionError("INCR on a non-number did not fail")


@check("strings")
def multi_key(r, rs):
    eq(r.mset({"a": "1", "b": "2"}), True)
    eq(r.mget("a", "nosuch", "b"), [b"1", None, b"2"])
    eq(r.msetnx({"a": "x", "c": "3"}), False)
    eq(r.delete("a", "b", "nosuch"), 2)
    eq(r.type("c"), b"none")
    r.set("c", "3")
    eq(rs.type("c"), "string")
    eq(r.dbsize() >= 1, True)


@check("strings")
def ranges(r, rs):
    r.set("g", "Hello World")
    eq(r.getrange("g", 0, 4), b"Hello")
    eq(r.setrange("g", 6, "Redis"), 11)
    eq(r.get("g"), b"Hello Redis")
    eq(r.append("g", "!"), 12)
    eq(r.strlen("g"), 12)


@check("strings")
def hello_reply(r, rs):
    info = r.execute_command("HELLO")
    if r.connection_pool.connection_kwargs.get("protocol") in (3, "3"):
        eq(info[b"proto"], 3)
        eq(info[b"server"], b"redis")
    else:
        eq(info[info.index(b"proto") + 1], 2)


@check("pipeline")
def pipeline_no_transaction(r, rs):
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"p:{i}", i)
    for i in range(1000):
        p.get(f"p:{i}")
    p.incr("p:counter")
    res = p.execute()
    eq(res[:1000], [True] * 1000)
    eq(res[1000:2000], [str(i).encode() for i in range(1000)])
    eq(res[2000], 1)


@check("pipeline")
def pipeline_error_in_place(r, rs):
    r.set("pe", "text")
    p = r.pipeline(transaction=False)
    p.get("pe").incr("pe").set("pe2", "ok").get("pe2")
    res = p.execute(raise_on_error=False)
    eq(res[0], b"text")
    eq(isinstance(res[1], redis.ResponseError), True)
    eq(res[2:], [True, b"ok"])


@check("ttl")
def ttls(r, rs):
    r.set("t", "v", ex=100)
    ttl = r.ttl("t")
    eq(98 <= ttl <= 100, True)
    r.set("t", "v", px=50000)
    pttl = r.pttl("t")
    eq(49000 <= pttl <= 50000, True)
    eq(r.set("t", "w", keepttl=True), True)
    eq(r.pttl("t") > 0, True)
    eq(r.persist("t"), True)
    eq(r.ttl("t"), -1)
    eq(r.ttl("missing"), -2)
    eq(r.expire("t", 30), True)
    eq(0 < r.ttl("t") <= 30, True)
    eq(r.getex("t", persist=True), b"w")
    eq(r.ttl("t"), -1)


@check("scan")
def scan_iter(r, rs):
    keys = {f"scan:{i}".encode() for i in range(1000)}
    p = r.pipeline(transaction=False)
    for k in keys:
        p.set(k, "1")
    p.set("other", "1")
    p.execute()
    eq(set(r.scan_iter(match="scan:*", count=100)), keys)
    eq(set(rs.scan_iter(match="scan:1?", count=10)), {f"scan:{i}" for i in range(10, 20)})


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    port, proto, groups = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
    r = redis.Redis(host="127.0.0.1", port=port, protocol=proto)
    rs = redis.Redis(host="127.0.0.1", port=port, protocol=proto, decode_responses=True)
    r.flushall()
    passed = failed = 0
    for group in groups:
        if group not in CHECKS:
            print(f"unknown group {group!r}", file=sys.stderr)
            return 2
        for fn in CHECKS[group]:
            try:
                fn(r, rs)
            except Exception:
                failed += 1
                print(f"FAIL {group}/{fn.__name__} (RESP{proto})")
                traceback.print_exc(file=sys.stdout)
            else:
                passed += 1
                print(f"ok   {group}/{fn.__name__} (RESP{proto})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
