// BullMQ acceptance scenario for ringcache.
//
// Builds a fixed mix of 10,000 jobs on one queue (delayed, prioritized,
// failing-then-retried with backoff, failing for good, unrecoverable, and a few
// repeatable ones through job schedulers), runs 4 Workers until every job has
// settled, then prints one canonical JSON outcome on stdout. The outcome holds
// no timestamps and nothing that depends on processing order, so the same
// scenario gives byte-identical output on any server that behaves like Redis:
// scripts/bullmq.sh runs it against Debian's redis-server and against ringcache
// and diffs the two.
//
//   node scenario.mjs --port 6379 [--host 127.0.0.1]
//   node scenario.mjs --cluster 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
//
// Options: --jobs N (10000), --workers N (4), --concurrency N (8 per worker),
// --timeout SECONDS (240; until everything settles), --queue NAME (accept),
// --prefix P (bull standalone, {bq} in cluster mode so every key of the queue
// hashes to one slot), --out FILE (stdout otherwise).
//
// Exit status: 0 when every job settled, 3 on timeout (the partial outcome is
// still printed, unsettled jobs included), 2 when the run itself broke (a
// command the server refused, say); then the outcome is {"error": ...}.
// Progress and the wall time go to stderr.
//
// The mix for job i (see plan()), with the default 10,000: i % 2000 == 1999 is
// a job scheduler (every 200 ms, limit 5: 5 schedulers, 25 runs; BullMQ 6 has
// no `repeat` option on Queue.add any more); the other 9,995 are one-off jobs
// with id j<i>, of which i % 10 == 0 are delayed 50-500 ms (1,000), i % 7 == 0
// have a priority 1-10 (1,428), i % 101 == 0 throw UnrecoverableError (99,
// failed after 1 attempt), else i % 39 == 0 fail all 3 attempts with fixed
// backoff (254), else i % 13 == 0 fail their first 1 or 2 attempts with
// exponential or fixed backoff and then complete (508). The kinds overlap.
// On redis-server 7.0.15 this ends with 9,667 completed (9,642 one-off + 25
// repeat runs) and 353 failed.

import { Queue, Worker, UnrecoverableError } from 'bullmq';
import { Redis, Cluster } from 'ioredis';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    cluster: { type: 'string' },
    jobs: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '8' },
    timeout: { type: 'string', default: '240' },
    queue: { type: 'string', default: 'accept' },
    prefix: { type: 'string' },
    out: { type: 'string' },
  },
});

const N_JOBS = Number(args.jobs);
const N_WORKERS = Number(args.workers);
const CONCURRENCY = Number(args.concurrency);
const TIMEOUT_MS = Number(args.timeout) * 1000;
const QUEUE = args.queue;
const CLUSTER = args.cluster ? args.cluster.split(',').map(hostPort) : null;
const PREFIX = args.prefix ?? (CLUSTER ? '{bq}' : 'bull');
if (!CLUSTER && !args.port) usage('--port or --cluster is required');
if (!(N_JOBS > 0 && N_WORKERS > 0 && CONCURRENCY > 0 && TIMEOUT_MS > 0)) usage('bad number');

