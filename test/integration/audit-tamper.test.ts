// Tamper evidence of the audit chain on both stores: edits, deletions, truncation, insertion, reordering and a
// recomputed hash, each made with SQL on the real tables, must be named by verify at the first bad seq.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { openTestStore, STORE_KINDS, type StoreKind } from '../support/harness.js';
import { makeAuditLog, type AuditLog } from '../../src/audit/audit-log.js';
import { eventHash, verifyEvents, GENESIS_HASH } from '../../src/audit/chain.js';
import { manualClock } from '../../src/domain/clock.js';
import type { AuditEvent, AuditInput } from '../../src/domain/model.js';
import type { Store } from '../../src/store/store.js';

const N = 60;

interface Chain {
  store: Store;
  audit: AuditLog;
  cleanup(): Promise<void>;
}

function input(action: string, i: number): AuditInput {
  // Details that a careless encoding would change on the way through the store: non-ASCII text, key order,
  // nested arrays, a float, and a Date (stored as its ISO text).
  return {
    actor: i % 3 === 0 ? 'alice' : 'agent-1',
    action,
    target: 'prod-orders',
    source: '10.0.0.7',
    details: { sql: `select * from orders where note = 'Grüße ✓' -- ${i}`, z: 1, a: [i, { y: null, x: 'é' }], ratio: 0.1 * i, at: new Date(Date.UTC(2026, 2, 2, 10, 0, i)) },
  };
}

/** A fresh store with N events written every way the services write them: in a caller's transaction, batched, and both at once. */
async function freshChain(kind: StoreKind): Promise<Chain> {
  const { store, cleanup } = await openTestStore(kind);
  const clock = manualClock('2026-03-02T10:00:00.000Z');
  const audit = makeAuditLog({ store, clock }, { maxBatch: 8, batchDelayMs: 2 });
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    await store.transaction((trx) => audit.appendInTx(trx, [input('grant.activate', i)]));
  }
  clock.advance(1000);
  await Promise.all([
    ...Array.from({ length: 30 }, (_, i) => audit.append(input('session.query', i))),
    ...Array.from({ length: 5 }, (_, i) => store.transaction((trx) => audit.appendInTx(trx, [input('request.create', i), input('request.auto_approve', i)]))),
  ]);
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    await audit.append(input('session.end', i));
  }
  return { store, audit, cleanup };
}

async function withChain(kind: StoreKind, fn: (c: Chain) => Promise<void>): Promise<void> {
  const c = await freshChain(kind);
  try {
    const before = await c.audit.verify();
    assert.equal(before.ok, true, before.reason);
    await fn(c);
  } finally {
    await c.cleanup();
  }
}

async function row(store: Store, seq: number) {
  return store.db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
}

async function expectBad(audit: AuditLog, seq: number, reason: RegExp): Promise<void> {
  const v = await audit.verify();
  assert.equal(v.ok, false, 'verify must notice');
  assert.equal(v.first_bad_seq, seq, v.reason);
  assert.match(v.reason ?? '', reason);
}

async function collect(it: AsyncIterable<AuditEvent>): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

