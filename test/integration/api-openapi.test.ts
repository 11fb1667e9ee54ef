// The OpenAPI document is a contract a client can be generated from: it lists every route the server has, and the
// real answers of every operation — a request's whole life, a live database session, console sign-in — match the
// schemas it declares (bodies, statuses, media types, and problem+json for errors).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import Ajv2020Module from 'ajv/dist/2020.js';
import type pg from 'pg';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { terminalSessions } from './recordings-harness.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startTestIdp, browse, CookieJar } from '../support/oidc-provider.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

// ajv is CommonJS: under ESM its class is the default export's `default`.
const Ajv2020 = (Ajv2020Module as unknown as { default: typeof Ajv2020Module.default }).default;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

let a: InProcessAirlock;
let db: TestDatabase;
let doc: Json;
let alice: string;
let bob: string;
let carol: string;
/** "METHOD /path/{template}" of every operation a test called and checked. */
const exercised = new Set<string>();
/** A login role of this test's own whose password Airlock keeps (password: { stored: true }) and rotates. */
const vaultRole = `airlock_oapi_vault_${Date.now().toString(36)}`;

before(async () => {
  db = await createTestDatabase('airlock_oapi');
  const up = new URL(adminUrl());
  await pgQuery(`CREATE ROLE "${vaultRole}" LOGIN PASSWORD 'oapi-vault-first'`);
  a = await startAirlock({
    env: { OAPI_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth', OAPI_SLACK_TOKEN: 'xoxb-unused', OAPI_SLACK_SECRET: 'oapi-signing-secret' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers], email: alice@example.com }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [engineers] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: orders
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    labels: { env: prod }
    description: the orders database
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: OAPI_TEST_PG_PASSWORD }, mode: per_grant_role }
  - { name: vault, kind: postgres, address: "${up.hostname}:${up.port || 5432}", database: ${db.name}, credential: { username: ${vaultRole}, password: { stored: true }, mode: injected } }
  - { name: box, kind: ssh, address: "127.0.0.1:22" }
roles:
  - name: shell
    resources: { names: [box] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: read
    resources: { labels: { env: prod } }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
notify:
  slack:
    - { name: oapi-slack, bot_token: { env: OAPI_SLACK_TOKEN }, signing_secret: { env: OAPI_SLACK_SECRET }, events: [policy.reload_refused], api_url: "http://127.0.0.1:9/api" }
`,
  });
  alice = await a.token('alice');
  bob = await a.token('bob');
  carol = await a.token('carol');
  doc = await (await fetch(`${a.server.apiUrl}/api/v1/openapi.json`)).json();
});

after(async () => {
  await a?.dropRoles(adminUrl());
  await a?.stop();
  await db?.drop();
  await pgQuery(`DROP ROLE IF EXISTS "${vaultRole}"`);
});

async function pgQuery(text: string): Promise<void> {
  const { default: pgModule } = await import('pg');
  const c = new pgModule.Client(adminUrl());
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** The document's operation for a concrete path, and its template. */
function operation(method: string, path: string): { template: string; op: Operation } | undefined {
  for (const [template, ops] of Object.entries(doc.paths as Record<string, Record<string, Operation>>)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`);
    if (re.test(path) && ops[method.toLowerCase()]) return { template, op: ops[method.toLowerCase()]! };
  }
  return undefined;
}

/** "METHOD /path/{param}" for each route in Fastify's printRoutes() tree (children print the rest of their path). */
function routeList(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/:([A-Za-z_]+)/g, '{$1}');
    for (const method of m[3]?.split(', ') ?? []) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out;
}

