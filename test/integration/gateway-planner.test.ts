// The core planner is kind-aware: each front-end plans only resources of its own kind and tells a user who came to the
// wrong listener where to go; the upstream login comes from the provider for the resource's kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHarness } from '../support/harness.js';
import { makeGatewayAccess } from '../../src/gateway/core/planner.js';
import { makePgCredentials } from '../../src/gateway/pg-credentials.js';
import { isAirlockError } from '../../src/domain/errors.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - { name: pg-db, kind: postgres, address: "127.0.0.1:5432", database: orders, credential: { username: postgres, password: { env: PLANNER_TEST_PW }, mode: injected } }
  - { name: my-db, kind: mysql, address: "127.0.0.1:3306", database: shop }
  - { name: box, kind: ssh, address: "127.0.0.1:22" }
roles:
  - name: read
    resources: { names: [pg-db, my-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAirlockError(e), String(e));
    return { code: e.code, message: e.message };
  }
  assert.fail('the session was planned');
}

test('a resource of another kind is refused with AIRLOCK_UNKNOWN_RESOURCE naming its listener; the own kind is planned with its provider', async () => {
  process.env.PLANNER_TEST_PW = 'planner-test-password';
  const h = await makeHarness('sqlite', { policy: POLICY });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-planner-'));
  const pgCreds = makePgCredentials({ access: h.access, dataDir: dir, log: { info() {}, warn() {}, error() {} } as never });
  try {
    const ga = makeGatewayAccess({ access: h.access, credentials: { postgres: pgCreds } });
    const alice = h.policy.principal('alice')!;
    let r = await refusal(ga.planSession(alice, 'my-db', undefined, 'postgres'));
    assert.equal(r.code, 'AIRLOCK_UNKNOWN_RESOURCE');
    assert.match(r.message, /"my-db" is a mysql resource, not a PostgreSQL database; connect to the MySQL listener/);
    r = await refusal(ga.planSession(alice, 'pg-db', undefined, 'mysql'));
    assert.equal(r.code, 'AIRLOCK_UNKNOWN_RESOURCE');
    assert.match(r.message, /"pg-db" is a postgres resource, not a MySQL database; connect to the PostgreSQL listener/);
    r = await refusal(ga.planSession(alice, 'box', undefined, 'postgres'));
    assert.match(r.message, /"box" is a ssh resource/);
    // Its own kind goes on to the grant check, then to the postgres provider.
    r = await refusal(ga.planSession(alice, 'pg-db', undefined, 'postgres'));
    assert.equal(r.code, 'AIRLOCK_NO_GRANT');
    const req = await h.access.requests.create(h.caller('alice'), { resource: 'pg-db', role: 'read', duration_seconds: 1800, reason: 'planner test' });
    await h.access.reviews.approve(h.caller('bob'), req.id, 'ok');
    const plan = await ga.planSession(alice, 'pg-db', undefined, 'postgres');
    assert.equal(plan.upstream.user, 'postgres');
    assert.equal(plan.upstream.database, 'orders');
    assert.ok(plan.upstream.security, 'a PostgreSQL login carries its TLS rules');
    // A mysql resource with no mysql provider wired is an internal error, not a session without credentials.
    const req2 = await h.access.requests.create(h.caller('alice'), { resource: 'my-db', role: 'read', duration_seconds: 1800, reason: 'planner test' });
    await h.access.reviews.approve(h.caller('bob'), req2.id, 'ok');
    r = await refusal(ga.planSession(alice, 'my-db', undefined, 'mysql'));
    assert.equal(r.code, 'AIRLOCK_INTERNAL');
  } finally {
    await pgCreds.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
