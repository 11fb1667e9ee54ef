// Control-plane benchmark: audit append and verify throughput, policy decision latency, and mass expiry lag,
// on SQLite and PostgreSQL. Each figure is printed with a ratio against a baseline measured in the same run.
// Run: node --import tsx bench/control-plane.bench.ts   (PostgreSQL from AIRLOCK_BENCH_PG_URL / AIRLOCK_TEST_PG_URL)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { stringify } from 'yaml';
import { openStore, type Store } from '../src/store/store.js';
import { makeAuditLog, type AuditLog } from '../src/audit/audit-log.js';
import { startAuditWriter } from '../src/audit/audit-writer.js';
import { canonicalEventJson, eventHash, sha256Hex } from '../src/audit/chain.js';
import { canonicalJson, canonicalJsonOfData } from '../src/domain/canonical-json.js';
import { makeAccess } from '../src/access/access.js';
import { parsePolicy } from '../src/policy/load.js';
import { checkRequest, type RequestAsk } from '../src/policy/decide.js';
import type { Policy } from '../src/policy/compile.js';
import type { AuditInput, Principal } from '../src/domain/model.js';
import { systemClock } from '../src/domain/clock.js';

type Kind = 'sqlite' | 'postgres';
const PG_ADMIN = process.env.AIRLOCK_BENCH_PG_URL ?? process.env.AIRLOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const BATCHED_EVENTS = 20_000;
const CPU_EVENTS = 30_000;
const SINGLE_EVENTS = 1_000;
const IN_FLIGHT = 32;
const GRANTS = 10_000;
const DECISIONS = 50_000;

const rows: { what: string; store: string; value: string; ratio: string }[] = [];
function report(what: string, store: string, value: string, ratio = ''): void {
  rows.push({ what, store, value, ratio });
  console.log(`  ${what} [${store}]: ${value}${ratio ? `  (${ratio})` : ''}`);
}
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