/** Calls the API and checks the answer against the document: declared status, media type, and body schema. */
async function call(token: string | null, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(a.server.apiUrl + url, {
    method,
    redirect: 'manual',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const path = url.split('?')[0]!;
  const found = operation(method, path);
  assert.ok(found, `${method} ${path} is in the OpenAPI document`);
  const declared = found.op.responses[String(res.status)] ?? (res.status >= 400 ? found.op.responses.default : undefined);
  assert.ok(declared, `${method} ${url} answered ${res.status}, a status the document does not declare: ${text.slice(0, 300)}`);
  const [mediaType, media] = Object.entries(declared.content ?? {})[0] ?? [];
  assert.ok(mediaType && media, `${method} ${path} ${res.status} declares a body`);
  assert.equal(res.headers.get('content-type')?.split(';')[0], mediaType, `${method} ${url}: the media type declared`);
  let parsed: Json = text;
  if (mediaType.endsWith('json')) {
    parsed = JSON.parse(text);
    const validate = ajv.compile({ ...media.schema, components: doc.components });
    assert.ok(validate(parsed), `${method} ${url} ${res.status} does not match its schema: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`);
  } else {
    assert.equal(typeof parsed, 'string');
  }
  if (res.status < 400) exercised.add(`${method} ${found.template}`);
  return { status: res.status, body: parsed, headers: res.headers };
}

test('the document lists every route the server has, each with its answer and problem+json for errors', async () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(doc.components.schemas.Problem, 'the Problem schema is a component');
  const routes = routeList(a.server.app.printRoutes({ commonPrefix: false })).filter((r) => / \/api\//.test(r));
  assert.ok(routes.length >= 30, `the route listing was read (${routes.length})`);
  const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  assert.deepEqual([...documented].sort(), [...routes].sort());
  for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, Operation & { summary?: string }>>)) {
    for (const [m, op] of Object.entries(ops)) {
      assert.ok(op.summary, `${m} ${p} has a summary`);
      // A websocket's success is its upgrade (101).
      const ok = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status) || (status === '101' && p === '/api/v1/exec') || (status === '302' && p.startsWith('/api/v1/auth/sso/')));
      assert.equal(ok.length, 1, `${m} ${p} declares its success answer`);
      assert.ok(ok[0]![1].content, `${m} ${p} declares the body of its success answer`);
      assert.deepEqual(op.responses.default?.content?.['application/problem+json']?.schema, { $ref: '#/components/schemas/Problem' }, `${m} ${p} errors`);
    }
  }
  assert.ok(doc.paths['/api/v1/requests'].post.requestBody.content['application/json'].schema.properties.duration);
});

