// Two Airlock deployments (two stores) on one PostgreSQL: neither's start-up cleanup touches the other's live roles or
// sessions, each drops its own overdue roles; role creation and removal are audited, and a failed drop is retried.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Clock } from '../../src/domain/clock.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { waitFor } from './pg-gateway-harness.js';

let db: TestDatabase;
let policy: string;
const env = { DEPLOY_TEST_PG_PASSWORD: decodeURIComponent(new URL(adminUrl()).password) || 'unused-with-trust-auth' };
const dirs: string[] = [];
const running = new Set<InProcessAirlock>();
const markers = new Set<string>();
const HOURS_2 = 2 * 3600_000;

async function q<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = [], url = adminUrl()): Promise<R[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** A clock `offsetMs` ahead of real time: a restart "later", while the database server keeps real time. */
const ahead = (offsetMs: number): Clock => ({ now: () => new Date(Date.now() + offsetMs) });

async function start(dir: string, clock?: Clock): Promise<InProcessAirlock> {
  const a = await startAirlock({ policy, dir, clock, env });
  running.add(a);
  markers.add(a.marker);
  return a;
}

async function stop(a: InProcessAirlock): Promise<void> {
  running.delete(a);
  await a.stop({ keepDir: true });
}

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'airlock-deploy-'));
  dirs.push(d);
  return d;
}

async function canLogin(role: string): Promise<boolean | undefined> {
  return (await q<{ rolcanlogin: boolean }>('select rolcanlogin from pg_roles where rolname = $1', [role]))[0]?.rolcanlogin;
}

async function roleOf(a: InProcessAirlock, grantId: string): Promise<string> {
  const row = await a.server.store.db.selectFrom('grant_credentials').select('username').where('grant_id', '=', grantId).executeTakeFirstOrThrow();
  return row.username;
}

async function events(a: InProcessAirlock, action: string) {
  const token = await a.token('bob');
  return (await a.api<{ events: { target: string; details: Record<string, unknown> }[] }>(token, 'GET', `/api/v1/audit/events?action=${action}`)).events;
}

before(async () => {
  db = await createTestDatabase('airlock_deploy');
  await q('create table items (id int)', [], db.url);
  const up = new URL(adminUrl());
  policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: orders
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: DEPLOY_TEST_PG_PASSWORD }, mode: per_grant_role }
roles:
  - name: read
    resources: { names: [orders] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
});