// ── stores ────────────────────────────────────────────────────────────────────────────────────────────

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client(PG_ADMIN);
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A fresh store; `url` opens it again (the audit writer thread does). */
async function freshStore(kind: Kind): Promise<{ store: Store; url: string; done: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
    const url = join(dir, 'airlock.db');
    const store = await openStore({ url });
    return { store, url, done: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const name = `airlock_bench_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  const store = await openStore({ url: u.toString() });
  return { store, url: u.toString(), done: async () => { await store.close(); await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } };
}

// ── audit ─────────────────────────────────────────────────────────────────────────────────────────────

const event = (i: number) => ({ actor: 'alice', action: 'session.query', target: 'prod-orders', source: '10.0.0.7', details: { session_id: 'ses_bench', statement: `select * from orders where id = ${i}`, kind: 'select', rows: 1, ms: 0.4 } });

/** Runs `count` tasks with at most `inFlight` at once. */
async function pool(count: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) await task(next++);
  }));
}

/** A gateway's statement event: what the PostgreSQL front-end appends for each statement. */
const statement = (i: number): AuditInput => ({
  actor: 'alice', action: 'statement', target: 'prod-orders', source: '10.0.0.7:51234',
  details: { session_id: 'ses_01hq3bench', grant_id: 'grt_01hq3bench', text: `select * from orders where id = ${i}`, fingerprint: '9f2c1e0b7a3d5c4e', decision: 'allowed', rule: null, rows: 1, duration_ms: 0.41, error: null },
});

/** CPU time of the calling thread (the event loop) in µs: Linux's schedstat; elsewhere the process's, helper threads included. */
const threadCpu = (() => {
  try {
    readFileSync('/proc/thread-self/schedstat', 'utf8');
    return { what: 'main-thread CPU', us: () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000 };
  } catch {
    return { what: 'process CPU', us: () => { const u = process.cpuUsage(); return u.user + u.system; } };
  }
})();

type Enqueue = (audit: AuditLog, e: AuditInput) => void;
const lazyAppend: Enqueue = (audit, e) => void audit.append(e, { lazy: true }).catch((err: unknown) => console.error('audit append failed:', err));
const lazyNoPromise: Enqueue = (audit, e) => audit.appendLazy(e, (err) => console.error('audit appendLazy failed:', err));

/**
 * Queues `events` as statements arrive at a busy gateway (a slice per turn of the event loop, commits in between)
 * and waits until all are committed; returns the wall time and the main thread's CPU time per event, in µs.
 */
async function queueStatements(audit: AuditLog, events: AuditInput[], enqueue: Enqueue): Promise<{ wallUs: number; cpuUs: number }> {
  const t = performance.now();
  const cpu = threadCpu.us();
  for (let i = 0; i < events.length; i += 250) {
    const end = Math.min(events.length, i + 250);
    for (let j = i; j < end; j++) enqueue(audit, events[j]!);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await audit.flush();
  return { wallUs: ((performance.now() - t) * 1000) / events.length, cpuUs: (threadCpu.us() - cpu) / events.length };
}

/** Main-thread CPU per statement event, all-in (queue, encode, hash, insert, commit): the best of three runs. */
async function cpuPerStatement(audit: AuditLog, enqueue: Enqueue): Promise<number> {
  await queueStatements(audit, Array.from({ length: 5_000 }, (_, i) => statement(i)), enqueue); // warm up
  let best = Infinity;
  for (let round = 0; round < 3; round++) best = Math.min(best, (await queueStatements(audit, Array.from({ length: CPU_EVENTS }, (_, i) => statement(i)), enqueue)).cpuUs);
  return best;
}

async function benchAudit(kind: Kind): Promise<void> {
  const { store, url, done } = await freshStore(kind);
  try {
    const audit = makeAuditLog({ store, clock: systemClock });
    // Baseline: each event in its own transaction (what the hot path would cost without batching).
    let t = performance.now();
    await pool(SINGLE_EVENTS, IN_FLIGHT, (i) => store.transaction((trx) => audit.appendInTx(trx, [event(i)])));
    const single = SINGLE_EVENTS / ((performance.now() - t) / 1000);
    report('audit append, one event per transaction', kind, `${fmt(single)} events/s`, `${IN_FLIGHT} in flight, baseline`);

    t = performance.now();
    await pool(BATCHED_EVENTS, 2000, (i) => audit.append(event(i)));
    const batched = BATCHED_EVENTS / ((performance.now() - t) / 1000);
    report('audit append, batched (maxBatch 500, 5 ms)', kind, `${fmt(batched)} events/s`, `${fmt(batched / single, 1)}x the baseline`);

    // A gateway's statements, queued as they arrive (a slice per turn of the event loop): with a promise each, then without.
    const statements = Array.from({ length: BATCHED_EVENTS }, (_, i) => statement(i));
    const promisedRate = 1e6 / (await queueStatements(audit, statements, lazyAppend)).wallUs;
    report('audit statement event, append(lazy), batched (maxBatch 500, 50 ms)', kind, `${fmt(promisedRate)} events/s`, `${fmt(promisedRate / batched, 1)}x batched append`);
    const lazyRate = 1e6 / (await queueStatements(audit, statements, lazyNoPromise)).wallUs;
    report('audit statement event, appendLazy, batched (maxBatch 500, 50 ms)', kind, `${fmt(lazyRate)} events/s`, `${fmt(lazyRate / promisedRate, 2)}x append(lazy)`);

    const promised = await cpuPerStatement(audit, lazyAppend);
    report(`audit statement event, append(lazy): ${threadCpu.what} per event`, kind, `${fmt(promised, 1)} µs`, 'all-in: queue, encode, hash, insert, commit');
    const lazyCpu = await cpuPerStatement(audit, lazyNoPromise);
    report(`audit statement event, appendLazy: ${threadCpu.what} per event`, kind, `${fmt(lazyCpu, 1)} µs`, `${fmt(lazyCpu / promised, 2)}x append(lazy)`);

    // As the server does it: the batches hashed, inserted and committed on the audit writer thread.
    const writer = startAuditWriter(url);
    try {
      await writer.ready;
      const threaded = makeAuditLog({ store, clock: systemClock, writer });
      const threadedRate = 1e6 / (await queueStatements(threaded, statements, lazyNoPromise)).wallUs;
      report('audit statement event, appendLazy, writer thread', kind, `${fmt(threadedRate)} events/s`, `${fmt(threadedRate / lazyRate, 2)}x on the event loop`);
      const threadedCpu = await cpuPerStatement(threaded, lazyNoPromise);
      report(`audit statement event, appendLazy, writer thread: ${threadCpu.what} per event`, kind, `${fmt(threadedCpu, 1)} µs`, `${fmt(threadedCpu / lazyCpu, 2)}x on the event loop`);
    } finally {
      await writer.close();
    }

    t = performance.now();
    const v = await audit.verify();
    const verifyRate = v.events / ((performance.now() - t) / 1000);
    if (!v.ok) throw new Error(`the chain does not verify: ${v.reason}`);
    report(`audit verify (${fmt(v.events)} events)`, kind, `${fmt(verifyRate)} events/s`, `${fmt(verifyRate / batched, 1)}x batched append`);
  } finally {
    await done();
  }
}

/** What append and verify spend on one statement event's encoding and hash, against the reference encoding (canonicalJson). */
function benchEncoding(): void {
  const events = Array.from({ length: 20_000 }, (_, i) => {
    const s = statement(i);
    return { seq: i + 1, time: '2026-03-02T09:30:00.000Z', actor: s.actor, action: s.action, target: s.target ?? null, source: s.source ?? null, details: s.details!, prev_hash: 'f'.repeat(64) };
  });
  const time = (fn: (e: (typeof events)[number]) => string): number => {
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const t = performance.now();
      for (const e of events) fn(e);
      best = Math.min(best, ((performance.now() - t) * 1000) / events.length);
    }
    return best;
  };
  const reference = time((e) => sha256Hex(canonicalJson({ seq: e.seq, time: e.time, actor: e.actor, action: e.action, target: e.target, source: e.source, details: e.details, prev_hash: e.prev_hash })));
  report('audit statement event: canonicalJson + SHA-256 (the definition)', '-', `${fmt(reference, 2)} µs`, 'baseline');
  const fast = time((e) => sha256Hex(canonicalEventJson(e, canonicalJsonOfData(e.details)!)));
  report('audit statement event: append path encoding + hash', '-', `${fmt(fast, 2)} µs`, `${fmt(fast / reference, 2)}x the definition`);
  const verify = time(eventHash);
  report('audit statement event: eventHash (what verify does)', '-', `${fmt(verify, 2)} µs`, `${fmt(verify / reference, 2)}x the definition`);
}

// ── policy decisions ──────────────────────────────────────────────────────────────────────────────────

function bigPolicyText(): string {
  const groups = Array.from({ length: 20 }, (_, i) => `team-${i}`);
  const principals = Array.from({ length: 1000 }, (_, i) => ({
    name: `user-${i}`,
    kind: i % 50 === 0 ? 'agent' : 'user',
    groups: [groups[i % 20]!, groups[(i * 7 + 3) % 20]!, ...(i % 10 === 0 ? ['oncall'] : []), ...(i % 25 === 0 ? ['dba'] : [])],
  }));
  const envs = ['prod', 'staging', 'dev'];
  const kinds = ['postgres', 'mysql', 'ssh'];
  const resources = Array.from({ length: 200 }, (_, i) => ({ name: `db-${i}`, kind: kinds[i % 3], address: `10.0.${i >> 8}.${i & 255}:5432`, labels: { env: envs[i % 3], team: groups[i % 20] } }));
  const roles = Array.from({ length: 50 }, (_, i) => ({
    name: `role-${i}`,
    resources: i % 2 === 0 ? { labels: { env: envs[i % 3], team: groups[i % 20] } } : { names: Array.from({ length: 6 }, (_, j) => `db-${(i * 13 + j * 17) % 200}`) },
    privileges: { sql: i % 5 === 0 ? 'write' : 'read' },
    max_duration: '8h',
    requestable_by: { groups: [groups[i % 20], groups[(i + 5) % 20], groups[(i + 11) % 20]] },
    approval: {
      approver_groups: ['dba'],
      auto_approve: [{ requester_groups: ['oncall'], max_duration: '1h', ...(i % 2 === 0 ? { time_window: { from: '08:00', to: '20:00', zone: 'Europe/Berlin' } } : {}) }],
    },
    justification: { pattern: '^[A-Z]+-[0-9]+', ticket_pattern: '^[A-Z]+-[0-9]+$' },
    break_glass: i % 10 === 0,
  }));
  return stringify({ version: 1, principals, admins: { groups: ['dba'] }, resources, roles });
}

const SMALL_POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: dave, groups: [engineers, oncall] }
  - { name: bob, groups: [dba] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod } }
roles:
  - name: read
    resources: { labels: { env: prod } }
    max_duration: 8h
    requestable_by: { groups: [engineers] }
    approval:
      approver_groups: [dba]
      auto_approve: [{ requester_groups: [oncall], max_duration: 1h, time_window: { from: "08:00", to: "20:00", zone: Europe/Berlin } }]
    justification: { pattern: "^[A-Z]+-[0-9]+", ticket_pattern: "^[A-Z]+-[0-9]+$" }
  - name: read-any-time
    resources: { names: [prod-orders] }
    max_duration: 8h
    requestable_by: { groups: [engineers] }
    approval:
      approver_groups: [dba]
      auto_approve: [{ requester_groups: [oncall], max_duration: 1h }]
    justification: { pattern: "^[A-Z]+-[0-9]+", ticket_pattern: "^[A-Z]+-[0-9]+$" }
`;

/** Asks that pass the policy: a requester of each role on each resource it covers. */
function eligibleAsks(policy: Policy, count: number): { p: Principal; ask: RequestAsk }[] {
  const pairs: { p: Principal; ask: RequestAsk }[] = [];
  for (const res of policy.resources) {
    for (const role of policy.rolesFor(res)) {
      const p = policy.principals.find((x) => policy.canRequest(x, role) && x.groups.includes('oncall')) ?? policy.principals.find((x) => policy.canRequest(x, role));
      if (p) pairs.push({ p, ask: { resource: res.name, role: role.name, duration_seconds: 1800, reason: 'OPS-42 check a stuck order', ticket: 'OPS-42' } });
    }
  }
  if (pairs.length === 0) throw new Error('the generated policy has no eligible asks');
  // Half within the auto-approval ceiling (so its time window is read), half above it.
  return Array.from({ length: count }, (_, i) => {
    const x = pairs[i % pairs.length]!;
    return { p: x.p, ask: { ...x.ask, duration_seconds: Math.floor(i / pairs.length) % 2 ? 1800 : 7200 } };
  });
}

function timeDecisions(policy: Policy, asks: { p: Principal; ask: RequestAsk }[]): { usPerDecision: number; auto: number } {
  const now = new Date('2026-03-02T09:30:00Z');
  let auto = 0;
  const run = () => {
    for (const { p, ask } of asks) {
      const { role } = checkRequest(policy, p, ask);
      if (policy.autoApproveRule(p, role, ask.duration_seconds, now) >= 0) auto++;
    }
  };
  run(); // warm up
  auto = 0;
  const t = performance.now();
  run();
  return { usPerDecision: ((performance.now() - t) * 1000) / asks.length, auto };
}

function benchPolicy(): void {
  const text = bigPolicyText();
  let t = performance.now();
  const big = parsePolicy(text, 'bench.yaml');
  const parseMs = performance.now() - t;
  report(`policy load (${big.roles.length} roles, ${big.resources.length} resources, ${big.principals.length - 1} principals, ${fmt(text.length / 1024)} KiB)`, '-', `${fmt(parseMs)} ms`);
  const small = parsePolicy(SMALL_POLICY, 'small.yaml');
  const base = timeDecisions(small, eligibleAsks(small, DECISIONS));
  report('decision: checkRequest + autoApproveRule, 2-role policy', '-', `${fmt(base.usPerDecision, 2)} µs`, `baseline; ${fmt((100 * base.auto) / DECISIONS)}% auto-approved`);
  const r = timeDecisions(big, eligibleAsks(big, DECISIONS));
  report('decision: checkRequest + autoApproveRule, generated policy', '-', `${fmt(r.usPerDecision, 2)} µs`, `${fmt(r.usPerDecision / base.usPerDecision, 2)}x the 2-role policy; ${fmt((100 * r.auto) / DECISIONS)}% auto-approved`);

  // Refusals throw: what a denied ask costs.
  const bob = small.principal('bob')!;
  const ask = { resource: 'prod-orders', role: 'read', duration_seconds: 600, reason: 'OPS-1 x' };
  t = performance.now();
  for (let i = 0; i < DECISIONS; i++) {
    try {
      checkRequest(small, bob, ask);
    } catch {
      // refused, as expected
    }
  }
  report('decision: a refused ask (throws AirlockError)', '-', `${fmt(((performance.now() - t) * 1000) / DECISIONS, 2)} µs`, `${fmt((((performance.now() - t) * 1000) / DECISIONS) / base.usPerDecision, 1)}x an allowed one`);
}

// ── mass expiry ───────────────────────────────────────────────────────────────────────────────────────

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function benchExpiry(kind: Kind): Promise<void> {
  const { store, done } = await freshStore(kind);
  try {
    const policy = parsePolicy(SMALL_POLICY, 'small.yaml');
    const audit = makeAuditLog({ store, clock: systemClock });
    const access = makeAccess({ store, clock: systemClock, audit, policy: () => policy, onError: (e) => console.error('expiry error:', e) });
    const startsAt = new Date().toISOString();
    const expiresAtMs = Date.now() + 4000;
    const expiresAt = new Date(expiresAtMs).toISOString();
    const grants = Array.from({ length: GRANTS }, (_, i) => ({
      id: `grt_bench${String(i).padStart(6, '0')}`, request_id: `req_bench${String(i).padStart(6, '0')}`, principal: `user-${i % 1000}`, resource: 'prod-orders', role: 'read',
      status: 'active' as const, starts_at: startsAt, expires_at: expiresAt, ended_at: null, end_reason: null, ended_by: null, break_glass: 0, needs_review: 0,
    }));
    for (let i = 0; i < grants.length; i += 500) await store.db.insertInto('grants').values(grants.slice(i, i + 500)).execute();
    await access.expiry.start();
    if (Date.now() >= expiresAtMs) throw new Error('setup took longer than the grants live; raise the margin');
    for (;;) {
      await sleep(50);
      const { n } = await store.db.selectFrom('grants').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'active').executeTakeFirstOrThrow();
      if (Number(n) === 0) break;
      if (Date.now() > expiresAtMs + 120_000) throw new Error('expiry did not finish within 2 minutes');
    }
    await access.expiry.stop();
    const ended = await store.db.selectFrom('grants').select(['ended_at', 'status']).execute();
    if (ended.some((g) => g.status !== 'expired')) throw new Error('a grant ended otherwise than by expiry');
    const lags = ended.map((g) => Date.parse(g.ended_at!) - expiresAtMs).sort((a, b) => a - b);
    if (lags[0]! < 0) throw new Error(`a grant ended ${-lags[0]!} ms early`);
    const wall = lags[lags.length - 1]!;
    report(`expiry of ${fmt(GRANTS)} grants due at one instant: rate`, kind, `${fmt(GRANTS / (wall / 1000))} grants/s`);
    report('expiry lag ended_at - expires_at p50 / p99 / max', kind, `${fmt(pct(lags, 50))} / ${fmt(pct(lags, 99))} / ${fmt(wall)} ms`, `all ended ${fmt(wall / 1000, 2)} s after expires_at`);
    const v = await audit.verify();
    if (!v.ok || v.events !== GRANTS) throw new Error(`expected ${GRANTS} grant.expire events in a valid chain, got ${v.events} (${v.reason ?? 'ok'})`);
  } finally {
    await done();
  }
}

// ── main ──────────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const started = performance.now();
  const kinds: Kind[] = ['sqlite'];
  if (await pgReachable()) kinds.push('postgres');
  else console.log(`# no PostgreSQL at ${PG_ADMIN.replace(/:[^:@/]+@/, ':***@')}; PostgreSQL rows are skipped`);
  console.log(`# node ${process.version}, ${process.platform}/${process.arch}`);
  console.log('policy decisions');
  benchPolicy();
  console.log('audit encoding');
  benchEncoding();
  for (const kind of kinds) {
    console.log(`audit on ${kind}`);
    await benchAudit(kind);
  }
  for (const kind of kinds) {
    console.log(`expiry on ${kind}`);
    await benchExpiry(kind);
  }
  const w = [Math.max(...rows.map((r) => r.what.length)), 8, Math.max(...rows.map((r) => r.value.length))];
  console.log(`\n${'measure'.padEnd(w[0]!)}  ${'store'.padEnd(w[1]!)}  ${'value'.padEnd(w[2]!)}  ratio`);
  console.log(`${'-'.repeat(w[0]!)}  ${'-'.repeat(w[1]!)}  ${'-'.repeat(w[2]!)}  -----`);
  for (const r of rows) console.log(`${r.what.padEnd(w[0]!)}  ${r.store.padEnd(w[1]!)}  ${r.value.padEnd(w[2]!)}  ${r.ratio}`);
  console.log(`\n# total ${fmt((performance.now() - started) / 1000, 1)} s`);
}

await main();