test('a request\'s whole life, tokens, locks, policy and audit answer as documented', async () => {
  for (const url of ['/api/v1/healthz', '/api/v1/gateways', '/api/v1/openapi.json', '/api/v1/gateways/ca.crt']) await call(null, 'GET', url);
  assert.equal((await call(alice, 'GET', '/api/v1/whoami')).body.principal.email, 'alice@example.com');
  assert.equal((await call(alice, 'GET', '/api/v1/resources')).body.resources[0].roles[0].role, 'read');

  const ask = (who: string, reason: string) => call(who, 'POST', '/api/v1/requests', { resource: 'orders', role: 'read', duration: '1h', reason });
  const first = await ask(alice, 'OPS-1 approved');
  assert.equal(first.status, 201);
  await call(alice, 'GET', '/api/v1/requests');
  await call(bob, 'GET', '/api/v1/requests?scope=reviewable');
  await call(bob, 'GET', `/api/v1/requests/${first.body.id}`);
  const approved = await call(bob, 'POST', `/api/v1/requests/${first.body.id}/approve`, { comment: 'ok' });
  assert.match(approved.body.grant_id, /^grt_/);
  assert.equal((await call(bob, 'GET', `/api/v1/requests/${first.body.id}`)).body.reviews.length, 1, 'with its review');
  // alice now holds read on orders, so asking for it again would be refused as a duplicate: carol asks instead.
  const denied = await ask(carol, 'OPS-2 denied');
  assert.equal(denied.status, 201);
  await call(bob, 'POST', `/api/v1/requests/${denied.body.id}/deny`, { comment: 'not now' });
  const cancelled = await ask(carol, 'OPS-3 cancelled');
  assert.equal(cancelled.status, 201);
  assert.equal((await call(carol, 'POST', `/api/v1/requests/${cancelled.body.id}/cancel`, {})).body.status, 'cancelled');
  await call(alice, 'GET', '/api/v1/grants?active=true');

  const minted = await call(bob, 'POST', '/api/v1/tokens', { principal: 'carol', ttl: '1h', label: 'openapi test' });
  assert.equal(minted.status, 201);
  await call(bob, 'GET', '/api/v1/tokens?principal=carol');
  await call(bob, 'POST', `/api/v1/tokens/${minted.body.id}/revoke`, {});

  const key = await call(alice, 'POST', '/api/v1/ssh-keys', { key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop' });
  assert.equal(key.status, 201);
  assert.equal((await call(alice, 'POST', '/api/v1/ssh-keys', { key: '-----BEGIN OPENSSH PRIVATE KEY-----' })).status, 400);
  await call(bob, 'GET', '/api/v1/ssh-keys?principal=alice');
  await call(alice, 'DELETE', `/api/v1/ssh-keys/${key.body.id}`);

  const lock = await call(bob, 'POST', '/api/v1/locks', { target_kind: 'principal', target: 'carol', reason: 'openapi test' });
  assert.equal(lock.status, 201);
  await call(bob, 'GET', '/api/v1/locks?active=false');
  await call(bob, 'POST', `/api/v1/locks/${lock.body.id}/lift`, {});

  await call(bob, 'GET', '/api/v1/policy');
  await call(alice, 'GET', '/api/v1/policy/explain?resource=orders');
  await call(bob, 'POST', '/api/v1/policy/reload');
  await call(bob, 'GET', '/api/v1/principals');
  await call(bob, 'POST', '/api/v1/principals/alice/password', { password: 'a long enough password' });
  await call(bob, 'GET', '/api/v1/audit/verify');
  assert.ok((await call(bob, 'GET', '/api/v1/audit/events?limit=500')).body.events.length > 10);
  // Ended here so that the next test's grant is the one alice holds (a second one would be a duplicate).
  await call(alice, 'POST', `/api/v1/grants/${approved.body.grant_id}/revoke`, { reason: 'done' });

  // Errors are problem+json as the document says, for unknown paths too.
  assert.equal((await call(null, 'GET', '/api/v1/grants')).status, 401);
  assert.equal((await call(alice, 'GET', '/api/v1/requests/req_nothing')).status, 404);
  assert.equal((await call(alice, 'POST', '/api/v1/requests', { resource: 'orders' })).status, 400);
});

test('a live database session, its kill, history and statements answer as documented', async () => {
  const grantId = await a.grant(alice, bob, 'orders', 'read', '30m');
  const c: pg.Client = a.client(alice, 'alice', 'orders');
  c.on('error', () => {});
  await c.connect();
  try {
    await c.query('select 1 as one');
    const live = (await call(bob, 'GET', '/api/v1/sessions')).body.sessions;
    assert.equal(live.length, 1);
    assert.equal(live[0].grant_id, grantId);
    assert.equal((await call(alice, 'GET', `/api/v1/grants/${live[0].grant_id}`)).body.sessions.length, 1);
    const history = (await call(bob, 'GET', '/api/v1/sessions/history')).body.sessions;
    assert.equal(history[0].live, true);
    await call(bob, 'POST', `/api/v1/sessions/${live[0].id}/kill`, { reason: 'openapi test' });
    const ended = (await call(bob, 'GET', `/api/v1/sessions/${live[0].id}/statements`)).body;
    assert.equal(ended.session.live, false);
    assert.ok(ended.statements.some((s: { text: string }) => /select/i.test(s.text)));
    assert.equal((await call(bob, 'GET', '/api/v1/sessions/history')).body.sessions[0].killed_by, 'bob');
  } finally {
    await c.end().catch(() => {});
  }
  await call(alice, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'done' });
});

test('the query runner (run, a page, cancel, Export CSV) answers as documented', async () => {
  const grantId = await a.grant(alice, bob, 'orders', 'read', '30m');
  const run = await call(alice, 'POST', '/api/v1/query/run', { grant_id: grantId, sql: 'select g from generate_series(1, 3) g', limit: 2 });
  assert.deepEqual([run.body.status, run.body.rows, run.body.more], ['ok', [['1'], ['2']], true]);
  assert.deepEqual((await call(alice, 'GET', `/api/v1/query/results/${run.body.result_id}?offset=2`)).body.rows, [['3']]);
  assert.equal((await call(alice, 'POST', '/api/v1/query/run', { grant_id: grantId, sql: 'select * from no_such_table' })).body.code, 'SQLSTATE_42P01');
  assert.equal((await call(alice, 'POST', '/api/v1/query/cancel', { grant_id: grantId })).body.cancelled, false);
  assert.equal((await call(alice, 'POST', '/api/v1/query/export', { grant_id: grantId, sql: 'select 1 as one' })).body, 'one\r\n1\r\n');
  assert.equal((await call(alice, 'POST', '/api/v1/query/export', { grant_id: grantId, sql: 'select 1 as one where false' })).body, 'one\r\n', 'no rows: the header row');
  assert.equal((await call(alice, 'POST', '/api/v1/query/export', { grant_id: grantId, sql: 'delete from t' })).status, 403, 'refused by the guardrail before it ran');
  await call(alice, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'done' });
});

