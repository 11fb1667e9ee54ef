// The PostgreSQL provider makes no per-grant role for a grant that ended after its session was planned, and none
// again once the grant's role was dropped: a login planned before the end is refused with AIRLOCK_NO_GRANT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { systemClock } from '../../src/domain/clock.js';
import { silentLog } from '../../src/domain/log.js';
import { makePgCredentials } from '../../src/gateway/pg-credentials.js';
import { markerRoleName } from '../../src/credentials/pg-role-names.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { auditEvents, makeHarness } from '../support/harness.js';
import { waitFor } from './pg-gateway-harness.js';

let db: TestDatabase;
const deploymentId = `e${randomBytes(4).toString('hex')}`;

async function q<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client(adminUrl());
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

before(async () => {
  db = await createTestDatabase('airlock_ended');
});

after(async () => {
  await db?.drop();
  const marker = markerRoleName(deploymentId);
  const members = await q<{ rolname: string }>('select r.rolname from pg_roles r join pg_auth_members m on m.member = r.oid join pg_roles k on k.oid = m.roleid where k.rolname = $1', [marker]);
  for (const { rolname } of members) await q(`DROP OWNED BY "${rolname}"; DROP ROLE "${rolname}"`).catch((e) => console.error(`# teardown: ${(e as Error).message}`));
  await q(`DROP ROLE IF EXISTS "${marker}"`).catch((e) => console.error(`# teardown: ${(e as Error).message}`));
});

test('no role is made for a grant that ended after the session was planned, nor again after its role was dropped', async () => {
  const up = new URL(adminUrl());
  process.env.ENDED_TEST_PG_PASSWORD = decodeURIComponent(up.password) || 'unused-with-trust-auth';
  const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
resources:
  - name: orders
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: ENDED_TEST_PG_PASSWORD }, mode: per_grant_role }
roles:
  - name: read
    resources: { names: [orders] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
  const h = await makeHarness('sqlite', { policy, clock: systemClock });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pg-ended-'));
  const creds = makePgCredentials({ access: h.access, dataDir: dir, deploymentId, log: silentLog });
  const orders = h.policy.resource('orders')!;
  const rowsOf = (grantId: string) => h.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grantId).execute();
  const created = async () => (await auditEvents(h.access.audit)).filter((e) => e.action === 'credential.created').length;
  const newGrant = async () => {
    const req = await h.access.requests.create(h.caller('alice'), { resource: 'orders', role: 'read', duration_seconds: 1800, reason: 'look' });
    return (await h.access.grants.get((await h.access.reviews.approve(h.caller('bob'), req.id, 'ok')).grant_id!))!;
  };
  try {
    // Not attached: nothing is made at grant start, so the connect-time path is the one that would make it.
    const planned = await newGrant();
    await h.access.grants.revoke(h.caller('bob'), planned.id, 'ended before the login');
    await assert.rejects(creds.upstreamFor(planned, orders, undefined), (e: Error & { code?: string }) => e.code === 'AIRLOCK_NO_GRANT' && /ended; request access again/.test(e.message));
    assert.deepEqual(await rowsOf(planned.id), []);
    assert.equal(await created(), 0);

    creds.attach();
    const second = await newGrant();
    await waitFor(async () => (await rowsOf(second.id)).length === 1, 5000, 'the role to be made');
    const { username } = (await rowsOf(second.id))[0]!;
    await h.access.grants.revoke(h.caller('bob'), second.id, 'done');
    await waitFor(async () => (await rowsOf(second.id))[0]!.dropped_at !== null, 5000, 'the role to be dropped');
    await assert.rejects(creds.upstreamFor(second, orders, undefined), (e: Error & { code?: string }) => e.code === 'AIRLOCK_NO_GRANT' && /was removed when it ended/.test(e.message));
    assert.equal((await rowsOf(second.id)).length, 1);
    assert.equal(await created(), 1);
    assert.deepEqual(await q('select 1 from pg_roles where rolname = $1', [username]), []);
  } finally {
    await creds.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.ENDED_TEST_PG_PASSWORD;
  }
});
