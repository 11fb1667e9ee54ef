// What survives a crash and a restart: answered changes are durable (SIGKILL right after the answer), grants that
// lapsed while Airlock was down are expired before anything is served, and policy reloads keep a good policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { startServerProcess, cli, type ServerProcess } from '../support/server-process.js';
import { E2E_POLICY } from '../support/policies.js';
import { createTestDatabase } from '../support/pg.js';

async function api<T = any>(s: ServerProcess, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(s.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: (await res.json()) as T };
}

// Five requests answered in a row: one each on five resources, since a second pending request for the same role on
// the same resource is refused as a duplicate.
const FIVE_RESOURCES = E2E_POLICY.replace(
  /  - \{ name: prod-orders,.*\n/,
  (line) => [0, 1, 2, 3, 4].map((i) => line.replace('prod-orders', `prod-orders-${i}`)).join(''),
);

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`${kind}: an answered request survives SIGKILL right after the answer, and the chain verifies`, async (t) => {
    const db = kind === 'postgres' ? await createTestDatabase('airlock_e2e') : undefined;
    t.after(() => db?.drop());
    let s = await startServerProcess({ policy: FIVE_RESOURCES, storeUrl: db?.url });
    const token = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).body.token as string;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await api(s, token, 'POST', '/api/v1/requests', { resource: `prod-orders-${i}`, role: 'read', duration: '10m', reason: `OPS-${i} crash test` });
      assert.equal(r.status, 201);
      ids.push(r.body.id);
    }
    // The last answer has just arrived: kill at once, with no chance to flush anything.
    s.child.kill('SIGKILL');
    await s.stop();
    s = await startServerProcess({ policy: FIVE_RESOURCES, dir: s.dir, adminToken: s.adminToken, storeUrl: db?.url });
    try {
      for (const id of ids) assert.equal((await api(s, token, 'GET', `/api/v1/requests/${id}`)).body.status, 'pending');
      const events = (await api(s, s.adminToken, 'GET', '/api/v1/audit/events?action=request.create')).body.events as { details: { request_id: string } }[];
      for (const id of ids) assert.ok(events.some((e) => e.details.request_id === id), `audit event for ${id} is there`);
      const v = (await api(s, s.adminToken, 'GET', '/api/v1/audit/verify')).body;
      assert.equal(v.ok, true, v.reason);
    } finally {
      await s.stop();
    }
  });
}

test('a grant that lapsed while Airlock was down is expired before anything is served', async () => {
  let s = await startServerProcess({ policy: E2E_POLICY });
  const alice = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).body.token as string;
  const bob = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).body.token as string;
  const req = (await api(s, alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '2s', reason: 'OPS-9' })).body;
  const grantId = (await api(s, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {})).body.grant_id as string;
  s.child.kill('SIGKILL');
  await s.stop();
  await new Promise((r) => setTimeout(r, 2500));
  s = await startServerProcess({ policy: E2E_POLICY, dir: s.dir, adminToken: s.adminToken });
  try {
    const g = (await api(s, alice, 'GET', `/api/v1/grants/${grantId}`)).body;
    assert.equal(g.status, 'expired');
    assert.equal(g.ended_by, 'airlock');
    const events = (await api(s, s.adminToken, 'GET', '/api/v1/audit/events?action=grant.expire')).body.events as { seq: number; details: { grant_id: string } }[];
    const start = (await api(s, s.adminToken, 'GET', '/api/v1/audit/events?action=server.start')).body.events as { seq: number; details: { overdue: { grants: number } } }[];
    const expireSeq = events.find((e) => e.details.grant_id === grantId)!.seq;
    const secondStart = start[start.length - 1]!;
    assert.ok(expireSeq < secondStart.seq, 'expired during start-up, before the server announced itself');
    assert.equal(secondStart.details.overdue.grants, 1);
  } finally {
    await s.stop();
  }
});

test('SIGHUP reloads the policy; an invalid file is refused, the old policy kept, and the refusal audited', async () => {
  const s = await startServerProcess({ policy: E2E_POLICY, extraArgs: [] });
  try {
    const alice = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).body.token as string;
    writeFileSync(s.config, `${readFileSync(s.config, 'utf8')}\n  - name: oops\n    max_duration: never\n`);
    s.child.kill('SIGHUP');
    let refused: { details: { problems: string[] } }[] = [];
    for (let i = 0; i < 50 && refused.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      refused = (await api(s, s.adminToken, 'GET', '/api/v1/audit/events?action=policy.reload_refused')).body.events;
    }
    assert.ok(refused.length >= 1, 'the refused reload is audited');
    assert.ok(refused[0]!.details.problems.some((p) => /max_duration/.test(p) && /airlock\.yaml:\d+/.test(p)), JSON.stringify(refused[0]!.details));
    assert.equal((await api(s, alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '10m', reason: 'OPS-1 still works' })).status, 201, 'the old policy still serves');

    writeFileSync(s.config, E2E_POLICY.replace('max_duration: 4h', 'max_duration: 2h'));
    s.child.kill('SIGHUP');
    let status = 0;
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await api(s, alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '3h', reason: 'OPS-2' })).status;
      if (status === 400) break;
    }
    assert.equal(status, 400, 'the new 2h ceiling applies after the reload');
    const reloads = (await api(s, s.adminToken, 'GET', '/api/v1/audit/events?action=policy.reload')).body.events;
    assert.ok(reloads.length >= 1);
    const cliCheck = await cli(s, undefined, ['policy', 'check', s.config]);
    assert.equal(cliCheck.code, 0);
  } finally {
    await s.stop();
  }
});
