// Expiry at the second with the real clock: short grants end by the scheduler's own timer within 1 s of expires_at
// (never before), and a pending request times out on its own. No manual ticks.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { openTestStore, STORE_KINDS } from '../support/harness.js';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { makeAccess, type Access } from '../../src/access/access.js';
import { parsePolicy } from '../../src/policy/load.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Caller, Grant, AccessRequest } from '../../src/domain/model.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [oncall] }
  - { name: carol, groups: [oncall] }
  - { name: bob, groups: [dba] }
resources:
  - { name: db, kind: postgres, address: "127.0.0.1:5432" }
roles:
  - name: quick
    resources: { names: [db] }
    max_duration: 1h
    requestable_by: { groups: [oncall] }
    approval:
      approver_groups: [dba]
      auto_approve: [{ requester_groups: [oncall], max_duration: 10s }]
    justification: { required: false }
    pending_timeout: 2s
`;

const LIMIT_MS = 1000;

async function waitFor<T>(what: string, read: () => Promise<T>, done: (x: T) => boolean, deadline: number): Promise<{ value: T; seenAt: number }> {
  for (;;) {
    const value = await read();
    const seenAt = Date.now();
    if (done(value)) return { value, seenAt };
    if (seenAt > deadline) assert.fail(`${what}: still not done at ${new Date(seenAt).toISOString()}`);
    await sleep(10);
  }
}

for (const kind of STORE_KINDS) {
  describe(`expiry timing on ${kind} with the real clock`, () => {
    let access: Access;
    let cleanup: () => Promise<void>;
    const policy = parsePolicy(POLICY, 'timing.yaml');
    const caller = (name: string): Caller => ({ principal: policy.principal(name)!, source: '127.0.0.1', token_id: null });

    before(async () => {
      const t = await openTestStore(kind);
      cleanup = t.cleanup;
      const audit = makeAuditLog({ store: t.store, clock: systemClock });
      access = makeAccess({ store: t.store, clock: systemClock, audit, policy: () => policy, onError: (e) => assert.fail(`scheduler error: ${String(e)}`) });
      await access.expiry.start();
    });
    after(async () => {
      await access?.expiry.stop();
      await access?.audit.flush();
      await cleanup?.();
    });

    // One role on one resource per principal at a time (a second request is refused as a duplicate): grants that
    // overlap belong to different people.
    async function grantFor(seconds: number, who = 'alice'): Promise<Grant> {
      const req = await access.requests.create(caller(who), { resource: 'db', role: 'quick', duration_seconds: seconds, reason: '' });
      assert.equal(req.status, 'approved', 'auto-approved by rule');
      return (await access.grants.get(req.grant_id!))!;
    }

    async function expectEndsOnTime(g: Grant, t: { diagnostic(msg: string): void }): Promise<void> {
      const expiresAt = Date.parse(g.expires_at);
      const { value, seenAt } = await waitFor(`grant ${g.id}`, () => access.grants.get(g.id), (x) => x?.status !== 'active', expiresAt + 5000);
      assert.equal(value?.status, 'expired');
      const lag = Date.parse(value!.ended_at!) - expiresAt;
      t.diagnostic(`${g.id}: ${(expiresAt - Date.parse(g.starts_at)) / 1000}s grant, ended_at - expires_at = ${lag} ms, seen ${seenAt - expiresAt} ms after expires_at`);
      assert.ok(lag >= 0, `ended ${-lag} ms before expires_at`);
      assert.ok(lag <= LIMIT_MS, `ended ${lag} ms after expires_at`);
      assert.ok(seenAt - expiresAt <= LIMIT_MS, `the status flipped ${seenAt - expiresAt} ms after expires_at`);
      assert.equal(await access.grants.activeFor(g.principal, 'db').then((x) => x?.id === g.id), false);
    }

    test('1 s and 2 s grants expire within 1 s of expires_at, by the timer alone', async (t) => {
      const [one, two] = await Promise.all([grantFor(1), grantFor(2, 'carol')]);
      // Still active just before the end.
      await sleep(Math.max(0, Date.parse(one.expires_at) - Date.now() - 150));
      assert.equal((await access.grants.get(one.id))?.status, 'active');
      await Promise.all([expectEndsOnTime(one, t), expectEndsOnTime(two, t)]);
      const events = [];
      for await (const e of access.audit.events({ action: 'grant.expire' })) events.push(e);
      assert.deepEqual(events.map((e) => e.details.grant_id).sort(), [one.id, two.id].sort());
      assert.ok(events.every((e) => e.actor === 'airlock'));
    });

    test('a sooner grant made while the timer waits for a later one re-arms it', async (t) => {
      const later = await grantFor(2);
      await sleep(100);
      const sooner = await grantFor(1, 'carol');
      assert.ok(Date.parse(sooner.expires_at) < Date.parse(later.expires_at));
      await expectEndsOnTime(sooner, t);
      assert.equal((await access.grants.get(later.id))?.status, 'active', 'the later grant runs on');
      await expectEndsOnTime(later, t);
    });

    test('a pending request times out on its own at pending_timeout (2 s)', async (t) => {
      const req = await access.requests.create(caller('alice'), { resource: 'db', role: 'quick', duration_seconds: 600, reason: '' });
      assert.equal(req.status, 'pending', 'above the auto-approval ceiling');
      const timeoutAt = Date.parse(req.timeout_at);
      assert.equal(timeoutAt - Date.parse(req.created_at), 2000);
      await sleep(Math.max(0, timeoutAt - Date.now() - 150));
      assert.equal((await access.requests.get(req.id))?.status, 'pending');
      const { value, seenAt } = await waitFor<AccessRequest | undefined>(`request ${req.id}`, () => access.requests.get(req.id), (x) => x?.status !== 'pending', timeoutAt + 5000);
      assert.equal(value?.status, 'timed_out');
      const lag = Date.parse(value!.decided_at!) - timeoutAt;
      t.diagnostic(`request: decided_at - timeout_at = ${lag} ms, seen ${seenAt - timeoutAt} ms after timeout_at`);
      assert.ok(lag >= 0 && lag <= LIMIT_MS, `timed out ${lag} ms after timeout_at`);
      assert.ok(seenAt - timeoutAt <= LIMIT_MS);
      assert.equal(value?.decided_by, 'airlock');
    });

    test('after all of this the audit chain verifies', async () => {
      const v = await access.audit.verify();
      assert.equal(v.ok, true, v.reason);
    });
  });
}
