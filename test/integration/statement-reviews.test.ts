// Statement reviews against both stores: hold → decide → wait, single use, N approvals, who may decide, time-outs,
// withdrawal, the audit trail, and the policy's checks of review:, sponsor and may_approve.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, auditEvents, STORE_KINDS, type Harness } from '../support/harness.js';
import { AirlockError } from '../../src/domain/errors.js';
import { systemClock } from '../../src/domain/clock.js';
import { parsePolicy, PolicyError } from '../../src/policy/load.js';
import { statementBinding } from '../../src/access/statement-binding.js';
import type { HoldInput } from '../../src/access/statement-reviews.js';
import { openStore } from '../../src/store/store.js';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { makeAccess } from '../../src/access/access.js';
import { attachClusterFanout } from '../../src/access/cluster.js';
import { createTestDatabase } from '../support/pg.js';

export const REVIEW_POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [dba] }
  - { name: erin, groups: [reviewers] }
  - { name: sec, groups: [security] }
  - { name: helper, kind: agent, groups: [agents], sponsor: alice }
  - { name: judge-bot, kind: agent, groups: [dba], may_approve: true }
  - { name: plain-bot, kind: agent, groups: [dba] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: prod } }
roles:
  - name: write-reviewed
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 4h
    requestable_by: { groups: [engineers, agents] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
    review: { statements: writes, timeout: 10m }
  - name: write-two
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
    review: { statements: writes, approvals: 2, timeout: 10m }
  - name: write-quick
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
    review: { statements: all, approver_principals: [erin], timeout: 1s }
`;

async function refusal(p: Promise<unknown>): Promise<AirlockError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AirlockError, `expected an AirlockError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal, but it succeeded');
}

export function holdInput(grant_id: string, statement: string, over: Partial<HoldInput> = {}): HoldInput {
  return {
    grant_id,
    session_id: 'ses_TEST',
    protocol: 'postgres',
    database: 'orders',
    statement,
    parameters: null,
    summary: { kinds: ['update'], tables: ['orders'], has_where: true, writes: true },
    source: '127.0.0.1',
    redacted: statement.replace(/'[^']*'|\b\d+\b/g, '$n'),
    ...over,
  };
}

async function grantFor(h: Harness, who: string, role: string): Promise<string> {
  const r = await h.access.requests.create(h.caller(who), { resource: 'prod-orders', role, duration_seconds: 3600, reason: 'OPS-1 fix an order' });
  const o = await h.access.reviews.approve(h.caller('bob'), r.id, 'ok');
  assert.ok(o.grant_id);
  return o.grant_id;
}

