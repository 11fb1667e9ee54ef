// A session planned before its grant ended, its principal was locked or its token was revoked, and registered after
// that end was acted on (the upstream login and session.start come in between), is cut with the same reason as the
// sessions already running. The real access services and session registry; the core session every front-end uses.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, type Harness } from '../support/harness.js';
import { openSession, type GatewaySession } from '../../src/gateway/core/session-lifecycle.js';
import { silentLog } from '../../src/domain/log.js';
import type { GatewayDeps, SessionPlan } from '../../src/gateway/types.js';

describe('a session opening while its grant or token ends', () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness('sqlite');
  });
  after(async () => {
    await h?.close();
  });
  beforeEach(async () => {
    for (const l of await h.access.locks.list({ active: true })) await h.access.locks.lift(h.caller('sec'), l.id);
    for (const g of await h.access.grants.list({ status: 'active', limit: 1000 })) await h.access.grants.revoke(h.caller('sec'), g.id, 'next test');
  });

  /** A grant and a token for alice, and a session planned with them, not yet registered. */
  async function planned(): Promise<{ session: GatewaySession; grantId: string; tokenId: string }> {
    const req = await h.access.requests.create(h.caller('alice'), { resource: 'prod-orders', role: 'read', duration_seconds: 1800, reason: 'OPS-1 look at a stuck order' });
    const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id, 'ok');
    const grant = (await h.access.grants.get(grant_id!))!;
    const { record } = await h.access.tokens.create(h.caller('alice'), 'alice', 3600);
    const plan = { principal: h.policy.principal('alice')!, grant, resource: h.policy.resource('prod-orders')!, role: h.policy.role('read')!, upstream: { database: 'orders' }, guardrails: {}, read_only: true } as unknown as SessionPlan;
    const deps = { access: {}, sessions: h.access.sessions, audit: h.access.audit, log: silentLog } as unknown as GatewayDeps;
    const session = await openSession(deps, { protocol: 'postgres', plan, source: '127.0.0.1', token: { id: record.id, expires_at: record.expires_at }, application_name: null });
    return { session, grantId: grant_id!, tokenId: record.id };
  }

  /** Registers the session; resolves with the reason it was killed with, or null when still running after the registry's cut would have come. */
  async function register(session: GatewaySession): Promise<string | null> {
    let killed: string | null = null;
    session.registered({ kill: (reason) => void (killed ??= reason), auditLost: () => {} });
    await new Promise((resolve) => setImmediate(resolve));
    await session.end(killed ?? 'test done');
    return killed;
  }

  test('the grant revoked between plan and register: cut with the revoke reason', async () => {
    const { session, grantId } = await planned();
    await h.access.grants.revoke(h.caller('sec'), grantId, 'OPS-9 leaving');
    assert.match((await register(session)) ?? 'not cut', /revoked by sec: OPS-9 leaving/);
  });

  test('the principal locked between plan and register: cut with the lock reason', async () => {
    const { session } = await planned();
    await h.access.locks.create(h.caller('sec'), 'principal', 'alice', 'OPS-9 incident');
    assert.match((await register(session)) ?? 'not cut', /OPS-9 incident/);
  });

  test('the token revoked between plan and register: cut saying so', async () => {
    const { session, tokenId } = await planned();
    await h.access.tokens.revoke(h.caller('sec'), tokenId);
    assert.match((await register(session)) ?? 'not cut', /token this session logged in with was revoked/);
  });

  test('a session whose grant and token are still valid runs; so does one of another grant after a revoke', async () => {
    const first = await planned();
    assert.equal(await register(first.session), null);
    await h.access.grants.revoke(h.caller('sec'), first.grantId, 'done');
    const second = await planned();
    assert.equal(await register(second.session), null);
  });
});
