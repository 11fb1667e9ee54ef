// Against both stores: a second request for what is already held or pending is refused with a code and a way on;
// and the sessions table follows the gateway's session events in the transaction that appends them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, STORE_KINDS, type Harness } from '../support/harness.js';
import { AirlockError } from '../../src/domain/errors.js';

async function refusal(p: Promise<unknown>): Promise<AirlockError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AirlockError, `expected an AirlockError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal, but it succeeded');
}

const ask = { resource: 'prod-orders', role: 'read', duration_seconds: 1800, reason: 'OPS-1 look at a stuck order' };

for (const kind of STORE_KINDS) {
  describe(`duplicate requests and the sessions table on ${kind}`, () => {
    let h: Harness;
    before(async () => {
      h = await makeHarness(kind);
    });
    after(async () => {
      await h?.close();
    });

    test('a role held on a resource is not granted twice: the refusal names the grant, its end and --extends', async () => {
      const first = await h.access.requests.create(h.caller('alice'), ask);
      const pending = await refusal(h.access.requests.create(h.caller('alice'), { ...ask, reason: 'OPS-2 again' }));
      assert.equal(pending.code, 'AIRLOCK_DUPLICATE_REQUEST');
      assert.equal(pending.status, 409);
      assert.match(pending.message, new RegExp(`^Your request ${first.id} for read on prod-orders is still pending .*airlock cancel ${first.id}$`));

      const { grant_id } = await h.access.reviews.approve(h.caller('bob'), first.id, 'ok');
      h.clock.advance(10 * 60_000);
      const held = await refusal(h.access.requests.create(h.caller('alice'), { ...ask, reason: 'OPS-3 once more' }));
      assert.equal(held.code, 'AIRLOCK_DUPLICATE_REQUEST');
      assert.equal(held.message, `You already hold read on prod-orders: grant ${grant_id}, until 2026-03-02T10:30:00.000Z (20m left). To keep it longer, ask for an extension: airlock request prod-orders --role read --for DURATION --reason "…" --extends ${grant_id}`);
      assert.deepEqual(held.details, { grant_id, expires_at: '2026-03-02T10:30:00.000Z' });
      assert.equal((await h.access.grants.list({ principal: 'alice', status: 'active' })).length, 1, 'still one grant');

      // The way on works: an extension is a request of its own; a second one for the same grant waits for the first.
      const ext = await h.access.requests.create(h.caller('alice'), { ...ask, reason: 'OPS-3 more time', extends_grant_id: grant_id });
      assert.equal(ext.status, 'pending');
      const again = await refusal(h.access.requests.create(h.caller('alice'), { ...ask, reason: 'OPS-3 more', extends_grant_id: grant_id }));
      assert.match(again.message, new RegExp(`request ${ext.id} for an extension of grant ${grant_id} is still pending`));
      // Other roles and other people are not held back.
      assert.equal((await h.access.requests.create(h.caller('dave'), ask)).principal, 'dave');

      await h.access.audit.flush();
      const refused = [];
      for await (const e of h.access.audit.events({ action: 'request.refused' })) if (e.details.code === 'AIRLOCK_DUPLICATE_REQUEST') refused.push(e);
      assert.equal(refused.length, 3, 'each refusal is audited');

      // Once the grant ends, asking again is fine.
      await h.access.requests.cancel(h.caller('alice'), ext.id);
      await h.access.grants.revoke(h.caller('alice'), grant_id!, 'done');
      assert.equal((await h.access.requests.create(h.caller('alice'), { ...ask, reason: 'OPS-4 new task' })).status, 'pending');
    });

    test('two identical requests at the same moment: one is made, the other refused', async () => {
      const both = await Promise.allSettled([0, 1].map(() => h.access.requests.create(h.caller('dave'), { ...ask, role: 'write', reason: 'OPS-5 same time' })));
      assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
      const no = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((no.reason as AirlockError).code, 'AIRLOCK_DUPLICATE_REQUEST');
    });

    test('the sessions table follows session.start, statements, session.kill and session.end as they are appended', async () => {
      const base = { actor: 'alice', target: 'prod-orders', source: '10.0.0.7' };
      const s = { session_id: 'ses_t1', grant_id: 'grt_x' };
      await h.access.audit.append({ ...base, action: 'session.start', details: { ...s, role: 'read', database: 'orders', token_id: 'tok_1', gateway_instance: 'i1' } });
      const row = () => h.store.db.selectFrom('sessions').selectAll().where('id', '=', 'ses_t1').executeTakeFirstOrThrow();
      assert.equal((await row()).statements, 0);
      // A statement logged before it runs counts at its statement.start, not again at its statement event.
      await h.access.audit.append({ ...base, action: 'statement.start', details: { ...s, statement_no: 1, text: 'update orders set item = $1 -- ,"session_id":"ses_other"' } });
      assert.equal((await row()).statements, 1, 'a statement still running counts');
      h.access.audit.appendLazy({ ...base, action: 'statement', details: { ...s, statement_no: 1, text: 'update orders', decision: 'allowed', rows: 1 } }, () => {});
      for (let i = 0; i < 3; i++) h.access.audit.appendLazy({ ...base, action: 'statement', details: { ...s, text: `select ${i}`, decision: 'allowed', rows: 1 } }, () => {});
      await h.access.audit.flush();
      assert.equal((await row()).statements, 4);
      const list = await h.access.sessionHistory.list(h.caller('sec'), { limit: 10 });
      assert.deepEqual(list.map((x) => [x.id, x.statements, x.live, x.ended_at]), [['ses_t1', 4, false, null]]);
      assert.deepEqual(await h.access.sessionHistory.list(h.caller('dave'), { limit: 10 }), [], "others' sessions are not shown to dave");

      await h.access.audit.append({ actor: 'sec', action: 'session.kill', target: 'prod-orders', details: { ...s, principal: 'alice', reason: 'drill' } });
      await h.access.audit.append({ ...base, action: 'session.end', details: { ...s, reason: 'your session was ended by sec: drill', statements: 5, duration_ms: 1234 } });
      const ended = await row();
      assert.deepEqual([ended.statements, ended.killed_by, ended.end_reason, ended.duration_ms, ended.role, ended.token_id], [5, 'sec', 'your session was ended by sec: drill', 1234, 'read', 'tok_1']);
      const timeline = await h.access.sessionHistory.timeline(h.caller('alice'), 'ses_t1', 100);
      assert.deepEqual(timeline.statements.map((x) => x.text), ['update orders', 'select 0', 'select 1', 'select 2']);
      await assert.rejects(h.access.sessionHistory.timeline(h.caller('dave'), 'ses_t1', 100), /There is no session ses_t1 that you can see/);
    });
  });
}