for (const kind of STORE_KINDS) {
  describe(`statement reviews on ${kind}`, () => {
    let h: Harness;
    let grant: string;
    let helperGrant = '';
    before(async () => {
      h = await makeHarness(kind, { policy: REVIEW_POLICY });
      grant = await grantFor(h, 'alice', 'write-reviewed');
    });
    after(async () => {
      await h?.close();
    });

    test('hold → approve → wait returns approved and the review is used (executed); the log has the redacted text only', async () => {
      const sr = h.access.statementReviews;
      const text = "update orders set note = 'card 4111-1111' where id = 42";
      const r = await sr.hold('alice', holdInput(grant, text));
      assert.match(r.id, /^rev_/);
      assert.equal(r.status, 'pending');
      assert.equal(r.approvals_needed, 1);
      assert.deepEqual(r.approver_groups, ['dba']);
      assert.equal(r.binding, statementBinding({ statement: text, parameters: null, grant_id: grant, policy_hash: h.policy.hash, database: 'orders' }));
      assert.equal(Date.parse(r.expires_at) - Date.parse(r.created_at), 10 * 60_000);

      const waiting = sr.wait(r.id);
      const approved = await sr.approve(h.caller('bob'), r.id, 'looks right');
      assert.equal(approved.status, 'approved');
      const out = await waiting;
      assert.equal(out.status, 'approved');
      assert.equal(out.review.status, 'executed', 'the approval is used by the waiter');
      assert.ok(out.review.executed_at);
      assert.deepEqual(out.review.approvals.map((a) => [a.reviewer, a.comment]), [['bob', 'looks right']]);
      await sr.executed(r.id, { session_id: 'ses_TEST', rows: 1 });

      const again = await sr.wait(r.id);
      assert.equal(again.status, 'executed', 'a second waiter finds it already used');
      assert.equal(await sr.consumeApproved(grant, r.binding, 'ses_OTHER'), null, 'a used approval is not used again');

      const events = (await auditEvents(h.access.audit)).filter((e) => e.details.review_id === r.id);
      assert.deepEqual(events.map((e) => e.action), ['review.requested', 'review.approve', 'review.approved', 'review.consumed', 'review.executed']);
      const requested = events[0]!;
      assert.equal(requested.details.text, "update orders set note = $n where id = $n");
      assert.ok(!JSON.stringify(events).includes('4111'), 'the literal never reaches the audit log');
      assert.deepEqual(requested.details.summary, { kinds: ['update'], tables: ['orders'], has_where: true, writes: true });
      assert.equal(events[4]!.details.rows, 1);
    });

    test('consumeApproved: an approved, unused review of the same binding is used once; two at once → one wins', async () => {
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant, 'delete from carts where id = 7'));
      await sr.approve(h.caller('carol'), r.id);
      assert.equal(await sr.consumeApproved(grant, 'not-this-binding', 'ses_X'), null);
      const [a, b] = await Promise.all([sr.consumeApproved(grant, r.binding, 'ses_A'), sr.consumeApproved(grant, r.binding, 'ses_B')]);
      assert.equal([a, b].filter((x) => x !== null).length, 1, 'exactly one consumer wins');
      const won = (a ?? b)!;
      assert.equal(won.status, 'executed');
      assert.equal((await sr.get(r.id))!.session_id, won.session_id);
      assert.equal(await sr.consumeApproved(grant, r.binding, 'ses_C'), null);
    });

    test('an approval past its time is not used', async () => {
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant, 'delete from carts where id = 8'));
      await sr.approve(h.caller('carol'), r.id);
      h.clock.advance(11 * 60_000);
      try {
        assert.equal(await sr.consumeApproved(grant, r.binding, 'ses_late'), null);
        assert.equal((await sr.get(r.id))!.status, 'approved');
      } finally {
        h.clock.advance(-11 * 60_000);
      }
    });

    test('N = 2 approvals: the first is recorded, the second approves; the same reviewer twice is refused', async () => {
      const g2 = await grantFor(h, 'alice', 'write-two');
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(g2, 'update orders set status = 1 where id = 1'));
      assert.equal(r.approvals_needed, 2);
      const waiting = sr.wait(r.id);
      const first = await sr.approve(h.caller('bob'), r.id);
      assert.equal(first.status, 'pending');
      assert.equal(first.approvals.length, 1);
      assert.equal((await refusal(sr.approve(h.caller('bob'), r.id))).code, 'AIRLOCK_ALREADY_REVIEWED');
      const second = await sr.approve(h.caller('carol'), r.id, 'second pair of eyes');
      assert.equal(second.status, 'approved');
      assert.equal(second.decided_by, 'bob,carol');
      assert.equal((await waiting).status, 'approved');
      const acts = (await auditEvents(h.access.audit)).filter((e) => e.details.review_id === r.id && e.action === 'review.approve');
      assert.deepEqual(acts.map((e) => [e.actor, e.details.approvals, e.details.needed]), [['bob', 1, 2], ['carol', 2, 2]]);
    });

    test('who may decide: not oneself, not an agent unless may_approve, only the reviewers (admins are not implied)', async () => {
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant, 'update orders set a = 1 where id = 2'));
      const self = await refusal(sr.approve(h.caller('alice'), r.id));
      assert.equal(self.code, 'AIRLOCK_SELF_REVIEW');
      const bot = await refusal(sr.approve(h.caller('plain-bot'), r.id));
      assert.equal(bot.code, 'AIRLOCK_AGENT_CANNOT_APPROVE');
      const admin = await refusal(sr.approve(h.caller('sec'), r.id));
      assert.equal(admin.code, 'AIRLOCK_NOT_APPROVER');
      assert.match(admin.message, /groups dba/);
      const erin = await refusal(sr.deny(h.caller('erin'), r.id, 'no'));
      assert.equal(erin.code, 'AIRLOCK_NOT_APPROVER');
      assert.equal((await sr.get(r.id))!.status, 'pending', 'refusals change nothing');
      const refused = (await auditEvents(h.access.audit)).filter((e) => e.action === 'review.refused' && e.details.review_id === r.id);
      assert.deepEqual(refused.map((e) => [e.actor, e.details.code]), [['alice', 'AIRLOCK_SELF_REVIEW'], ['plain-bot', 'AIRLOCK_AGENT_CANNOT_APPROVE'], ['sec', 'AIRLOCK_NOT_APPROVER'], ['erin', 'AIRLOCK_NOT_APPROVER']]);
      const ok = await sr.approve(h.caller('judge-bot'), r.id, 'agent with may_approve');
      assert.equal(ok.status, 'approved');
      assert.equal((await refusal(sr.approve(h.caller('carol'), r.id))).code, 'AIRLOCK_REVIEW_NOT_PENDING');
    });

    test('an agent\'s review names its sponsor; agents cannot decide requests either unless may_approve', async () => {
      const g = (helperGrant = await grantFor(h, 'helper', 'write-reviewed'));
      const r = await h.access.statementReviews.hold('helper', holdInput(g, 'update orders set b = 2 where id = 3'));
      assert.equal(r.sponsor, 'alice');
      assert.equal(r.principal_kind, 'agent');
      const sponsorSees = await h.access.statementReviews.list(h.caller('alice'), { status: 'pending' });
      assert.ok(sponsorSees.some((x) => x.id === r.id), 'the sponsor sees the agent\'s reviews');
      await h.access.statementReviews.withdraw(r.id, 'test over');

      const req = await h.access.requests.create(h.caller('alice'), { resource: 'prod-orders', role: 'write-quick', duration_seconds: 600, reason: 'OPS-2' });
      const e = await refusal(h.access.reviews.approve(h.caller('plain-bot'), req.id));
      assert.equal(e.code, 'AIRLOCK_AGENT_CANNOT_APPROVE');
      const refused = (await auditEvents(h.access.audit)).filter((x) => x.action === 'review.refused' && x.target === req.id);
      assert.deepEqual(refused.map((x) => x.details.code), ['AIRLOCK_AGENT_CANNOT_APPROVE']);
      const o = await h.access.reviews.approve(h.caller('judge-bot'), req.id);
      assert.equal(o.review.reviewer, 'judge-bot');
    });

    test('deny needs a comment; wait returns denied with the comment', async () => {
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant, 'delete from orders'));
      const waiting = sr.wait(r.id);
      assert.equal((await refusal(sr.deny(h.caller('bob'), r.id, '  '))).code, 'AIRLOCK_BAD_INPUT');
      await sr.deny(h.caller('bob'), r.id, 'no WHERE: this deletes every order');
      const out = await waiting;
      assert.equal(out.status, 'denied');
      assert.equal(out.review.comment, 'no WHERE: this deletes every order');
      assert.equal(out.review.decided_by, 'bob');
      assert.equal(await sr.consumeApproved(grant, r.binding, null), null);
    });

    test('an aborted wait withdraws the review; it can no longer be approved', async () => {
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant, 'update orders set c = 3 where id = 4'));
      const ac = new AbortController();
      const waiting = sr.wait(r.id, ac.signal);
      ac.abort('the client sent a CancelRequest');
      const out = await waiting;
      assert.equal(out.status, 'withdrawn');
      assert.equal(out.review.end_reason, 'the client sent a CancelRequest');
      assert.equal((await refusal(sr.approve(h.caller('bob'), r.id))).code, 'AIRLOCK_REVIEW_NOT_PENDING');
      const w = (await auditEvents(h.access.audit)).find((e) => e.action === 'review.withdrawn' && e.details.review_id === r.id);
      assert.equal(w?.details.reason, 'the client sent a CancelRequest');
    });

    test('a review past its time counts as timed out when someone tries to decide it', async () => {
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant, 'update orders set d = 4 where id = 5'));
      const unwatched = await sr.hold('alice', holdInput(grant, 'update orders set d = 5 where id = 5'));
      h.clock.advance(10 * 60_000);
      assert.equal((await sr.get(unwatched.id))!.status, 'timed_out', 'reading it shows the truth');
      assert.ok(!(await sr.list(h.caller('bob'), { status: 'pending' })).some((x) => x.id === r.id), 'nor is it listed as pending');
      const e = await refusal(sr.approve(h.caller('bob'), r.id));
      assert.equal(e.code, 'AIRLOCK_REVIEW_NOT_PENDING');
      assert.match(e.message, /timed out/);
      assert.equal((await sr.get(r.id))!.status, 'timed_out');
      assert.equal((await sr.wait(r.id)).status, 'timed_out');
    });

    test('list: own, those one may decide, all for admins and auditors', async () => {
      const sr = h.access.statementReviews;
      const mine = await sr.list(h.caller('alice'));
      assert.ok(mine.length > 0 && mine.every((x) => x.principal === 'alice' || x.sponsor === 'alice'));
      assert.equal((await sr.list(h.caller('erin'))).length, 0, 'erin reviews only write-quick, which has no reviews yet');
      const all = await sr.list(h.caller('sec'));
      assert.ok(all.some((x) => x.principal === 'helper'));
      const pending = await sr.list(h.caller('bob'), { status: 'denied' });
      assert.ok(pending.length >= 1 && pending.every((x) => x.status === 'denied'));
    });

    test('a grant that ends withdraws its pending reviews', async () => {
      const g = helperGrant;
      const r = await h.access.statementReviews.hold('helper', holdInput(g, 'update orders set e = 5 where id = 6'));
      await h.access.grants.revoke(h.caller('sec'), g, 'done');
      const after = await h.access.statementReviews.get(r.id);
      assert.equal(after!.status, 'withdrawn');
      assert.match(after!.end_reason ?? '', /revoked/);
      assert.equal((await refusal(h.access.statementReviews.hold('helper', holdInput(g, 'select 1')))).code, 'AIRLOCK_GRANT_NOT_ACTIVE');
    });
  });

  describe(`statement review time-out on ${kind} (real clock)`, () => {
    let h: Harness;
    before(async () => {
      h = await makeHarness(kind, { policy: REVIEW_POLICY, clock: systemClock });
    });
    after(async () => {
      await h?.close();
    });

    test('with timeout 1s, wait returns timed_out at expires_at and the log says so', async () => {
      const req = await h.access.requests.create(h.caller('alice'), { resource: 'prod-orders', role: 'write-quick', duration_seconds: 600, reason: 'OPS-3' });
      const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id);
      const sr = h.access.statementReviews;
      const r = await sr.hold('alice', holdInput(grant_id!, 'select * from orders'));
      assert.deepEqual(r.approver_groups, []);
      assert.deepEqual(r.approver_principals, ['erin']);
      const out = await sr.wait(r.id);
      const at = Date.now();
      assert.equal(out.status, 'timed_out');
      assert.ok(at >= Date.parse(r.expires_at), 'not before expires_at');
      assert.ok(at - Date.parse(r.expires_at) < 1000, 'within a second of expires_at');
      const ev = (await auditEvents(h.access.audit)).find((e) => e.action === 'review.timed_out' && e.details.review_id === r.id);
      assert.ok(ev);
      assert.equal((await refusal(sr.approve(h.caller('erin'), r.id))).code, 'AIRLOCK_REVIEW_NOT_PENDING');
    });
  });
}

