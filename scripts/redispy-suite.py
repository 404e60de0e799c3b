#!/usr/bin/env python3
"""Helper for scripts/redispy-suite.sh (stdlib only, so it runs before any venv).

    redispy-suite.py freeport
    redispy-suite.py version PORT                 (redis_version from INFO)
    redispy-suite.py families
    redispy-suite.py select FAMILY...          < `pytest --collect-only -q` output
    redispy-suite.py compare SELECTION REDIS_XML RINGCACHE_XML

`select` prints `family<TAB>node id` lines; `compare` reads those and the two
JUnit XML reports and prints the per-family comparison; it exits 1 when a test
passes on redis-server but not on ringcache.
"""

import re
import socket
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

# Families are anchored regexes over the test function name (parameters
# stripped), not pytest `-k` substrings: `-k set` would also pick test_hset,
# test_getset and test_bitfield_..._offset, and `-k list` test_client_list.
# A name that matches no family is not run. test_hash.py (hash-field TTLs)
# belongs to `hash` wholesale.
FAMILIES = {
    "string": r"(append|decr|incr|get(?!_set_bit)|set(?!_member_expiration)|mget"
              r"|mset|psetex|lcs|strlen|substr|stralgo|delex|digest|local_digest"
              r"|binary_get_set|large_responses"
              r"|pipeline_with_msetex)",
    "hash": r"h(?!ello|otkeys)",
    "list": r"(b?(lpush|rpush|lpop|rpop|lmove|lmpop|rpoplpush)|lindex|linsert|llen"
            r"|lpos|lrange|lrem|lset|ltrim|lists_with|binary_lists)",
    "set": r"(s(add|card|diff|inter|ismember|members|mismember|move|pop|randmember"
           r"|rem|scan|union|expire|pexpire|persist|ttl|pttl)|set_member_expiration)",
    "zset": r"(b?z|zaggregate|zset_|floating_point_encoding)",
    "bitmap": r"(bit|get_set_bit|setbit|getbit|pipeline_with_bitfield)",
    "hyperloglog": r"pf",
    "geo": r"(old_)?geo",
    "sort": r"sort",
    # test_pubsub.py and test_keyspace_notifications.py, wholesale; the
    # pattern only keeps test_commands.py's own pub/sub tests.
    "pubsub": r"(pubsub|publish|spublish)",
    # tests/test_cache.py (client-side caching over CLIENT TRACKING), wholesale.
    "cache": r"(?!)",
    "stream": r"x(?!x)",
    # tests/test_scripting.py and tests/test_function.py, wholesale.
    "scripting": r"(?!)",
    "generic": r"(keys|scan|p?expire|p?ttl|persist|type|object|dump_and_restore"
               r"|restore|copy|rename|delete|delitem|unlink|exists|randomkey|dbsize"
               r"|touch)",
}
FAMILY_RE = {f: re.compile(r"test_" + rx) for f, rx in FAMILIES.items()}
WHOLE_FILES = {
    "tests/test_hash.py": "hash",
    "tests/test_pubsub.py": "pubsub",
    "tests/test_keyspace_notifications.py": "pubsub",
    "tests/test_cache.py": "cache",
    "tests/test_scripting.py": "scripting",
    "tests/test_function.py": "scripting",
}


def family_of(nodeid, wanted):
    path = nodeid.split("::", 1)[0]
    if path in WHOLE_FILES:
        f = WHOLE_FILES[path]
        return f if f in wanted else None
    name = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    for f in wanted:  # first match wins, in FAMILIES order
        if FAMILY_RE[f].match(name):
            return f
    return None


def junit_key(nodeid):
    # pytest's junitxml writes classname = path without .py, '/' -> '.',
    # plus the enclosing classes; name = the last part (with its [params]).
    parts = nodeid.split("::")
    path = parts[0][:-3] if parts[0].endswith(".py") else parts[0]
    names = path.replace("/", ".").split(".") + parts[1:]
    return ".".join(names[:-1]), names[-1]


RANK = {"passed": 0, "skipped": 1, "failed": 2}


def read_junit(path):
    """(classname, name) -> (outcome, first message line); {} if unreadable."""
    out = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return out
    for tc in root.iter("testcase"):
        key = (tc.get("classname", ""), tc.get("name", ""))
        outcome, msg = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                text = child.get("message") or (child.text or "")
                msg = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
                if child.tag == "error":
                    msg = "[setup/teardown error] " + msg
                break
            if child.tag == "skipped":
                outcome, msg = "skipped", child.get("message", "")
        # A teardown error is a second <testcase> for the same test: keep the worst.
        if key not in out or RANK[outcome] > RANK[out[key][0]]:
            out[key] = (outcome, msg)
    return out


