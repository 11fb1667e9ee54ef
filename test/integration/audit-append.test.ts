// The audit log's write path on both stores: append and appendLazy share one queue and one order, the details column
// holds the canonical text the hash covers, a failed batch is reported to every event in it, and the bulk insert
// belongs to the caller's transaction (a rollback leaves nothing behind).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { auditEvents, openTestStore, STORE_KINDS, type StoreKind } from '../support/harness.js';
import { makeAuditLog, type AuditLog, type AuditLogOptions } from '../../src/audit/audit-log.js';
import { canonicalJson } from '../../src/domain/canonical-json.js';
import { manualClock } from '../../src/domain/clock.js';
import { openStore, type Store } from '../../src/store/store.js';
import type { AuditInput } from '../../src/domain/model.js';
import { createTestDatabase } from '../support/pg.js';

/** Details a careless encoding would change: unicode, quotes, control chars, nesting, odd numbers, undefined, a Date. */
function input(i: number, action = 'statement'): AuditInput {
  const odd = [
    { text: `select 'Grüße ✓ 😀' -- ${i}`, rows: i },
    { text: 'select "quoted", \'single\', back\\slash', nested: { z: [1, { y: null, x: 'é' }], a: {} } },
    { text: 'tab\tnewline\nnul\u0000bell\u0007', ratio: 0.1 * i, neg_zero: -0, big: 1e21, nan: NaN },
    { text: 'select 1', at: new Date(Date.UTC(2026, 2, 2, 10, 0, i % 60)), gone: undefined, list: [undefined, null, 'x'] },
  ][i % 4]!;
  return { actor: i % 5 === 0 ? 'agent-1' : 'alice', action, target: i % 7 === 0 ? null : 'prod-orders', source: i % 2 ? '10.0.0.7:5123' : undefined, details: { session_id: 'ses_1', i, ...odd } };
}

async function withLog(kind: StoreKind, opts: AuditLogOptions, fn: (store: Store, audit: AuditLog) => Promise<void>): Promise<void> {
  const { store, cleanup } = await openTestStore(kind);
  try {
    await fn(store, makeAuditLog({ store, clock: manualClock('2026-03-02T10:00:00.000Z') }, opts));
  } finally {
    await cleanup();
  }
}