const started = Date.now();
const log = (msg) => process.stderr.write(`[bullmq ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);

function usage(why) {
  process.stderr.write(`scenario.mjs: ${why}\nusage: node scenario.mjs (--port P [--host H] | --cluster H:P,H:P,...) [--jobs N] [--workers N] [--concurrency N] [--timeout S] [--queue NAME] [--prefix P] [--out FILE]\n`);
  process.exit(2);
}

function hostPort(s) {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

// ---------------------------------------------------------------------------
// The plan: what job i is. Pure function of i, nothing random.
// ---------------------------------------------------------------------------

const REPEAT_EVERY_MS = 200;
const REPEAT_LIMIT = 5;
const MAX_ATTEMPTS = 3;

const pad = (i) => String(i).padStart(5, '0');

function plan(i) {
  const p = { i, id: `j${pad(i)}`, opts: {}, data: { i } };
  // Every 2000th (1999, 3999, ...) is a repeatable job: a job scheduler that
  // produces REPEAT_LIMIT runs REPEAT_EVERY_MS apart (BullMQ 6 took `repeat`
  // out of Queue.add; upsertJobScheduler is its way to add a repeatable job).
  if (i % 2000 === 1999) {
    p.kind = 'repeat';
    p.schedulerId = `rep${pad(i)}`;
    return p;
  }
  p.kind = 'plain';
  if (i % 10 === 0) p.opts.delay = 50 + ((i * 37) % 451); // 50..500 ms
  if (i % 7 === 0) p.opts.priority = 1 + (i % 10); // 1..10
  if (i % 101 === 0) {
    // Throws UnrecoverableError: failed at once, whatever `attempts` says.
    p.data.unrecoverable = true;
    p.opts.attempts = MAX_ATTEMPTS;
    p.expect = 'failed';
  } else if (i % 39 === 0) {
    // Fails on every attempt: failed once MAX_ATTEMPTS are used up.
    p.data.failFirst = MAX_ATTEMPTS;
    p.opts.attempts = MAX_ATTEMPTS;
    p.opts.backoff = { type: 'fixed', delay: 25 };
    p.expect = 'failed';
  } else if (i % 13 === 0) {
    // Fails on its first 1 or 2 attempts, then completes.
    p.data.failFirst = 1 + (i % 2);
    p.opts.attempts = MAX_ATTEMPTS;
    p.opts.backoff = (i / 13) % 2 === 0 ? { type: 'exponential', delay: 20 } : { type: 'fixed', delay: 30 };
    p.expect = 'completed';
  } else {
    p.expect = 'completed';
  }
  return p;
}

const PLANS = Array.from({ length: N_JOBS }, (_, i) => plan(i));
const PLAIN = PLANS.filter((p) => p.kind === 'plain');
const REPEATS = PLANS.filter((p) => p.kind === 'repeat');
const EXPECTED_TOTAL = PLAIN.length + REPEATS.length * REPEAT_LIMIT;

// The processor: its result depends only on the job's data and how many
// attempts it has failed before, never on which worker runs it or when.
async function processor(job) {
  const d = job.data;
  if (job.repeatJobKey !== undefined || d.rep !== undefined) {
    return { rep: d.rep, iteration: job.opts.repeat?.count ?? null };
  }
  const attempt = job.attemptsMade + 1;
  if (d.unrecoverable) throw new UnrecoverableError(`unrecoverable j${pad(d.i)}`);
  if (d.failFirst !== undefined && attempt <= d.failFirst) {
    throw new Error(`planned failure ${attempt}/${d.failFirst} of j${pad(d.i)}`);
  }
  // A little arithmetic so the return value is not just an echo.
  let h = 2166136261;
  for (const c of `j${pad(d.i)}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return { i: d.i, attempt, h };
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

const conns = [];
function connection() {
  // maxRetriesPerRequest: null is what BullMQ requires of a worker's
  // connection; it is used for the queue's too so both behave the same.
  const c = CLUSTER
    ? new Cluster(CLUSTER, {
        redisOptions: { maxRetriesPerRequest: null, connectTimeout: 5000 },
        maxRedirections: 16,
      })
    : new Redis({ host: args.host, port: Number(args.port), maxRetriesPerRequest: null, connectTimeout: 5000 });
  c.on('error', (e) => noteError('connection', e));
  conns.push(c);
  return c;
}

const errors = [];
function noteError(where, e) {
  const msg = `${where}: ${explainScriptError(e && e.message ? e.message : String(e))}`;
  if (errors.length < 20 && !errors.includes(msg)) {
    errors.push(msg);
    log(`error ${msg}`);
  }
}

// A server's error from inside one of BullMQ's Lua scripts names the script
// only by its SHA1 and a line; this adds the script's name and that line of
// its source (e.g. the command a server lacks), found in the scripts ioredis
// holds for the connections.
function explainScriptError(msg) {
  const m = /([0-9a-f]{40})\b.*?@user_script:(\d+)/.exec(msg);
  if (!m) return msg;
  for (const c of conns) {
    for (const [name, script] of Object.entries(c.scriptsSet ?? {})) {
      if (script.sha !== m[1]) continue;
      const line = (script.lua.split('\n')[Number(m[2]) - 1] ?? '').trim();
      return `${msg} [script ${name}, line ${m[2]}: ${line}]`;
    }
  }
  return msg;
}

// ---------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------

let queue;
const workers = [];
let exitCode = 0;

async function main() {
  queue = new Queue(QUEUE, { connection: connection(), prefix: PREFIX });
  queue.on('error', (e) => noteError('queue', e));
  await queue.waitUntilReady();
  // A queue left over from an earlier run on the same server would change the outcome.
  await queue.obliterate({ force: true });

  log(`adding ${PLAIN.length} jobs and ${REPEATS.length} job schedulers (every ${REPEAT_EVERY_MS} ms, limit ${REPEAT_LIMIT})`);
  for (let k = 0; k < PLAIN.length; k += 500) {
    await queue.addBulk(PLAIN.slice(k, k + 500).map((p) => ({ name: 'job', data: p.data, opts: { ...p.opts, jobId: p.id } })));
  }
  for (const p of REPEATS) {
    await queue.upsertJobScheduler(p.schedulerId, { every: REPEAT_EVERY_MS, limit: REPEAT_LIMIT }, { name: 'repeat', data: { rep: p.schedulerId } });
  }
  log(`added; starting ${N_WORKERS} workers x concurrency ${CONCURRENCY}`);

  for (let w = 0; w < N_WORKERS; w++) {
    const worker = new Worker(QUEUE, processor, { connection: connection(), prefix: PREFIX, concurrency: CONCURRENCY, name: `w${w}` });
    worker.on('error', (e) => noteError(`worker w${w}`, e));
    workers.push(worker);
  }

  const settled = await waitSettled();
  if (!settled) exitCode = 3;
  await Promise.all(workers.map((w) => w.close()));
  const outcome = await collect(settled);
  log(`wall ${((Date.now() - started) / 1000).toFixed(1)}s; counts ${JSON.stringify(outcome.counts)}`);
  emit(outcome);
}

const COUNT_TYPES = ['active', 'completed', 'delayed', 'failed', 'paused', 'prioritized', 'waiting', 'waiting-children'];

// Settled: every expected job is completed or failed and nothing is left
// active, waiting or delayed; it must still hold a little more than one repeat
// interval later, so a scheduler running past its limit would be caught.
async function waitSettled() {
  const deadline = started + TIMEOUT_MS;
  let lastLog = 0;
  let stableSince = null;
  while (Date.now() < deadline) {
    const c = await queue.getJobCounts(...COUNT_TYPES);
    const finished = c.completed + c.failed;
    const pending = c.active + c.delayed + c.paused + c.prioritized + c.waiting + c['waiting-children'];
    if (finished >= EXPECTED_TOTAL && pending === 0) {
      stableSince ??= Date.now();
      if (Date.now() - stableSince >= 2 * REPEAT_EVERY_MS + 100) return true;
    } else {
      stableSince = null;
    }
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`progress ${finished}/${EXPECTED_TOTAL} finished, ${pending} pending`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`timed out after ${args.timeout}s`);
  return false;
}

// The canonical outcome. Left out on purpose, because they depend on timing or
// on which worker won a race, not on the server's semantics: timestamps
// (timestamp, processedOn, finishedOn, delay bookkeeping), processedBy, the
// stacktrace text (file paths and line numbers of this script; only its length
// is kept), the ids of repeat runs (`repeat:<scheduler>:<millis>`, the millis
// being the run's scheduled time, so runs are keyed by scheduler and iteration
// instead) and the schedulers' `next` time.
async function collect(settled) {
  const counts = await queue.getJobCounts(...COUNT_TYPES);
  const jobs = {};
  const repeats = {};
  for (const p of REPEATS) repeats[p.schedulerId] = { runs: [] };
  const seen = new Map();
  for (const state of COUNT_TYPES) {
    const list = await queue.getJobs([state], 0, -1, true);
    for (const job of list) {
      if (!job) continue;
      if (seen.has(job.id)) {
        noteError('collect', `job ${job.id} in both ${seen.get(job.id)} and ${state}`);
        continue;
      }
      seen.set(job.id, state);
      if (job.repeatJobKey !== undefined || job.name === 'repeat') {
        const key = job.repeatJobKey ?? job.data?.rep ?? '?';
        (repeats[key] ??= { runs: [] }).runs.push({
          iteration: job.opts?.repeat?.count ?? null,
          state,
          attemptsMade: job.attemptsMade,
          returnvalue: job.returnvalue ?? null,
        });
        continue;
      }
      jobs[job.id] = {
        state,
        attemptsMade: job.attemptsMade,
        // attemptsStarted would also count a run lost to a stalled lock (30 s
        // lock, jobs take microseconds): that never happens here, and if it did
        // it would be a difference worth seeing.
        attemptsStarted: job.attemptsStarted,
        returnvalue: job.returnvalue ?? null,
        failedReason: job.failedReason ?? null,
        stacktraceLen: (job.stacktrace ?? []).length,
        // What the server gave back of what was added: name, data, options.
        name: job.name,
        data: job.data,
        opts: { delay: job.opts?.delay ?? 0, priority: job.opts?.priority ?? 0, attempts: job.opts?.attempts ?? null, backoff: job.opts?.backoff ?? null },
      };
    }
  }
  // A job the queue no longer knows (or never got) is an outcome too.
  for (const p of PLAIN) jobs[p.id] ??= { state: 'missing' };

  for (const [key, r] of Object.entries(repeats)) {
    // Runs of one scheduler are sorted by iteration number, then by the rest,
    // so the order in which ZRANGE returned them (their scheduled times) does not matter.
    r.runs.sort((a, b) => cmp(a.iteration, b.iteration) || cmp(JSON.stringify(a), JSON.stringify(b)));
    r.completedRuns = r.runs.filter((x) => x.state === 'completed').length;
    const s = await queue.getJobScheduler(key).catch((e) => ({ error: e.message }));
    r.scheduler = s ? { iterationCount: s.iterationCount ?? null, limit: s.limit ?? null, every: s.every ?? null, error: s.error } : null;
  }

  // Independent of the reference server: the state each job should end in by construction.
  const planMismatches = PLAIN.filter((p) => jobs[p.id].state !== p.expect).map((p) => `${p.id}: ${jobs[p.id].state}, planned ${p.expect}`);
  for (const [key, r] of Object.entries(repeats)) {
    if (r.completedRuns !== REPEAT_LIMIT) planMismatches.push(`${key}: ${r.completedRuns} runs completed, planned ${REPEAT_LIMIT}`);
  }

  const byState = {};
  for (const j of Object.values(jobs)) byState[j.state] = (byState[j.state] ?? 0) + 1;
  return {
    scenario: { jobs: N_JOBS, plain: PLAIN.length, schedulers: REPEATS.length, repeatEvery: REPEAT_EVERY_MS, repeatLimit: REPEAT_LIMIT, expectedTotal: EXPECTED_TOTAL },
    settled,
    counts,
    plainByState: byState,
    planMismatches: planMismatches.slice(0, 50),
    planMismatchCount: planMismatches.length,
    errors: [...errors].sort(),
    repeats,
    jobs,
  };
}

function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Keys sorted at every level, one job per line: diff-friendly and canonical.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function emit(outcome) {
  const { jobs, ...head } = outcome;
  const lines = ['{'];
  for (const k of Object.keys(head).sort()) lines.push(`${JSON.stringify(k)}:${canonical(head[k])},`);
  lines.push('"jobs":{');
  const ids = Object.keys(jobs ?? {}).sort();
  ids.forEach((id, n) => lines.push(`${JSON.stringify(id)}:${canonical(jobs[id])}${n + 1 < ids.length ? ',' : ''}`));
  lines.push('}}');
  const text = lines.join('\n') + '\n';
  if (args.out) writeFileSync(args.out, text);
  else process.stdout.write(text);
}

async function shutdown() {
  await Promise.race([
    Promise.allSettled([...workers.map((w) => w.close(true)), queue?.close()]),
    new Promise((r) => setTimeout(r, 5000)),
  ]);
  for (const c of conns) c.disconnect();
}

// If closing the workers or collecting the outcome hangs (a server that stops
// answering), give up 20 s after the settle deadline with an outcome that says so.
const hardStop = setTimeout(() => {
  log(`hard timeout (${args.timeout}s + 20s): giving up`);
  emit({ error: 'hard timeout', errors: [...errors] });
  process.exit(3);
}, TIMEOUT_MS + 20000);
hardStop.unref();

main()
  .catch((e) => {
    noteError('run', e);
    emit({ error: explainScriptError(e && e.message ? e.message : String(e)), errors: [...errors] });
    exitCode = 2;
  })
  .finally(async () => {
    await shutdown();
    process.exit(exitCode);
  });
