// A token's end ends what it opened: a database session logged in with a token ends within a second when the token
// is revoked (API, CLI), expires, or was minted in a password console session that signs out — and when its
// principal is locked. Through the real server, with a real client (pg) in a running query.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startServerProcess, apiJson, cli, type ServerProcess } from '../support/server-process.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';

let db: TestDatabase;
let s: ServerProcess;
let bob: string;
let gwPort: number;

type Ev = { seq: number; action: string; details: Record<string, unknown> };

before(async () => {
  db = await createTestDatabase('airlock_tokend');
  const up = new URL(adminUrl());
  const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: tok-db
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    labels: { env: test }
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: TOKEN_END_PG_PASSWORD }, mode: injected }
roles:
  - name: read
    resources: { names: [tok-db] }
    privileges: { sql: read }
    max_duration: 8h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
  s = await startServerProcess({ policy, env: { TOKEN_END_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' }, extraArgs: ['--pg-allow-loopback-cleartext'] });
  bob = (await apiJson(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;
  const alice = (await apiJson(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
  const req = await apiJson(s, alice, 'POST', '/api/v1/requests', { resource: 'tok-db', role: 'read', duration: '8h', reason: 'token end test' });
  await apiJson(s, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
  gwPort = (await apiJson(s, alice, 'GET', '/api/v1/gateways')).postgres.port;
});

after(async () => {
  await s?.stop();
  await db?.drop();
});

/** A session logged in with `token`, busy in a long query; `ended` settles (with the wall-clock time) when the gateway ends it. */
async function busySession(token: string): Promise<{ sessionId: string; ended: Promise<{ at: number; err: Error & { code?: string } }> }> {
  const listed = async () => ((await apiJson(s, bob, 'GET', '/api/v1/sessions')).sessions as { id: string; principal: string }[]).filter((x) => x.principal === 'alice');
  const before = new Set((await listed()).map((x) => x.id));
  const c = new pg.Client({ host: '127.0.0.1', port: gwPort, user: 'alice', password: token, database: 'tok-db', ssl: false });
  c.on('error', () => {});
  await c.connect();
  const ended = c.query('select pg_sleep(20)').then(
    () => assert.fail('the query ran to its end: the session was not ended'),
    (err: Error) => ({ at: Date.now(), err }),
  );
  void ended.finally(() => c.end().catch(() => {}));
  const until = Date.now() + 5000;
  for (;;) {
    const mine = (await listed()).find((x) => !before.has(x.id));
    if (mine) return { sessionId: mine.id, ended };
    if (Date.now() > until) assert.fail('the session is not listed');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function newAliceToken(ttl = '1h'): Promise<{ token: string; id: string; expires_at: string }> {
  const r = await apiJson(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl });
  return { token: r.token, id: r.id, expires_at: r.expires_at };
}

async function sessionEnd(sessionId: string): Promise<Ev> {
  const until = Date.now() + 3000;
  for (;;) {
    const ends = (await apiJson(s, bob, 'GET', '/api/v1/audit/events?action=session.end&limit=100000')).events as Ev[];
    const e = ends.find((x) => x.details.session_id === sessionId);
    if (e) return e;
    if (Date.now() > until) assert.fail(`no session.end for ${sessionId} within 3 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function assertEndedWithin(ended: Promise<{ at: number; err: Error & { code?: string } }>, since: number, sessionId: string, reason: RegExp): Promise<void> {
  const { at, err } = await ended;
  console.log(`# ${sessionId} ended ${at - since} ms after the token's end`);
  assert.ok(at - since < 1000, `the session ended ${at - since} ms after the token's end`);
  assert.equal(err.code, '57P01');
  assert.match(err.message, reason);
  const end = await sessionEnd(sessionId);
  assert.match(String(end.details.reason), reason, 'session.end says why');
}

test('a token revoked through the API ends its session within 1 s, with the reason', async () => {
  const t = await newAliceToken();
  const { sessionId, ended } = await busySession(t.token);
  const since = Date.now();
  await apiJson(s, bob, 'POST', `/api/v1/tokens/${t.id}/revoke`);
  await assertEndedWithin(ended, since, sessionId, /the access token this session logged in with was revoked by bob/);
});

test('a token revoked with `airlock token revoke` ends its session within 1 s of the revocation', async () => {
  const t = await newAliceToken();
  const { sessionId, ended } = await busySession(t.token);
  const r = await cli(s, bob, ['token', 'revoke', t.id]);
  assert.equal(r.code, 0, r.stderr);
  const revokedAt = Date.parse(((await apiJson(s, bob, 'GET', '/api/v1/tokens?principal=alice')).tokens as { id: string; revoked_at: string }[]).find((x) => x.id === t.id)!.revoked_at);
  await assertEndedWithin(ended, revokedAt, sessionId, /the access token this session logged in with was revoked by bob/);
});

test('a token that expires ends its session at the second, not at the next login', async () => {
  const t = await newAliceToken('4s');
  const { sessionId, ended } = await busySession(t.token);
  const expires = Date.parse(t.expires_at);
  const { at } = await ended.then((x) => x);
  assert.ok(at >= expires - 20, `ended ${expires - at} ms before the token expired`);
  await assertEndedWithin(ended, expires, sessionId, /the access token this session logged in with expired at/);
});

test('signing out of the password console session that minted a token ends its session within 1 s', async () => {
  await apiJson(s, bob, 'POST', '/api/v1/principals/alice/password', { password: 'correct horse battery' });
  const signIn = await fetch(`${s.url}/api/v1/console/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-airlock-csrf': '1' }, body: JSON.stringify({ principal: 'alice', password: 'correct horse battery' }) });
  assert.equal(signIn.status, 200, await signIn.clone().text());
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const { csrf } = (await signIn.json()) as { csrf: string };
  const headers = { cookie, 'x-airlock-csrf': csrf, 'content-type': 'application/json' };
  const made = await fetch(`${s.url}/api/v1/tokens`, { method: 'POST', headers, body: JSON.stringify({ principal: 'alice', ttl: '1h' }) });
  assert.equal(made.status, 201, await made.clone().text());
  const { token } = (await made.json()) as { token: string };
  const { sessionId, ended } = await busySession(token);
  const since = Date.now();
  const out = await fetch(`${s.url}/api/v1/console/sign-out`, { method: 'POST', headers, body: '{}' });
  assert.equal(out.status, 200, await out.clone().text());
  await assertEndedWithin(ended, since, sessionId, /was revoked: alice signed out of the console session that minted it/);
});

test('locking the principal ends the session within 1 s, like a grant\'s end', async () => {
  const t = await newAliceToken();
  const { sessionId, ended } = await busySession(t.token);
  const since = Date.now();
  const lock = await apiJson(s, bob, 'POST', '/api/v1/locks', { target_kind: 'principal', target: 'alice', reason: 'incident 42' });
  await assertEndedWithin(ended, since, sessionId, /principal "alice" was locked by bob: incident 42/);
  await apiJson(s, bob, 'POST', `/api/v1/locks/${lock.id}/lift`);
});
