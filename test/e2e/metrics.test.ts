// Prometheus metrics of the real server process: GET /metrics needs no token and passes `promtool check metrics`;
// a session through the PostgreSQL gateway, a refused statement, refused logins, requests approved, denied and
// cancelled, grants revoked, expired and locked, and webhook deliveries each move the counters a user would look
// at; labels never carry a name, an id, a URL or a statement; --metrics-listen serves the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { startServerProcess, cli, apiJson, type ServerProcess } from '../support/server-process.js';
import { createTestDatabase, adminUrl, type TestDatabase } from '../support/pg.js';
import { ordersDbPolicy } from '../support/policies.js';
import { assertPromtoolClean, parseExposition, sampleValue, type Sample } from '../support/metrics.js';

let s: ServerProcess;
let db: TestDatabase;
let hooks: Server;
let alice: string;
let bob: string;
let gw: { host: string; port: number; ca: string };
/** What the webhook receiver got: event names, in order. */
const received: string[] = [];

const api = <T = any>(token: string, method: string, path: string, body?: unknown) => apiJson<T>(s, token, method, path, body); // eslint-disable-line @typescript-eslint/no-explicit-any

async function scrapeText(url = `${s.url}/metrics`): Promise<string> {
  const r = await fetch(url);
  assert.equal(r.status, 200, `GET ${url}`);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return r.text();
}

const scrape = async (url?: string): Promise<Sample[]> => parseExposition(await scrapeText(url));