describe('statement reviews across two processes on one PostgreSQL store', () => {
  test('a wait in one process ends as soon as a reviewer decides through another (LISTEN/NOTIFY)', async () => {
    const db = await createTestDatabase('airlock_sr');
    const policy = parsePolicy(REVIEW_POLICY, 'p.yaml');
    const quiet = { info: () => {}, warn: () => {} };
    const procs = [];
    try {
      for (let i = 0; i < 2; i++) {
        const store = await openStore({ url: db.url });
        const audit = makeAuditLog({ store, clock: systemClock });
        const access = makeAccess({ store, clock: systemClock, audit, policy: () => policy });
        const fanout = attachClusterFanout(access, db.url, quiet);
        procs.push({ store, audit, access, fanout });
        await fanout.start();
      }
      const [a, b] = procs as [(typeof procs)[0], (typeof procs)[0]];
      const caller = (n: string) => ({ principal: policy.principal(n)!, source: null, token_id: null });
      const req = await a.access.requests.create(caller('alice'), { resource: 'prod-orders', role: 'write-reviewed', duration_seconds: 3600, reason: 'OPS-9' });
      const { grant_id } = await a.access.reviews.approve(caller('bob'), req.id);
      for (const [decide, expected] of [['approve', 'approved'], ['deny', 'denied']] as const) {
        const r = await a.access.statementReviews.hold('alice', holdInput(grant_id!, `update orders set f = 1 where id = ${expected.length}`));
        const started = Date.now();
        const waiting = a.access.statementReviews.wait(r.id);
        if (decide === 'approve') await b.access.statementReviews.approve(caller('carol'), r.id);
        else await b.access.statementReviews.deny(caller('carol'), r.id, 'not now');
        const out = await waiting;
        assert.equal(out.status, expected);
        // The wait's own re-read comes only every 30 s: a prompt end is the change notice from the other process.
        assert.ok(Date.now() - started < 10_000, `the wait ended ${Date.now() - started} ms after the decision`);
      }
    } finally {
      for (const p of procs) {
        await p.fanout.stop();
        await p.access.expiry.stop();
        await p.audit.flush();
        await p.store.close();
      }
      await db.drop();
    }
  });
});