after(async () => {
  for (const a of running) await a.stop({ keepDir: true }).catch(() => {});
  await db?.drop();
  // Whatever this file's deployments left (a failed assertion may leave live roles), then their markers.
  for (const marker of markers) {
    const members = await q<{ rolname: string }>('select r.rolname from pg_roles r join pg_auth_members m on m.member = r.oid join pg_roles k on k.oid = m.roleid where k.rolname = $1', [marker]);
    for (const { rolname } of members) await q(`DROP OWNED BY "${rolname}"; DROP ROLE "${rolname}"`).catch((e) => console.error(`# teardown: ${(e as Error).message}`));
    await q(`DROP ROLE IF EXISTS "${marker}"`).catch((e) => console.error(`# teardown: ${(e as Error).message}`));
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a second deployment leaves the first one\'s live role and session alone; each drops only its own overdue roles', async () => {
  const dirA = newDir();
  const dirB = newDir();
  let a = await start(dirA);
  const aliceA = await a.token('alice');
  const grantA = await a.grant(aliceA, await a.token('bob'), 'orders', 'read');
  const session = a.client(aliceA, 'alice', 'orders');
  await session.connect();
  assert.equal((await session.query('select count(*)::int as n from items')).rows[0].n, 0);
  const roleA = await roleOf(a, grantA);
  assert.match(roleA, new RegExp(`^airlock_${a.server.info.deployment_id}_alice_`));

  let b = await start(dirB);
  assert.notEqual(b.server.info.deployment_id, a.server.info.deployment_id);
  assert.notEqual(b.marker, a.marker);
  assert.equal(await canLogin(roleA), true, 'B\'s start-up cleanup left A\'s role enabled');
  assert.equal((await session.query('select 1 as one')).rows[0].one, 1, 'and A\'s session alive');

  const aliceB = await b.token('alice');
  const grantB = await b.grant(aliceB, await b.token('bob'), 'orders', 'read');
  const roleB = await roleOf(b, grantB);
  await stop(b);
  // B comes back after its grant's end: its own role goes, A's stays.
  b = await start(dirB, ahead(HOURS_2));
  assert.equal(await canLogin(roleB), undefined, 'B dropped its overdue role at start');
  assert.equal(await canLogin(roleA), true);
  assert.equal((await session.query('select 1 as one')).rows[0].one, 1);
  const droppedB = await events(b, 'credential.dropped');
  assert.deepEqual(droppedB.map((e) => e.details.role), [roleB]);
  assert.equal(droppedB[0]!.details.grant_id, grantB);
  await session.end();

  const idA = a.server.info.deployment_id;
  await stop(a);
  a = await start(dirA, ahead(HOURS_2));
  assert.equal(a.server.info.deployment_id, idA, 'the deployment id is kept in the store');
  assert.equal(await canLogin(roleA), undefined, 'A dropped its own overdue role at start');
  const created = await events(a, 'credential.created');
  assert.deepEqual(created.map((e) => [e.details.grant_id, e.details.role, e.details.databases]), [[grantA, roleA, [db.name]]]);
  assert.ok(!JSON.stringify(created).includes('SCRAM') && !JSON.stringify(created).match(/password/i), 'no password in the audit events');
  await stop(a);
  await stop(b);
});

test('a configured deployment id that differs from the stored one refuses to start, saying which one to use', async () => {
  const dir = newDir();
  const a = await start(dir);
  const id = a.server.info.deployment_id!;
  await stop(a);
  await assert.rejects(startAirlock({ policy, dir, env, deploymentId: 'other1' }), (e: Error) => {
    assert.match(e.message, new RegExp(`the deployment id "other1" differs from "${id}", which this store was started with`));
    return true;
  });
  const again = await start(dir);
  assert.equal(again.server.info.deployment_id, id);
  await stop(again);
});

test('a drop that fails is kept on record, audited, and retried until the role is gone', async () => {
  const a = await start(newDir());
  const alice = await a.token('alice');
  const grantId = await a.grant(alice, await a.token('bob'), 'orders', 'read');
  const role = await roleOf(a, grantId);
  // The role owns a table in a database nobody may connect to: REASSIGN OWNED cannot reach it, so DROP ROLE fails.
  const stuck = await createTestDatabase('airlock_stuck');
  try {
    await q(`create table owned (x int); alter table owned owner to "${role}"`, [], stuck.url);
    await q(`ALTER DATABASE ${stuck.name} ALLOW_CONNECTIONS false`);
    await a.api(alice, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'done' });
    await waitFor(async () => (await events(a, 'credential.drop_failed')).length > 0, 5000, 'credential.drop_failed');
    const [failed] = await events(a, 'credential.drop_failed');
    assert.equal(failed!.details.role, role);
    assert.equal(failed!.details.attempt, 1);
    assert.match(String(failed!.details.error), new RegExp(`depend on it.*${stuck.name}`));
    const pending = await a.server.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grantId).executeTakeFirstOrThrow();
    assert.equal(pending.dropped_at, null);
    assert.equal(pending.drop_attempts, 1);
    assert.ok(pending.next_drop_at && Date.parse(pending.next_drop_at) > Date.now(), 'the next attempt is scheduled');
    assert.equal(await canLogin(role), false, 'meanwhile the role cannot log in');
    await q(`ALTER DATABASE ${stuck.name} ALLOW_CONNECTIONS true`);
    // The first retry is due 5 s after the failure.
    await waitFor(async () => (await canLogin(role)) === undefined, 15_000, 'the retried drop');
    const done = await a.server.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grantId).executeTakeFirstOrThrow();
    assert.ok(done.dropped_at);
    assert.equal(done.next_drop_at, null);
    assert.deepEqual((await events(a, 'credential.dropped')).map((e) => e.details.role), [role]);
  } finally {
    await q(`ALTER DATABASE ${stuck.name} ALLOW_CONNECTIONS true`).catch(() => {});
    await stuck.drop();
    await stop(a);
  }
});
