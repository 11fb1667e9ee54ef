// The request → review → grant → end lifecycle, run against both stores (SQLite and a real PostgreSQL).
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, STORE_KINDS, type Harness } from '../support/harness.js';
import { AirlockError } from '../../src/domain/errors.js';

async function rejectsWith(p: Promise<unknown>, code: string, text?: RegExp): Promise<AirlockError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AirlockError, `expected an AirlockError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (text) assert.match(e.message, text);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

const ask = { resource: 'prod-orders', role: 'read', duration_seconds: 1800, reason: 'OPS-1 look at a stuck order' };

for (const kind of STORE_KINDS) {
  describe(`lifecycle on ${kind}`, () => {
    let h: Harness;
    before(async () => {
      h = await makeHarness(kind);
    });
    after(async () => {
      await h?.close();
    });
    // Each test starts with nobody holding or awaiting access: a second request for a role held or pending on the
    // same resource is refused (AIRLOCK_DUPLICATE_REQUEST, test/integration/requests-duplicates.test.ts).
    beforeEach(async () => {
      for (const r of await h.access.requests.list({ status: 'pending', limit: 1000 })) await h.access.requests.cancel(h.caller(r.principal), r.id);
      for (const g of await h.access.grants.list({ status: 'active', limit: 1000 })) await h.access.grants.revoke(h.caller('sec'), g.id, 'next test');
    });

    test('a request waits for review; approval starts a grant of exactly the asked duration', async () => {
      const req = await h.access.requests.create(h.caller('alice'), ask);
      assert.equal(req.status, 'pending');
      h.clock.advance(60_000);
      const out = await h.access.reviews.approve(h.caller('bob'), req.id, 'ok');
      assert.equal(out.request.status, 'approved');
      assert.ok(out.grant_id);
      const g = await h.access.grants.get(out.grant_id);
      assert.equal(g?.status, 'active');
      assert.equal(g?.starts_at, '2026-03-02T10:01:00.000Z', 'the duration starts at approval, not at request');
      assert.equal(g?.expires_at, '2026-03-02T10:31:00.000Z');
      assert.equal((await h.access.grants.activeFor('alice', 'prod-orders'))?.id, g?.id);
    });

    test('policy refusals are clear and audited', async () => {
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, reason: 'just looking' }), 'AIRLOCK_JUSTIFICATION', /ticket such as OPS-123/);
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, reason: '' }), 'AIRLOCK_JUSTIFICATION', /needs a reason/);
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, duration_seconds: 0 }), 'AIRLOCK_BAD_DURATION');
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, duration_seconds: -5 }), 'AIRLOCK_BAD_DURATION');
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, duration_seconds: 5 * 3600 }), 'AIRLOCK_BAD_DURATION', /at most 4h/);
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, role: 'nope' }), 'AIRLOCK_UNKNOWN_ROLE', /Roles for prod-orders: read, write/);
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, resource: 'nope' }), 'AIRLOCK_UNKNOWN_RESOURCE');
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, resource: 'staging-orders' }), 'AIRLOCK_ROLE_NOT_FOR_RESOURCE');
      await rejectsWith(h.access.requests.create(h.caller('bob'), ask), 'AIRLOCK_NOT_REQUESTABLE', /only by groups engineers, agents/);
      await rejectsWith(h.access.requests.create(h.caller('alice'), { ...ask, break_glass: true }), 'AIRLOCK_BREAK_GLASS_NOT_ALLOWED');
      await h.access.audit.flush();
      const refused = [];
      for await (const e of h.access.audit.events({ action: 'request.refused' })) refused.push(e);
      assert.ok(refused.length >= 10, `each refusal is audited (got ${refused.length})`);
      assert.equal(refused[0]!.actor, 'alice');
    });

    test('no self-approval and no approval by a non-approver; both audited', async () => {
      const req = await h.access.requests.create(h.caller('alice'), ask);
      await rejectsWith(h.access.reviews.approve(h.caller('alice'), req.id), 'AIRLOCK_SELF_APPROVAL');
      await rejectsWith(h.access.reviews.approve(h.caller('dave'), req.id), 'AIRLOCK_NOT_APPROVER');
      const w = await h.access.requests.create(h.caller('bob'), { ...ask, role: 'write' });
      await rejectsWith(h.access.reviews.approve(h.caller('bob'), w.id), 'AIRLOCK_SELF_APPROVAL', /cannot approve your own/);
      await h.access.audit.flush();
      const refused = [];
      for await (const e of h.access.audit.events({ action: 'review.refused' })) refused.push(e);
      assert.equal(refused.length, 3);
      assert.equal((await h.access.requests.get(w.id))?.status, 'pending');
    });

    test('self-approval works only where the role allows it', async () => {
      const req = await h.access.requests.create(h.caller('bob'), { resource: 'staging-orders', role: 'self-ok', duration_seconds: 600, reason: '' });
      const out = await h.access.reviews.approve(h.caller('bob'), req.id);
      assert.equal(out.request.status, 'approved');
    });

    test('two approvals needed: one is not enough, the same reviewer twice does not count', async () => {
      const req = await h.access.requests.create(h.caller('alice'), { ...ask, role: 'write' });
      const first = await h.access.reviews.approve(h.caller('bob'), req.id);
      assert.equal(first.request.status, 'pending');
      assert.equal(first.grant_id, null);
      await rejectsWith(h.access.reviews.approve(h.caller('bob'), req.id), 'AIRLOCK_ALREADY_REVIEWED');
      const second = await h.access.reviews.approve(h.caller('carol'), req.id);
      assert.equal(second.request.status, 'approved');
      assert.ok(second.grant_id);
    });

    test('simultaneous approvals create exactly one grant', async () => {
      for (let round = 0; round < 5; round++) {
        const req = await h.access.requests.create(h.caller('alice'), ask);
        const results = await Promise.allSettled([h.access.reviews.approve(h.caller('bob'), req.id), h.access.reviews.approve(h.caller('carol'), req.id)]);
        const ok = results.filter((r) => r.status === 'fulfilled');
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(ok.length, 1, 'one approval wins');
        assert.equal(failed.length, 1);
        assert.ok(failed[0]!.reason instanceof AirlockError);
        assert.equal((failed[0]!.reason as AirlockError).code, 'AIRLOCK_REQUEST_NOT_PENDING');
        const grants = await h.access.store.db.selectFrom('grants').selectAll().where('request_id', '=', req.id).execute();
        assert.equal(grants.length, 1);
        await h.access.grants.revoke(h.caller('alice'), grants[0]!.id, 'next round');
      }
    });

    test('approving a cancelled, denied or timed-out request fails with a clear message', async () => {
      const a = await h.access.requests.create(h.caller('alice'), ask);
      await rejectsWith(h.access.requests.cancel(h.caller('bob'), a.id), 'AIRLOCK_NOT_REQUESTER');
      await h.access.requests.cancel(h.caller('alice'), a.id);
      await rejectsWith(h.access.reviews.approve(h.caller('bob'), a.id), 'AIRLOCK_REQUEST_NOT_PENDING', /was cancelled by alice/);

      const b = await h.access.requests.create(h.caller('alice'), ask);
      await rejectsWith(h.access.reviews.deny(h.caller('bob'), b.id, ''), 'AIRLOCK_BAD_INPUT', /Say why/);
      await h.access.reviews.deny(h.caller('bob'), b.id, 'use the replica');
      await rejectsWith(h.access.reviews.approve(h.caller('carol'), b.id), 'AIRLOCK_REQUEST_NOT_PENDING', /was denied by bob/);

      const c = await h.access.requests.create(h.caller('alice'), ask);
      h.clock.advance(11 * 60_000);
      const due = await h.access.requests.dueForTimeout(h.clock.now());
      assert.ok(due.some((d) => d.id === c.id));
      assert.ok((await h.access.requests.timeOut(due.map((d) => d.id))) >= 1);
      await rejectsWith(h.access.reviews.approve(h.caller('bob'), c.id), 'AIRLOCK_REQUEST_NOT_PENDING', /timed out/);
      await rejectsWith(h.access.requests.cancel(h.caller('alice'), c.id), 'AIRLOCK_REQUEST_NOT_PENDING');
    });

    test('auto-approval by rule is recorded as such, and only within its ceiling', async () => {
      const quick = await h.access.requests.create(h.caller('dave'), { ...ask, duration_seconds: 3600 });
      assert.equal(quick.status, 'approved');
      assert.equal(quick.auto_approved_by, 'rule:0');
      assert.match(quick.decided_by ?? '', /auto_approve\[0\]/);
      assert.ok(quick.grant_id);
      // Held, the same role would be a duplicate: end it before asking beyond the ceiling.
      await h.access.grants.revoke(h.caller('dave'), quick.grant_id!, 'done');
      const long = await h.access.requests.create(h.caller('dave'), { ...ask, duration_seconds: 7200 });
      assert.equal(long.status, 'pending');
    });

    test('break-glass grants at once, is flagged, and owes a review afterwards', async () => {
      const req = await h.access.requests.create(h.caller('alice'), { ...ask, role: 'write', break_glass: true, duration_seconds: 600 });
      assert.equal(req.status, 'approved');
      const g = await h.access.grants.get(req.grant_id!);
      assert.equal(g?.break_glass, true);
      assert.equal(g?.needs_review, true);
      await h.access.reviews.approve(h.caller('bob'), req.id, 'justified');
      assert.equal((await h.access.grants.get(g!.id))?.needs_review, false);
      await rejectsWith(h.access.reviews.approve(h.caller('carol'), req.id), 'AIRLOCK_ALREADY_REVIEWED');
      await h.access.grants.revoke(h.caller('alice'), g!.id, 'done');
      const denied = await h.access.requests.create(h.caller('alice'), { ...ask, role: 'write', break_glass: true, duration_seconds: 600 });
      await h.access.reviews.deny(h.caller('carol'), denied.id, 'not an emergency');
      assert.equal((await h.access.grants.get(denied.grant_id!))?.status, 'revoked');
    });

    test('grants expire at expires_at, also when overdue at start', async () => {
      const req = await h.access.requests.create(h.caller('alice'), { ...ask, duration_seconds: 120 });
      const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id);
      h.clock.advance(119_000);
      await h.access.expiry.start();
      assert.equal((await h.access.grants.get(grant_id!))?.status, 'active');
      h.clock.advance(1_000);
      await h.access.expiry.stop();
      const n = await h.access.expiry.start();
      assert.ok(n.grants >= 1);
      const g = await h.access.grants.get(grant_id!);
      assert.equal(g?.status, 'expired');
      assert.equal(g?.ended_at, g?.expires_at);
      assert.equal(await h.access.grants.activeFor('alice', 'prod-orders').then((x) => x?.id === grant_id), false);
      await h.access.expiry.stop();
    });

    test('revoke by the grantee or an admin, not by others; revoking twice says it is over', async () => {
      const req = await h.access.requests.create(h.caller('alice'), ask);
      const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id);
      await rejectsWith(h.access.grants.revoke(h.caller('dave'), grant_id!, 'x'), 'AIRLOCK_FORBIDDEN');
      await rejectsWith(h.access.grants.revoke(h.caller('alice'), grant_id!, ' '), 'AIRLOCK_BAD_INPUT');
      const g = await h.access.grants.revoke(h.caller('alice'), grant_id!, 'done early');
      assert.equal(g.status, 'revoked');
      await rejectsWith(h.access.grants.revoke(h.caller('sec'), grant_id!, 'again'), 'AIRLOCK_GRANT_NOT_ACTIVE', /already revoked/);
    });

    test('a lock ends active grants at once and refuses new requests and approvals until lifted', async () => {
      const req = await h.access.requests.create(h.caller('alice'), ask);
      const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id);
      // On another resource: the same one again would be a duplicate of the grant just made.
      const pending = await h.access.requests.create(h.caller('alice'), { ...ask, resource: 'bastion' });
      await rejectsWith(h.access.locks.create(h.caller('bob'), 'principal', 'alice', 'x'), 'AIRLOCK_FORBIDDEN');
      await rejectsWith(h.access.locks.create(h.caller('sec'), 'principal', 'nobody', 'x'), 'AIRLOCK_NOT_FOUND');
      const { lock, grants_ended } = await h.access.locks.create(h.caller('sec'), 'principal', 'alice', 'laptop stolen');
      assert.ok(grants_ended >= 1);
      assert.equal((await h.access.grants.get(grant_id!))?.status, 'revoked');
      await rejectsWith(h.access.requests.create(h.caller('alice'), ask), 'AIRLOCK_LOCKED', /laptop stolen/);
      await rejectsWith(h.access.reviews.approve(h.caller('bob'), pending.id), 'AIRLOCK_LOCKED');
      await h.access.locks.lift(h.caller('sec'), lock.id);
      await rejectsWith(h.access.locks.lift(h.caller('sec'), lock.id), 'AIRLOCK_BAD_INPUT', /already lifted/);
      const out = await h.access.reviews.approve(h.caller('bob'), pending.id);
      assert.equal(out.request.status, 'approved');
    });

    test('an extension is a new request linked to the grant', async () => {
      const req = await h.access.requests.create(h.caller('alice'), ask);
      const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id);
      const ext = await h.access.requests.create(h.caller('alice'), { ...ask, extends_grant_id: grant_id });
      assert.equal(ext.extends_grant_id, grant_id);
      await rejectsWith(h.access.requests.create(h.caller('dave'), { ...ask, duration_seconds: 7200, extends_grant_id: grant_id }), 'AIRLOCK_NOT_FOUND');
    });

    test('after all of this the audit chain verifies', async () => {
      const v = await h.access.audit.verify();
      assert.equal(v.ok, true, v.reason);
      assert.ok(v.events > 40);
    });
  });
}