describe('policy checks for review:, sponsor and may_approve', () => {
  const base = (principals: string, review: string) => `
version: 1
principals:
${principals}
resources:
  - { name: db, kind: postgres, address: "127.0.0.1:5432", database: app }
roles:
  - name: w
    resources: { names: [db] }
    max_duration: 1h
    requestable_by: { groups: [eng] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
${review}
`;
  const problems = (text: string) => {
    try {
      parsePolicy(text, 'p.yaml');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      return e.problems.map((p) => `${p.field}: ${p.message}`);
    }
    return [];
  };
  const people = '  - { name: ann, groups: [eng] }\n  - { name: dan, groups: [dba] }';

  test('a valid policy loads', () => {
    assert.deepEqual(problems(base(`${people}\n  - { name: bot, kind: agent, groups: [eng], sponsor: ann }`, '    review: { statements: writes, approver_principals: [dan] }')), []);
  });
  test('sponsor must name a user principal, and only agents have one', () => {
    const p = problems(base(`${people}\n  - { name: bot, kind: agent, groups: [eng], sponsor: nobody }\n  - { name: bot2, kind: agent, groups: [eng], sponsor: bot }\n  - { name: eve, groups: [eng], sponsor: ann }`, ''));
    assert.ok(p.some((x) => /^principals\[2\]\.sponsor: .*unknown principal "nobody"/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /^principals\[3\]\.sponsor: .*"bot" is an agent/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /^principals\[4\]\.sponsor: .*only an agent has a sponsor/.test(x)), p.join('\n'));
  });
  test('may_approve is for agents only', () => {
    const p = problems(base(`${people}\n  - { name: eve, groups: [eng], may_approve: true }`, ''));
    assert.ok(p.some((x) => /^principals\[2\]\.may_approve: /.test(x)), p.join('\n'));
  });
  test('review: needs someone who may review, and names reviewers that exist', () => {
    const nobody = problems(base('  - { name: ann, groups: [eng] }\n  - { name: bot, kind: agent, groups: [dba] }', '    review: { statements: writes }'));
    assert.ok(nobody.some((x) => /^roles\[0\]\.review: .*nobody may review/.test(x)), nobody.join('\n'));
    const unknown = problems(base(people, '    review: { statements: all, approver_principals: [zed], approver_groups: [ghosts] }'));
    assert.ok(unknown.some((x) => /^roles\[0\]\.review\.approver_principals\[0\]: unknown principal "zed"/.test(x)), unknown.join('\n'));
    assert.ok(unknown.some((x) => /^roles\[0\]\.review\.approver_groups\[0\]: no principal is in group "ghosts"/.test(x)), unknown.join('\n'));
    const tooFew = problems(base(people, '    review: { statements: writes, approvals: 2 }'));
    assert.ok(tooFew.some((x) => /^roles\[0\]\.review\.approvals: /.test(x)), tooFew.join('\n'));
    assert.deepEqual(problems(base('  - { name: ann, groups: [eng] }', '    review: { statements: none }')), [], 'statements: none needs no reviewer');
  });
});
