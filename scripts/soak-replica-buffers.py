#!/usr/bin/env python3
"""Soak: replication buffers stay bounded and never cost data.

A primary with maxmemory and two replicas takes a steady write load (a fixed
key space that fits inside maxmemory: by default about 68 MB of data under an
80 MB limit, so a replica buffer counted against the limit would force
eviction). One replica is SIGSTOPped for
--stop-secs: its share of the stream grows until its output buffer limit
drops it; when it resumes it comes back with a full sync, still under load.
The run fails unless:

  - the primary's RSS stays within maxmemory + 64 MB + the replica limit;
  - the primary evicted nothing (the data fits: any eviction would have been
    caused by replication buffers);
  - after the load stops, both replicas reach the primary's offset and their
    DEBUG DIGEST equals the primary's.

    scripts/soak-replica-buffers.py [--stop-secs 30] [--maxmemory-mb 80]
        [--replica-limit-mb 64] [--keys 200000] [--value-size 256] [--clients 10]

Servers bind 127.0.0.1 on free ports in a temporary directory; everything is
stopped at exit. Needs a release build (cargo build --release), redis-py and
redis-benchmark (scripts/deps.sh installs them).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "ringcache")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Node:
    def __init__(self, workdir, name, args):
        self.port = free_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "ringcache.log"), "w")
        self.proc = subprocess.Popen(
            [BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--enable-debug-command", "yes"] + args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.conn = redis.Redis(port=self.port, socket_timeout=10)
        deadline = time.time() + 10
        while True:
            try:
                self.conn.ping()
                break
            except redis.ConnectionError:
                if time.time() > deadline:
                    raise SystemExit(f"{name} did not start")
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stop-secs", type=float, default=30)
    ap.add_argument("--maxmemory-mb", type=int, default=80)
    ap.add_argument("--replica-limit-mb", type=int, default=64)
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--value-size", type=int, default=256)
    ap.add_argument("--clients", type=int, default=10, help="redis-benchmark connections (pipeline 1)")
    a = ap.parse_args()
    if not os.path.exists(BINARY):
        raise SystemExit(f"{BINARY} is missing: cargo build --release")

    work = tempfile.mkdtemp(prefix="ringcache-soak-")
    limit = a.replica_limit_mb
    primary = Node(work, "primary", [
        "--maxmemory", f"{a.maxmemory_mb}mb", "--maxmemory-policy", "allkeys-lru",
        "--client-output-buffer-limit", f"replica {limit}mb {limit // 2}mb 10",
    ])
    nodes = [primary]
    load = None
    try:
        replicas = [Node(work, f"replica{i}", ["--replicaof", "127.0.0.1", str(primary.port)]) for i in (1, 2)]
        nodes += replicas
        bound = (a.maxmemory_mb + 64 + limit) << 20
        print(f"== primary :{primary.port}, replicas :{replicas[0].port} :{replicas[1].port}, "
              f"maxmemory {a.maxmemory_mb} MB, replica limit {limit} MB, RSS bound {bound >> 20} MB")

        peak = [0]
        sampling = [True]

        def sample():
            while sampling[0]:
                peak[0] = max(peak[0], rss_bytes(primary.proc.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load = subprocess.Popen(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(primary.port), "-t", "set",
             "-r", str(a.keys), "-d", str(a.value_size), "-c", str(a.clients), "-P", "1",
             "-n", "2000000000", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(5)
        print(f"== load running: {primary.conn.dbsize()} keys, "
              f"used_memory {primary.conn.info('memory')['used_memory'] >> 20} MB")

        stopped = replicas[0]
        stopped.proc.send_signal(signal.SIGSTOP)
        print(f"== replica :{stopped.port} stopped for {a.stop_secs:.0f} s")
        t0 = time.time()
        dropped_at = None
        while time.time() - t0 < a.stop_secs:
            slaves = primary.conn.info("replication")["connected_slaves"]
            if dropped_at is None and slaves < 2:
                dropped_at = time.time() - t0
                print(f"   dropped at its output limit after {dropped_at:.1f} s")
            time.sleep(0.2)
        fulls_before = primary.conn.info("stats")["sync_full"]
        stopped.proc.send_signal(signal.SIGCONT)
        print("== replica resumed: full sync under load")
        synced = False
        t1 = time.time()
        while time.time() - t1 < 60:
            fulls = primary.conn.info("stats")["sync_full"]
            link = stopped.conn.info("replication")
            if fulls > fulls_before and link.get("master_link_status") == "up" \
                    and link.get("master_sync_in_progress") == 0:
                synced = True
                break
            time.sleep(0.2)
        if synced:
            print(f"   in sync again after {time.time() - t1:.1f} s "
                  f"({primary.conn.info('stats')['sync_full'] - fulls_before} full sync(s))")
        else:
            print("   it never completed a full sync")
        time.sleep(5)
        load.terminate()
        load.wait()
        load = None

        def offsets_equal():
            want = primary.conn.info("replication")["master_repl_offset"]
            return all(r.conn.info("replication").get("slave_repl_offset", -1) >= want for r in replicas)

        t2 = time.time()
        while not offsets_equal() and time.time() - t2 < 60:
            time.sleep(0.2)
        sampling[0] = False
        sampler.join()
        digests = [n.conn.execute_command("DEBUG", "DIGEST") for n in nodes]
        stats = primary.conn.info("stats")
        mem = primary.conn.info("memory")
        evicted = stats["evicted_keys"]
        drops = open(os.path.join(primary.dir, "ringcache.log")).read().count("overcoming of output buffer limits")
        print(f"== peak primary RSS {peak[0] >> 20} MB (bound {bound >> 20} MB); drops at the limit {drops}; "
              f"evicted {evicted}; sync_full {stats['sync_full']}; "
              f"used_memory {mem['used_memory'] >> 20} MB, not counted {mem['mem_not_counted_for_evict'] >> 20} MB")
        print(f"== digests: primary {digests[0]}, replicas {digests[1]} {digests[2]}")
        failures = []
        if dropped_at is None:
            failures.append("the stopped replica was never dropped at its output limit")
        if not synced:
            failures.append("the resumed replica did not sync again")
        if peak[0] > bound:
            failures.append(f"primary RSS {peak[0] >> 20} MB over the bound {bound >> 20} MB")
        if evicted != 0:
            failures.append(f"{evicted} keys evicted")
        if len(set(digests)) != 1:
            failures.append("the replicas' data differs from the primary's")
        for f in failures:
            print(f"FAIL: {f}")
        if not failures:
            print("PASS")
        return 1 if failures else 0
    finally:
        if load is not None:
            load.kill()
        for n in nodes:
            n.stop()


if __name__ == "__main__":
    sys.exit(main())