def cmd_compare(selection, redis_xml, ring_xml):
    wanted = defaultdict(list)
    with open(selection) as fh:
        for line in fh:
            fam, nodeid = line.rstrip("\n").split("\t", 1)
            wanted[fam].append(nodeid)
    order = [f for f in FAMILIES if f in wanted]
    results = {"redis-server": read_junit(redis_xml), "ringcache": read_junit(ring_xml)}
    for server, res in results.items():
        if not res:
            print(f"warning: no JUnit results from the {server} run ({redis_xml if server == 'redis-server' else ring_xml})")
    total_bad = 0
    skipped_only = []
    totals = {s: defaultdict(int) for s in results}
    details = []
    for fam in order:
        counts = {s: defaultdict(int) for s in results}
        bad = []
        for nodeid in wanted[fam]:
            key = junit_key(nodeid)
            outcome = {}
            for server, res in results.items():
                # A test missing from a report (run killed, crash) counts as failed.
                outcome[server] = res.get(key, ("failed", "no result (run killed or crashed?)"))
                counts[server][outcome[server][0]] += 1
                totals[server][outcome[server][0]] += 1
            if outcome["redis-server"][0] == "passed":
                # Skipped-only-on-ringcache means the two report different
                # server versions to the conftest's version gates: noted, not
                # counted as a failure.
                if outcome["ringcache"][0] == "failed":
                    bad.append((nodeid, outcome["ringcache"]))
                elif outcome["ringcache"][0] == "skipped":
                    skipped_only.append((nodeid, outcome["ringcache"]))
        total_bad += len(bad)

        def fmt(c):
            return f"{c['passed']} passed / {c['failed']} failed / {c['skipped']} skipped"

        print(f"{fam}: redis-server {fmt(counts['redis-server'])}; "
              f"ringcache {fmt(counts['ringcache'])}; "
              f"tests passing on redis-server but failing on ringcache: {len(bad)}")
        details.append((fam, bad))
    for fam, bad in details:
        if bad:
            print(f"\n{fam}: passing on redis-server, not on ringcache:")
            for nodeid, (outcome, msg) in bad:
                print(f"  {nodeid}\n      {msg[:300]}")
    if skipped_only:
        print(f"\nnote: {len(skipped_only)} tests pass on redis-server but are skipped on ringcache:")
        for nodeid, (_, msg) in skipped_only:
            print(f"  {nodeid}: {msg[:200]}")
    r, g = totals["redis-server"], totals["ringcache"]
    print(f"\ntotal: redis-server {r['passed']} passed / {r['failed']} failed / "
          f"{r['skipped']} skipped; ringcache {g['passed']} passed / {g['failed']} failed / "
          f"{g['skipped']} skipped; tests passing on redis-server but failing on ringcache: {total_bad}")
    return 1 if total_bad else 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "freeport":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            print(s.getsockname()[1])
        return 0
    if len(argv) == 2 and argv[0] == "version":
        with socket.create_connection(("127.0.0.1", int(argv[1])), timeout=5) as s:
            s.sendall(b"INFO server\r\n")
            buf = b""
            while b"redis_version:" not in buf or not buf.split(b"redis_version:", 1)[1].count(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        m = re.search(rb"redis_version:([^\r\n]*)", buf)
        print(m.group(1).decode() if m else "unknown")
        return 0
    if len(argv) == 1 and argv[0] == "families":
        print(" ".join(FAMILIES))
        return 0
    if len(argv) >= 2 and argv[0] == "select":
        wanted = argv[1:]
        unknown = [f for f in wanted if f not in FAMILIES]
        if unknown:
            print(f"unknown family: {' '.join(unknown)} (known: {' '.join(FAMILIES)})", file=sys.stderr)
            return 2
        ordered = [f for f in FAMILIES if f in wanted]
        for line in sys.stdin:
            nodeid = line.strip()
            if "::" not in nodeid or " " in nodeid.split("::", 1)[0]:
                continue  # pytest's summary and warning lines
            fam = family_of(nodeid, ordered)
            if fam:
                print(f"{fam}\t{nodeid}")
        return 0
    if len(argv) == 4 and argv[0] == "compare":
        return cmd_compare(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
