// Two Airlock processes on one PostgreSQL store: a revocation made through one ends, within a second, a live
// session held by the other; both serve the same requests and grants, and expiry happens once; an admin's kill sent
// to one ends a session held by the other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startServerProcess, apiJson as api, type ServerProcess } from '../support/server-process.js';
import { createTestDatabase, adminUrl, type TestDatabase } from '../support/pg.js';

const dbs: TestDatabase[] = [];
const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of dbs) await d.drop();
});

let a: ServerProcess;
let b: ServerProcess;
let alice: string;
let bob: string;

before(async () => {
  const store = await createTestDatabase('airlock_cluster_store');
  const target = await createTestDatabase('airlock_cluster_target');
  dbs.push(store, target);
  const up = new URL(adminUrl());
  const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - name: shared-db
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${target.name}
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: CLUSTER_PG_PASSWORD }, mode: injected }
roles:
  - name: rw
    resources: { names: [shared-db] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
`;
  const env = { CLUSTER_PG_PASSWORD: decodeURIComponent(up.password) || 'unused' };
  a = await startServerProcess({ policy, storeUrl: store.url, env });
  servers.push(a);
  b = await startServerProcess({ policy, storeUrl: store.url, env, adminToken: a.adminToken });
  servers.push(b);
  alice = (await api(a, a.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token as string;
  bob = (await api(b, a.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token as string;
});

/** alice's pg session through process B's gateway, and a promise of the error that ends it (with when). */
async function sessionOnB(): Promise<{ c: pg.Client; ended: Promise<{ err: Error; at: number }> }> {
  const gwB = (await api(b, alice, 'GET', '/api/v1/gateways')).postgres as { host: string; port: number };
  const c = new pg.Client({ host: gwB.host, port: gwB.port, user: 'alice', database: 'shared-db', password: alice, ssl: { rejectUnauthorized: false } });
  await c.connect();
  const ended = new Promise<{ err: Error; at: number }>((resolve) => {
    c.on('error', (err) => resolve({ err, at: performance.now() }));
    c.query('select pg_sleep(30)').catch((err: Error) => resolve({ err, at: performance.now() }));
  });
  await new Promise((r) => setTimeout(r, 300));
  return { c, ended };
}

function within(ms: number, p: Promise<{ err: Error; at: number }>): Promise<{ err: Error; at: number }> {
  return Promise.race([p, new Promise<{ err: Error; at: number }>((r) => setTimeout(() => r({ err: new Error(`the session on B is still running ${ms} ms later`), at: Infinity }), ms))]);
}

test('a revoke through process A ends a session on process B within a second; expiry is recorded once', async () => {
  // Requested on A, approved on B: one store.
  const req = await api(a, alice, 'POST', '/api/v1/requests', { resource: 'shared-db', role: 'rw', duration: '30m' });
  const grantId = (await api(b, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id as string;

  const { c, ended } = await sessionOnB();
  const t0 = performance.now();
  await api(a, alice, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'moving on' });
  const { err, at } = await within(5000, ended);
  assert.ok(at - t0 < 1000, `session on B ended ${Math.round(at - t0)} ms after the revoke on A`);
  assert.match(err.message, /your grant for shared-db was revoked by you: moving on/);
  await c.end().catch(() => {});

  // A short grant that both processes schedule: it ends exactly once.
  const r2 = await api(a, alice, 'POST', '/api/v1/requests', { resource: 'shared-db', role: 'rw', duration: '2s' });
  const g2 = (await api(a, bob, 'POST', `/api/v1/requests/${r2.id}/approve`, {})).grant_id as string;
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal((await api(b, alice, 'GET', `/api/v1/grants/${g2}`)).status, 'expired');
  const expires = (await api(a, a.adminToken, 'GET', '/api/v1/audit/events?action=grant.expire')).events as { details: { grant_id: string } }[];
  assert.equal(expires.filter((e) => e.details.grant_id === g2).length, 1, 'one expiry event, not one per process');
  assert.equal((await api(b, a.adminToken, 'GET', '/api/v1/audit/verify')).ok, true);
});

test('an admin kill sent to process A ends a session held by process B within a second, audited once', async () => {
  const req = await api(a, alice, 'POST', '/api/v1/requests', { resource: 'shared-db', role: 'rw', duration: '30m' });
  const grantId = (await api(b, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id as string;
  const { c, ended } = await sessionOnB();
  assert.equal((await api(a, a.adminToken, 'GET', '/api/v1/sessions')).sessions.length, 0, 'A holds no session: the kill must travel');
  const held = (await api(b, a.adminToken, 'GET', '/api/v1/sessions')).sessions as { id: string; grant_id: string }[];
  const id = held.find((x) => x.grant_id === grantId)!.id;

  const t0 = performance.now();
  const res = await api(a, a.adminToken, 'POST', `/api/v1/sessions/${id}/kill`, { reason: 'suspicious query' });
  assert.equal(res.killed, true);
  assert.equal(res.session.id, id);
  assert.equal(res.session.principal, 'alice');
  const { err, at } = await within(5000, ended);
  assert.ok(at - t0 < 1000, `session on B ended ${Math.round(at - t0)} ms after the kill through A`);
  assert.match(err.message, /airlock: your session was ended by \S+: suspicious query/);
  await c.end().catch(() => {});

  const kills = (await api(a, a.adminToken, 'GET', '/api/v1/audit/events?action=session.kill')).events as { details: { session_id: string; reason: string } }[];
  assert.deepEqual(kills.filter((e) => e.details.session_id === id).map((e) => e.details.reason), ['suspicious query'], 'one session.kill event, written by the process that held it');
  // The grant itself goes on: a kill ends a session, not the access.
  assert.equal((await api(b, alice, 'GET', `/api/v1/grants/${grantId}`)).status, 'active');

  // A session no process holds: the kill says so, after waiting for an answer.
  const missing = await fetch(`${a.url}/api/v1/sessions/ses_nosuchsession/kill`, { method: 'POST', headers: { authorization: `Bearer ${a.adminToken}`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { detail: string }).detail, /There is no live session ses_nosuchsession/);
  assert.equal((await api(b, a.adminToken, 'GET', '/api/v1/audit/verify')).ok, true);
});