for (const kind of STORE_KINDS) {
  describe(`audit tamper evidence on ${kind}`, () => {
    test('an untouched chain verifies: one chain, no gaps, every event as written', async () => {
      await withChain(kind, async ({ audit }) => {
        const v = await audit.verify();
        assert.deepEqual({ ok: v.ok, events: v.events, seq: v.head.seq }, { ok: true, events: N, seq: N });
        assert.deepEqual(await audit.head(), v.head);
        const events = await collect(audit.events());
        assert.deepEqual(events.map((e) => e.seq), Array.from({ length: N }, (_, i) => i + 1));
        assert.equal(events[0]!.prev_hash, GENESIS_HASH);
        // The two events of one transaction sit next to each other.
        for (const e of events.filter((x) => x.action === 'request.create')) assert.equal(events[e.seq]!.action, 'request.auto_approve');
        assert.equal(events.filter((e) => e.action === 'session.query').length, 30);
        const q = events.find((e) => e.action === 'session.query')!;
        assert.match(String(q.details.sql), /Grüße ✓/);
        assert.match(String(q.details.at), /^2026-03-02T10:00:\d\d\.000Z$/, 'a Date is stored (and hashed) as its ISO text');
        assert.equal(eventHash(q), q.hash);
      });
    });

    test('an edited field (details, actor, time) is named at its seq', async () => {
      await withChain(kind, async ({ store, audit }) => {
        await sql`update audit_events set details = ${'{"sql":"select 1"}'} where seq = ${23}`.execute(store.db);
        await expectBad(audit, 23, /event 23 was edited/);
      });
      await withChain(kind, async ({ store, audit }) => {
        await sql`update audit_events set actor = ${'mallory'} where seq = ${7}`.execute(store.db);
        await expectBad(audit, 7, /event 7 was edited/);
      });
      await withChain(kind, async ({ store, audit }) => {
        await sql`update audit_events set time = ${'2026-03-02T09:00:00.000Z'} where seq = ${N}`.execute(store.db);
        await expectBad(audit, N, new RegExp(`event ${N} was edited`));
      });
    });

    test('a deleted event in the middle is named', async () => {
      await withChain(kind, async ({ store, audit }) => {
        await sql`delete from audit_events where seq = ${30}`.execute(store.db);
        await expectBad(audit, 30, /event 30 is missing/);
      });
      // Deleted, and the rest renumbered to close the gap: the first renumbered event no longer links.
      await withChain(kind, async ({ store, audit }) => {
        await sql`delete from audit_events where seq = ${30}`.execute(store.db);
        await sql`update audit_events set seq = -(seq - 1) where seq > ${30}`.execute(store.db);
        await sql`update audit_events set seq = -seq where seq < 0`.execute(store.db);
        await sql`update audit_head set seq = seq - 1`.execute(store.db);
        await expectBad(audit, 30, /event 30 does not link to event 29/);
      });
    });

    test('a truncated tail (head row left in place) names the first missing seq', async () => {
      await withChain(kind, async ({ store, audit }) => {
        await sql`delete from audit_events where seq > ${N - 5}`.execute(store.db);
        await expectBad(audit, N - 4, new RegExp(`ends at event ${N - 5} but the chain head says ${N}`));
      });
      await withChain(kind, async ({ store, audit }) => {
        await sql`delete from audit_events`.execute(store.db);
        await expectBad(audit, 1, /events at the end were deleted/);
      });
    });

    test('a forged event inserted with the rest renumbered is named where it was put in', async () => {
      await withChain(kind, async ({ store, audit }) => {
        const k = 20;
        await sql`update audit_events set seq = -(seq + 1) where seq >= ${k}`.execute(store.db);
        await sql`update audit_events set seq = -seq where seq < 0`.execute(store.db);
        await sql`update audit_head set seq = seq + 1`.execute(store.db);
        // The forger knows the encoding and links the event properly to its predecessor.
        const prev = await row(store, k - 1);
        const forged = { seq: k, time: prev.time, actor: 'alice', action: 'grant.revoke', target: 'prod-orders', source: null, details: { reason: 'routine' }, prev_hash: prev.hash };
        await store.db.insertInto('audit_events').values({ ...forged, details: JSON.stringify(forged.details), hash: eventHash(forged) }).execute();
        await expectBad(audit, k, /event 20 was inserted or replaced/);
      });
      // A clumsier forgery (a hash copied from elsewhere) is named at the same seq.
      await withChain(kind, async ({ store, audit }) => {
        await sql`update audit_events set seq = -(seq + 1) where seq >= ${5}`.execute(store.db);
        await sql`update audit_events set seq = -seq where seq < 0`.execute(store.db);
        const copy = await row(store, 6);
        await store.db.insertInto('audit_events').values({ ...copy, seq: 5, actor: 'mallory' }).execute();
        await expectBad(audit, 5, /event 5 was edited/);
      });
    });

    test('an event added past the head row is named', async () => {
      await withChain(kind, async ({ store, audit }) => {
        const last = await row(store, N);
        const forged = { seq: N + 1, time: last.time, actor: 'airlock', action: 'grant.expire', target: null, source: null, details: {}, prev_hash: last.hash };
        await store.db.insertInto('audit_events').values({ ...forged, details: '{}', hash: eventHash(forged) }).execute();
        await expectBad(audit, N + 1, /past the chain head/);
      });
    });

    test('two events swapped (reordering) are named at the lower seq', async () => {
      const swap = async (store: Store, a: number, b: number, cols: readonly ('time' | 'actor' | 'action' | 'target' | 'source' | 'details' | 'prev_hash' | 'hash')[]) => {
        const [ra, rb] = [await row(store, a), await row(store, b)];
        const pick = (r: typeof ra) => Object.fromEntries(cols.map((c) => [c, r[c]]));
        await store.db.updateTable('audit_events').set(pick(rb)).where('seq', '=', a).execute();
        await store.db.updateTable('audit_events').set(pick(ra)).where('seq', '=', b).execute();
      };
      const all = ['time', 'actor', 'action', 'target', 'source', 'details', 'prev_hash', 'hash'] as const;
      await withChain(kind, async ({ store, audit }) => {
        await swap(store, 33, 34, all);
        await expectBad(audit, 33, /event 33 does not link to event 32/);
      });
      await withChain(kind, async ({ store, audit }) => {
        await swap(store, 12, 40, all);
        await expectBad(audit, 12, /event 12 does not link/);
      });
      // Only the contents moved, the hashes left in place: the lower one no longer matches its hash.
      await withChain(kind, async ({ store, audit }) => {
        await swap(store, 15, 16, ['time', 'actor', 'action', 'details']);
        await expectBad(audit, 15, /event 15 was edited/);
      });
    });

    test('an edit with its hash recomputed is named at the next seq, whose link breaks', async () => {
      await withChain(kind, async ({ store, audit }) => {
        const r = await row(store, 41);
        const edited = { ...r, seq: Number(r.seq), details: { ...(JSON.parse(r.details) as Record<string, unknown>), sql: 'select 1' } };
        await store.db.updateTable('audit_events').set({ details: JSON.stringify(edited.details), hash: eventHash(edited) }).where('seq', '=', 41).execute();
        await expectBad(audit, 42, /event 42 does not link to event 41/);
      });
      // Recomputed at the head itself, with the head row left alone: the head row names it.
      await withChain(kind, async ({ store, audit }) => {
        const r = await row(store, N);
        const edited = { ...r, seq: N, actor: 'nobody', details: JSON.parse(r.details) as Record<string, unknown> };
        await store.db.updateTable('audit_events').set({ actor: 'nobody', hash: eventHash(edited) }).where('seq', '=', N).execute();
        await expectBad(audit, N, /does not match the recorded chain head/);
      });
    });

    test('a rewrite of the whole store (chain and head row) passes verify, but not a head recorded elsewhere', async () => {
      await withChain(kind, async ({ store, audit }) => {
        const recorded = await audit.head();
        // Someone with write access to everything edits event 10 and recomputes every hash after it and the head.
        let prev = (await row(store, 9)).hash;
        for (let seq = 10; seq <= N; seq++) {
          const r = await row(store, seq);
          const e = { seq, time: r.time, actor: seq === 10 ? 'nobody' : r.actor, action: r.action, target: r.target, source: r.source, details: JSON.parse(r.details) as Record<string, unknown>, prev_hash: prev };
          prev = eventHash(e);
          await store.db.updateTable('audit_events').set({ actor: e.actor, prev_hash: e.prev_hash, hash: prev }).where('seq', '=', seq).execute();
        }
        await store.db.updateTable('audit_head').set({ hash: prev }).where('id', '=', 1).execute();
        assert.equal((await audit.verify()).ok, true, 'a plain hash chain cannot see this on its own');
        const v = await verifyEvents(audit.events(), { expectHead: recorded });
        assert.equal(v.ok, false);
        assert.equal(v.first_bad_seq, N);
        assert.match(v.reason ?? '', /does not match the recorded chain head/);
      });
    });

    test('offline: an exported JSONL stream verifies, and edits to it are named', async () => {
      await withChain(kind, async ({ audit }) => {
        const head = await audit.head();
        const lines: string[] = [];
        for await (const e of audit.events()) lines.push(JSON.stringify(e));
        const dir = mkdtempSync(join(tmpdir(), 'airlock-export-'));
        try {
          const file = join(dir, 'audit.jsonl');
          const fromFile = async function* (text: string): AsyncGenerator<AuditEvent> {
            writeFileSync(file, text);
            for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line.trim()) yield JSON.parse(line) as AuditEvent;
          };
          const ok = await verifyEvents(fromFile(lines.join('\n') + '\n'), { expectHead: head });
          assert.deepEqual({ ok: ok.ok, events: ok.events, head: ok.head }, { ok: true, events: N, head });

          const edited = [...lines];
          edited[17] = edited[17]!.replace('"actor":"', '"actor":"x');
          let v = await verifyEvents(fromFile(edited.join('\n')), { expectHead: head });
          assert.deepEqual([v.ok, v.first_bad_seq], [false, 18]);

          v = await verifyEvents(fromFile(lines.filter((_, i) => i !== 29).join('\n')), { expectHead: head });
          assert.deepEqual([v.ok, v.first_bad_seq], [false, 30]);

          const reordered = [...lines];
          [reordered[44], reordered[45]] = [reordered[45]!, reordered[44]!];
          v = await verifyEvents(fromFile(reordered.join('\n')), { expectHead: head });
          assert.deepEqual([v.ok, v.first_bad_seq], [false, 45]);

          // A truncated export is only visible against a head recorded at export time.
          const truncated = lines.slice(0, N - 3).join('\n');
          assert.equal((await verifyEvents(fromFile(truncated))).ok, true);
          v = await verifyEvents(fromFile(truncated), { expectHead: head });
          assert.deepEqual([v.ok, v.first_bad_seq], [false, N - 2]);

          // A slice of the log verifies from a known event onwards.
          const from = JSON.parse(lines[39]!) as AuditEvent;
          v = await verifyEvents(fromFile(lines.slice(40).join('\n')), { startAfter: { seq: from.seq, hash: from.hash }, expectHead: head });
          assert.deepEqual([v.ok, v.events], [true, N - 40]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  });
}