async function rowCount(store: Store): Promise<number> {
  const r = await store.db.selectFrom('audit_events').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

for (const kind of STORE_KINDS) {
  describe(`audit append path on ${kind}`, () => {
    test('append and appendLazy share one queue: events commit in call order, in one chain, with details as canonical text', async () => {
      // 200 events in batches of 64: on SQLite both the many-row and the one-row statement run.
      await withLog(kind, { maxBatch: 64, batchDelayMs: 2, lazyDelayMs: 20 }, async (store, audit) => {
        const inputs = Array.from({ length: 200 }, (_, i) => input(i));
        const errors: unknown[] = [];
        const acks: Promise<void>[] = [];
        for (const [i, e] of inputs.entries()) {
          if (i % 3 === 0) acks.push(audit.append(e));
          else audit.appendLazy(e, (err) => errors.push(err));
        }
        await audit.flush();
        await Promise.all(acks);
        assert.deepEqual(errors, []);

        const events = await auditEvents(audit);
        assert.deepEqual(events.map((e) => e.details.i), inputs.map((_, i) => i), 'seq order is call order');
        const rows = await store.db.selectFrom('audit_events').select(['seq', 'details', 'target', 'source']).orderBy('seq').execute();
        for (const [i, r] of rows.entries()) {
          assert.equal(r.details, canonicalJson(inputs[i]!.details), `details of event ${r.seq} are stored as their canonical text`);
          assert.deepEqual(JSON.parse(r.details), JSON.parse(JSON.stringify(inputs[i]!.details)));
          assert.equal(r.target, inputs[i]!.target ?? null);
          assert.equal(r.source, inputs[i]!.source ?? null);
        }
        const v = await audit.verify();
        assert.deepEqual({ ok: v.ok, events: v.events, reason: v.reason }, { ok: true, events: 200, reason: undefined });
      });
    });

    test('a lazy event commits by itself within lazyDelayMs, and flush() commits it at once', async () => {
      await withLog(kind, { lazyDelayMs: 30 }, async (store, audit) => {
        audit.appendLazy(input(1), (err) => assert.fail(String(err)));
        const deadline = Date.now() + 5000;
        while ((await rowCount(store)) < 1) {
          assert.ok(Date.now() < deadline, 'the lazy event was not committed by its timer');
          await sleep(10);
        }
      });
      await withLog(kind, { lazyDelayMs: 60_000 }, async (store, audit) => {
        audit.appendLazy(input(2), (err) => assert.fail(String(err)));
        await audit.flush();
        assert.equal(await rowCount(store), 1);
      });
    });

    test('a failed batch calls each appendLazy onError once and rejects each append; the chain goes on afterwards', async () => {
      await withLog(kind, { maxBatch: 500, lazyDelayMs: 60_000 }, async (store, audit) => {
        await audit.append(input(0, 'before'));
        await sql`alter table audit_events rename to audit_events_away`.execute(store.db);
        const errors: unknown[][] = [[], [], []];
        for (const [k, list] of errors.entries()) audit.appendLazy(input(k + 1), (err) => list.push(err));
        const rejected = assert.rejects(audit.append(input(9)));
        await audit.flush();
        await rejected;
        for (const list of errors) {
          assert.equal(list.length, 1, 'onError is called once for its event');
          assert.ok(list[0] instanceof Error);
        }
        await sql`alter table audit_events_away rename to audit_events`.execute(store.db);
        audit.appendLazy(input(10, 'after'), (err) => assert.fail(String(err)));
        await audit.flush();
        const events = await auditEvents(audit);
        assert.deepEqual(events.map((e) => [e.seq, e.action]), [[1, 'before'], [2, 'after']]);
        assert.equal((await audit.verify()).ok, true);
      });
    });

    test('appendInTx writes in the caller’s transaction: a rollback leaves no rows and the head where it was', async () => {
      await withLog(kind, {}, async (store, audit) => {
        await store.transaction((trx) => audit.appendInTx(trx, [input(0)]));
        const head = await audit.head();
        await assert.rejects(
          store.transaction(async (trx) => {
            await audit.appendInTx(trx, Array.from({ length: 137 }, (_, i) => input(i)));
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.equal(await rowCount(store), 1);
        assert.deepEqual(await audit.head(), head);
        // A call larger than PostgreSQL's rows per statement, in one transaction.
        await store.transaction((trx) => audit.appendInTx(trx, Array.from({ length: 2345 }, (_, i) => input(i, 'bulk'))));
        const v = await audit.verify();
        assert.deepEqual({ ok: v.ok, events: v.events }, { ok: true, events: 2346 });
      });
    });
  });
}

describe('audit append path across processes on postgres', () => {
  test('two audit logs on one PostgreSQL database, appending lazily at once, write one chain', async () => {
    const db = await createTestDatabase('airlock_audit2');
    const stores = [await openStore({ url: db.url }), await openStore({ url: db.url })];
    try {
      const logs = stores.map((store) => makeAuditLog({ store, clock: manualClock('2026-03-02T10:00:00.000Z') }, { maxBatch: 40, lazyDelayMs: 5 }));
      const errors: unknown[] = [];
      for (let i = 0; i < 600; i++) {
        logs[i % 2]!.appendLazy(input(i), (err) => errors.push(err));
        if (i % 50 === 49) await sleep(2);
      }
      await Promise.all(logs.map((l) => l.flush()));
      assert.deepEqual(errors, []);
      const v = await logs[0]!.verify();
      assert.deepEqual({ ok: v.ok, events: v.events, reason: v.reason }, { ok: true, events: 600, reason: undefined });
    } finally {
      for (const s of stores) await s.close();
      await db.drop();
    }
  });
});