test('console sign-in, its session and sign-out answer as documented', async () => {
  const signIn = await call(null, 'POST', '/api/v1/console/sign-in', { token: alice }, { 'x-airlock-csrf': 'sign-in' });
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const session = await call(null, 'GET', '/api/v1/console/session', undefined, { cookie });
  assert.equal(session.body.principal, 'alice');
  assert.equal((await call(null, 'POST', '/api/v1/console/sign-out', undefined, { cookie, 'x-airlock-csrf': session.body.csrf })).body.signed_out, true);
});

test('a recorded terminal session: the recordings list, its file, its live stream and verify with recordings answer as documented', async () => {
  const grantId = await a.grant(alice, bob, 'box', 'shell', '30m');
  const live = await terminalSessions(a)(alice, 'box');
  live.recording.output('$ uptime\r\n');
  const ac = new AbortController();
  const res = await fetch(`${a.server.apiUrl}/api/v1/sessions/${live.session.id}/live`, { headers: { authorization: `Bearer ${bob}` }, signal: ac.signal });
  assert.equal(res.headers.get('content-type')?.split(';')[0], Object.keys(operation('GET', `/api/v1/sessions/${live.session.id}/live`)!.op.responses['200']!.content!)[0]);
  ac.abort();
  exercised.add('GET /api/v1/sessions/{id}/live');
  await live.end();
  assert.equal((await call(alice, 'GET', '/api/v1/recordings')).body.recordings[0].session_id, live.session.id);
  assert.match((await call(bob, 'GET', `/api/v1/sessions/${live.session.id}/recording`)).body, /uptime/);
  assert.equal((await call(bob, 'GET', '/api/v1/audit/verify?recordings=true')).body.recordings.checked, 1);
  await call(alice, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'done' });
});

test('the event stream is documented as text/event-stream', async () => {
  const ac = new AbortController();
  const res = await fetch(`${a.server.apiUrl}/api/v1/events`, { headers: { authorization: `Bearer ${alice}` }, signal: ac.signal });
  const declared = operation('GET', '/api/v1/events')!.op.responses['200']!;
  assert.equal(res.headers.get('content-type')?.split(';')[0], Object.keys(declared.content!)[0]);
  ac.abort();
  exercised.add('GET /api/v1/events');
});

test('the exec websocket is documented as an upgrade, and refuses in its own error message', async () => {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`${a.server.apiUrl.replace(/^http/, 'ws')}/api/v1/exec?resource=no-such-box`, { headers: { authorization: `Bearer ${alice}` } });
  const upgraded = new Promise<number>((res) => ws.once('upgrade', (r) => res(r.statusCode ?? 0)));
  const message = await new Promise<{ type: string; code: string }>((res) => ws.once('message', (d: Buffer) => res(JSON.parse(d.toString()) as { type: string; code: string })));
  assert.ok(operation('GET', '/api/v1/exec')!.op.responses[String(await upgraded)]);
  assert.deepEqual([message.type, message.code], ['error', 'AIRLOCK_UNKNOWN_RESOURCE']);
  ws.close();
  exercised.add('GET /api/v1/exec');
});