/** Scrapes until `ok` holds for the samples (the counters a background task moves), for at most 10 s. */
async function scrapeUntil(ok: (m: Sample[]) => boolean, what: string): Promise<Sample[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const m = await scrape();
    if (ok(m)) return m;
    if (Date.now() > until) assert.fail(`the metrics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function request(role = 'read', duration = '30m'): Promise<string> {
  return (await api(alice, 'POST', '/api/v1/requests', { resource: 'orders-db', role, duration, reason: 'OPS-7 metrics test' })).id;
}

async function grant(duration = '30m'): Promise<string> {
  return (await api(bob, 'POST', `/api/v1/requests/${await request('read', duration)}/approve`, {})).grant_id;
}

function client(password = alice, user = 'alice'): pg.Client {
  const c = new pg.Client({ host: gw.host, port: gw.port, user, database: 'orders-db', password, ssl: { ca: gw.ca, servername: 'localhost' } });
  c.on('error', () => {});
  return c;
}

before(async () => {
  db = await createTestDatabase('airlock_metrics');
  const admin = new pg.Client(db.url);
  await admin.connect();
  await admin.query('create table orders (id serial primary key, total int not null); insert into orders (total) select i from generate_series(1, 50) i');
  await admin.end();
  // A chat that takes every notice, and one that refuses them (4xx: given up on at once, no retry).
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push(`${req.url} ${(JSON.parse(body) as { event: string }).event}`);
      res.writeHead(req.url === '/broken' ? 400 : 200).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}`;
  const up = new URL(adminUrl());
  const policy = ordersDbPolicy(db, 'METRICS_TEST_PG_PASSWORD', {
    auditor: true,
    labels: true,
    tail: `notify:
  webhooks:
    - { name: ops-chat, url: "${hookUrl}/chat", events: [request.approved, grant.revoked] }
    - { name: broken, url: "${hookUrl}/broken", events: [grant.revoked] }
`,
  });
  s = await startServerProcess({ policy, extraArgs: ['--metrics-listen', '127.0.0.1:0'], env: { METRICS_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' } });
  alice = (await api(s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
  bob = (await api(s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;
  gw = (await api(alice, 'GET', '/api/v1/gateways')).postgres;
});

after(async () => {
  await s?.stop();
  await db?.drop();
  hooks?.close();
});

test('GET /metrics answers without a token, in the text format, and promtool finds no problem in it', async () => {
  const r = await fetch(`${s.url}/metrics`);
  assert.equal(r.status, 200);
  const text = await r.text();
  assertPromtoolClean(text);
  const m = parseExposition(text);
  for (const name of ['airlock_build_info', 'airlock_sessions_live', 'airlock_grants_active', 'airlock_audit_queued_events', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']) {
    assert.ok(m.some((x) => x.name === name), `${name} is exposed`);
  }
  assert.equal(sampleValue(m, 'airlock_sessions_live', { kind: 'postgres' }), 0);
});

test('a session through the gateway: started, live, its statements by decision and rule, their durations, the bytes relayed, the audit batches', async () => {
  const m0 = await scrape();
  await grant();
  const c = client();
  await c.connect();
  assert.equal((await c.query('select count(*)::int as n from orders')).rows[0].n, 50);
  await assert.rejects(c.query('delete from orders where id = 1'), /statement refused by rule read_only/);
  const live = await scrape();
  assert.equal(sampleValue(live, 'airlock_sessions_live', { kind: 'postgres' }), 1, 'the open session is live');
  await c.end();
  const m1 = await scrapeUntil((m) => sampleValue(m, 'airlock_sessions_live', { kind: 'postgres' }) === 0, 'the session ended');
  const moved = (name: string, labels: Record<string, string> = {}) => sampleValue(m1, name, labels) - sampleValue(m0, name, labels);
  assert.equal(moved('airlock_sessions_started_total', { kind: 'postgres' }), 1);
  assert.equal(moved('airlock_statements_total', { kind: 'postgres', decision: 'allowed', rule: 'none' }), 1);
  assert.equal(moved('airlock_statements_total', { kind: 'postgres', decision: 'refused', rule: 'read_only' }), 1);
  assert.equal(moved('airlock_statement_duration_seconds_count', { kind: 'postgres' }), 1, 'only the statement that ran has a duration');
  assert.ok(moved('airlock_statement_duration_seconds_sum', { kind: 'postgres' }) > 0);
  assert.ok(moved('airlock_gateway_relayed_bytes_total', { direction: 'to_upstream' }) > 'select count(*)::int as n from orders'.length);
  assert.ok(moved('airlock_gateway_relayed_bytes_total', { direction: 'to_client' }) > 0);
  assert.ok(moved('airlock_audit_batch_events_count') >= 1, 'statements are audited in batches');
  assert.ok(moved('airlock_audit_batch_events_sum') >= 2, 'both statements are in the batched events');
  assert.equal(moved('airlock_audit_batch_commit_seconds_count'), moved('airlock_audit_batch_events_count'));
  assert.equal(moved('airlock_request_outcomes_total', { outcome: 'approved' }), 1);
  assert.equal(sampleValue(m1, 'airlock_grants_active'), 1);
});

test('refused logins are counted by the error code the client read', async () => {
  const m0 = await scrape();
  const wrong = client('alk_not-a-token');
  await assert.rejects(wrong.connect(), /password authentication failed/);
  const noGrant = client(bob, 'bob');
  await assert.rejects(noGrant.connect(), /no active grant for orders-db/);
  const m1 = await scrape();
  assert.equal(sampleValue(m1, 'airlock_sessions_refused_total', { code: 'AIRLOCK_TOKEN_INVALID' }) - sampleValue(m0, 'airlock_sessions_refused_total', { code: 'AIRLOCK_TOKEN_INVALID' }), 1);
  assert.equal(sampleValue(m1, 'airlock_sessions_refused_total', { code: 'AIRLOCK_NO_GRANT' }) - sampleValue(m0, 'airlock_sessions_refused_total', { code: 'AIRLOCK_NO_GRANT' }), 1);
  assert.equal(sampleValue(m1, 'airlock_sessions_started_total'), sampleValue(m0, 'airlock_sessions_started_total'));
});

test('requests denied and cancelled, a grant revoked: outcomes, grants ended by reason, webhook deliveries and failures', async () => {
  const m0 = await scrape();
  // The grant of the first test goes first: while alice holds it, asking for the same role again is refused.
  const { grants } = await api<{ grants: { id: string }[] }>(bob, 'GET', '/api/v1/grants?active=true');
  assert.equal(grants.length, 1);
  await api(bob, 'POST', `/api/v1/grants/${grants[0]!.id}/revoke`, { reason: 'done' });
  await api(bob, 'POST', `/api/v1/requests/${await request()}/deny`, { comment: 'not now' });
  await api(alice, 'POST', `/api/v1/requests/${await request()}/cancel`);
  const pending = await request();
  assert.equal(sampleValue(await scrape(), 'airlock_requests_pending'), 1);
  await api(alice, 'POST', `/api/v1/requests/${pending}/cancel`);
  const m1 = await scrapeUntil((m) => sampleValue(m, 'airlock_webhook_delivery_failures_total') > sampleValue(m0, 'airlock_webhook_delivery_failures_total'), 'the failed delivery to "broken"');
  const moved = (name: string, labels: Record<string, string> = {}) => sampleValue(m1, name, labels) - sampleValue(m0, name, labels);
  assert.equal(moved('airlock_request_outcomes_total', { outcome: 'denied' }), 1);
  assert.equal(moved('airlock_request_outcomes_total', { outcome: 'cancelled' }), 2);
  assert.equal(moved('airlock_request_outcomes_total', { outcome: 'approved' }), 0);
  assert.equal(moved('airlock_grants_ended_total', { reason: 'revoked' }), 1);
  assert.equal(sampleValue(m1, 'airlock_grants_active'), 0);
  assert.equal(sampleValue(m1, 'airlock_requests_pending'), 0);
  assert.equal(moved('airlock_webhook_delivery_failures_total', { webhook: 'broken', event: 'grant.revoked' }), 1);
  const m2 = await scrapeUntil((m) => sampleValue(m, 'airlock_webhook_deliveries_total', { webhook: 'ops-chat', event: 'grant.revoked' }) === 1, 'the delivery of grant.revoked to ops-chat');
  assert.equal(sampleValue(m2, 'airlock_webhook_deliveries_total', { webhook: 'ops-chat', event: 'request.approved' }), 1, 'the approval of the first test');
  assert.equal(sampleValue(m2, 'airlock_webhook_delivery_failures_total', { webhook: 'ops-chat' }), 0);
  assert.ok(received.includes('/chat grant.revoked') && received.includes('/broken grant.revoked'));
});

test('a grant that expires: counted as expired, with the lag from expires_at to its end', async () => {
  const m0 = await scrape();
  await grant('2s');
  const m1 = await scrapeUntil((m) => sampleValue(m, 'airlock_grants_ended_total', { reason: 'expired' }) > sampleValue(m0, 'airlock_grants_ended_total', { reason: 'expired' }), 'the grant expired');
  assert.equal(sampleValue(m1, 'airlock_grant_expiry_lag_seconds_count') - sampleValue(m0, 'airlock_grant_expiry_lag_seconds_count'), 1);
  const lag = sampleValue(m1, 'airlock_grant_expiry_lag_seconds_sum') - sampleValue(m0, 'airlock_grant_expiry_lag_seconds_sum');
  assert.ok(lag >= 0 && lag < 2, `the grant ended ${lag} s after its expires_at`);
});

test('a lock ends the grants it hits: counted as locked', async () => {
  const m0 = await scrape();
  await grant();
  await api(bob, 'POST', '/api/v1/locks', { target_kind: 'principal', target: 'alice', reason: 'incident INC-9' });
  const m1 = await scrape();
  assert.equal(sampleValue(m1, 'airlock_grants_ended_total', { reason: 'locked' }) - sampleValue(m0, 'airlock_grants_ended_total', { reason: 'locked' }), 1);
});

test('API requests are timed by route pattern and status; no label carries a name, an id, a URL, a token or a statement', async () => {
  // No route matches a POST here (a GET would match the console's /* route).
  const r = await fetch(`${s.url}/api/v1/no-such-thing/req_123`, { method: 'POST' });
  assert.equal(r.status, 404);
  const text = await scrapeText();
  const m = parseExposition(text);
  assert.ok(sampleValue(m, 'airlock_api_request_duration_seconds_count', { method: 'POST', route: '/api/v1/requests/:id/approve', status_code: '200' }) >= 3);
  assert.ok(sampleValue(m, 'airlock_api_request_duration_seconds_count', { method: 'POST', route: 'unmatched', status_code: '404' }) >= 1);
  const labelValues = m.flatMap((x) => Object.values(x.labels)).join('\n');
  assert.doesNotMatch(labelValues, /alice|bob/, 'no principal names');
  assert.doesNotMatch(labelValues, /\b(req|grt|ses|tok|lck)_/, 'no ids');
  assert.doesNotMatch(labelValues, /no-such-thing|127\.0\.0\.1|http:/, 'no URLs or addresses');
  assert.doesNotMatch(labelValues, /select|delete|orders/i, 'no statements or resource names');
  assert.ok(!text.includes(alice) && !text.includes(bob) && !text.includes(s.adminToken), 'no tokens');
  assertPromtoolClean(text);
});

test('--metrics-listen serves the same exposition on its own address, and nothing else there', async () => {
  const url = String(s.info.metrics_listen);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const own = await scrapeText(url);
  assertPromtoolClean(own);
  const viaApi = await scrapeText();
  const types = (t: string) => t.split('\n').filter((l) => l.startsWith('# TYPE'));
  assert.deepEqual(types(own), types(viaApi));
  const counters = (t: string) => parseExposition(t).filter((x) => /^airlock_(sessions|statements|request_outcomes|grants_ended)/.test(x.name));
  assert.deepEqual(counters(own), counters(viaApi));
  assert.equal((await fetch(url.replace('/metrics', '/api/v1/healthz'))).status, 404);
});

test('an AIRLOCK_METRICS_LISTEN that is not HOST:PORT is refused with what to write', async () => {
  const r = await cli(s, undefined, ['server', '--config', s.config, '--data', `${s.dir}/other-data`], { env: { AIRLOCK_METRICS_LISTEN: 'somewhere' } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /AIRLOCK_METRICS_LISTEN must be HOST:PORT, e\.g\. 127\.0\.0\.1:8080 \(got "somewhere"\)/);
});