test('held statements (statement reviews) answer as documented', async () => {
  const grantId = await a.grant(carol, bob, 'orders', 'read', '30m');
  const summary = { kinds: ['update'], tables: ['t'], has_where: true, writes: true };
  const hold = (statement: string) => a.server.access.statementReviews.hold('carol', { grant_id: grantId, session_id: null, protocol: 'postgres', database: null, statement, parameters: null, summary, source: null });
  const [one, two] = [await hold('update t set a = 1 where id = 1'), await hold('update t set a = 2 where id = 2')];
  assert.equal((await call(bob, 'GET', '/api/v1/statement-reviews?status=pending')).body.reviews.length, 2);
  assert.equal((await call(bob, 'GET', `/api/v1/statement-reviews/${one.id}`)).body.statement, 'update t set a = 1 where id = 1');
  assert.equal((await call(alice, 'GET', `/api/v1/statement-reviews/${one.id}`)).status, 403);
  assert.equal((await call(bob, 'POST', `/api/v1/statement-reviews/${one.id}/approve`, { comment: 'ok' })).body.status, 'approved');
  assert.equal((await call(bob, 'POST', `/api/v1/statement-reviews/${two.id}/deny`, { comment: 'no' })).body.status, 'denied');
  await call(carol, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'done' });
});

test("Slack's interactivity endpoint answers as documented (a signed click on a link button is acknowledged)", async () => {
  const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0TEST' }, actions: [{ action_id: 'airlock_open', value: null }] }))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', 'oapi-signing-secret').update(`v0:${ts}:${body}`).digest('hex')}`;
  const res = await fetch(`${a.server.apiUrl}/api/v1/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': signature }, body });
  assert.equal(res.status, 200);
  assert.ok(operation('POST', '/api/v1/slack/interactions')!.op.responses['200']!.content![res.headers.get('content-type')!.split(';')[0]!]);
  const refused = await fetch(`${a.server.apiUrl}/api/v1/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': signature }, body });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  exercised.add('POST /api/v1/slack/interactions');
});

test('the notification outbox answers as documented', async () => {
  // A dead message of a webhook since removed from the policy (this policy has none): listed, and retried by an admin.
  const now = new Date().toISOString();
  await a.server.store.db.insertInto('notification_outbox').values({
    id: 'ntf_openapitest', channel: 'gone', kind: 'webhook', event: 'lock.created', key: 'lock.created:lock:lck_x', subject_kind: 'lock', subject_id: 'lck_x',
    payload: JSON.stringify({ event: 'lock.created', text: 'x', time: now, data: {} }), status: 'dead', attempts: 6, notice_time: now, next_attempt_at: now,
    lease_until: null, lease_token: null, last_error: 'HTTP 503', ref: null, created_at: now, updated_at: now, delivered_at: null,
  }).execute();
  assert.equal((await call(bob, 'GET', '/api/v1/notifications?status=dead')).body.notifications[0].id, 'ntf_openapitest');
  assert.equal((await call(alice, 'GET', '/api/v1/notifications')).status, 403);
  assert.equal((await call(bob, 'POST', '/api/v1/notifications/ntf_openapitest/retry')).body.status, 'pending');
});

test('single sign-on (docs/identity.md) answers as documented', async () => {
  const idp = await startTestIdp({ users: { alice: { password: 'pw', email: 'alice@example.com', groups: [] } } });
  const file = join(a.dir, 'airlock.yaml');
  const before = readFileSync(file, 'utf8');
  process.env.OAPI_TEST_OIDC_SECRET = idp.clientSecret;
  writeFileSync(file, `${before}identity:\n  oidc: { issuer: "${idp.issuer}", client_id: ${idp.clientId}, client_secret: { env: OAPI_TEST_OIDC_SECRET } }\n`);
  try {
    await call(bob, 'POST', '/api/v1/policy/reload');
    idp.serve(a.server.apiUrl);
    assert.equal((await call(null, 'GET', '/api/v1/auth/sso')).body.enabled, true);
    assert.equal((await call(null, 'GET', '/api/v1/auth/sso/start')).status, 302);
    const jar = new CookieJar();
    const back = await browse(`${a.server.apiUrl}/api/v1/auth/sso/start`, { jar, user: 'alice', password: 'pw', until: (u) => u.pathname === '/api/v1/auth/sso/callback' });
    assert.equal((await call(null, 'GET', back.url.pathname + back.url.search, undefined, { cookie: jar.header(back.url) })).headers.get('location'), '/');
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const confirm = await browse(`${a.server.apiUrl}/api/v1/auth/sso/start?cli_redirect=${encodeURIComponent('http://127.0.0.1:9/callback')}&challenge=${challenge}`, { user: 'alice', password: 'pw', until: (u) => u.pathname === '/api/v1/auth/sso/confirm' });
    const asked = await call(null, 'GET', confirm.url.pathname + confirm.url.search, undefined, { cookie: confirm.jar.header(confirm.url) });
    const field = (n: string) => new RegExp(`name="${n}" value="([^"]*)"`).exec(String(asked.body))![1]!;
    const allowed = await fetch(`${a.server.apiUrl}/api/v1/auth/sso/confirm`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: confirm.jar.header(confirm.url) }, body: new URLSearchParams({ id: field('id'), csrf: field('csrf'), decision: 'allow' }).toString() });
    assert.equal(allowed.status, 302);
    assert.ok(operation('POST', '/api/v1/auth/sso/confirm')!.op.responses['302']!.content!['text/plain']);
    exercised.add('POST /api/v1/auth/sso/confirm');
    const loopback = new URL(allowed.headers.get('location')!);
    assert.equal(loopback.port, '9');
    assert.equal((await call(null, 'POST', '/api/v1/auth/sso/exchange', { code: loopback.searchParams.get('code'), verifier })).body.principal, 'alice');
    assert.equal((await call(bob, 'DELETE', '/api/v1/identities/alice')).body.principal, 'alice');
    const device = await call(null, 'POST', '/api/v1/auth/sso/device');
    assert.equal((await call(null, 'POST', '/api/v1/auth/sso/device/poll', { handle: device.body.handle })).body.status, 'pending');
  } finally {
    writeFileSync(file, before);
    await call(bob, 'POST', '/api/v1/policy/reload');
    await idp.stop();
  }
});

test('signed audit checkpoints: the public key, a key rotation and the list answer as documented', async () => {
  const key = (await call(bob, 'GET', '/api/v1/audit/public-key')).body;
  assert.match(key.public_key, /BEGIN PUBLIC KEY/);
  assert.equal((await call(alice, 'GET', '/api/v1/audit/public-key')).status, 403);
  assert.equal((await call(alice, 'POST', '/api/v1/audit/rotate-key')).status, 403);
  const rotated = (await call(bob, 'POST', '/api/v1/audit/rotate-key')).body;
  assert.equal(rotated.previous_key_id, key.key_id);
  const list = (await call(bob, 'GET', '/api/v1/audit/checkpoints')).body;
  assert.ok(list.checkpoints.some((c: { next_key_id: string | null }) => c.next_key_id === rotated.key_id));
});

test('stored credentials (set, list, rotate) and the rekey of secrets at rest answer as documented', async () => {
  assert.equal((await call(bob, 'POST', '/api/v1/credentials/vault', { password: 'oapi-vault-first' })).body.version, 1);
  assert.equal((await call(alice, 'GET', '/api/v1/credentials')).status, 403);
  const listed = (await call(bob, 'GET', '/api/v1/credentials')).body.credentials;
  assert.equal(listed.find((c: Json) => c.resource === 'vault').set, true);
  assert.ok(!JSON.stringify(listed).includes('oapi-vault-first'));
  assert.equal((await call(bob, 'POST', '/api/v1/credentials/vault/rotate')).body.version, 2);
  assert.equal((await call(alice, 'POST', '/api/v1/secrets/rekey')).status, 403);
  assert.equal((await call(bob, 'POST', '/api/v1/secrets/rekey')).body.key_version, 2);
});

test('access reports answer as documented (auditors only)', async () => {
  const since = new Date(Date.now() - 86400_000).toISOString();
  const r = await call(bob, 'GET', `/api/v1/reports/access?since=${since}`);
  assert.ok(Array.isArray(r.body.rows) && r.body.rows.length > 0);
  assert.equal((await call(alice, 'GET', `/api/v1/reports/access?since=${since}`)).status, 403);
  const st = await call(bob, 'GET', `/api/v1/reports/standing?since=${since}&hours=0`);
  assert.ok(Array.isArray(st.body.findings));
});

test('every documented operation was called above and its answer checked', () => {
  const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  assert.deepEqual(documented.filter((o) => !exercised.has(o)), []);
});
