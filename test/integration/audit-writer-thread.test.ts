// The audit writer thread on both stores: batched appends commit on the thread, appends inside the main thread's own
// transactions go on at the same time, and the result is one chain with every event, in call order per caller; a
// batch the thread cannot commit is reported to every event in it; a thread that stops answering is given up on;
// details that are not plain data still verify.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import pg from 'pg';
import { auditEvents, openTestStore, STORE_KINDS, type StoreKind } from '../support/harness.js';
import { makeAuditLog, type AuditLog } from '../../src/audit/audit-log.js';
import { startAuditWriter, type AuditWriterOptions } from '../../src/audit/audit-writer.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Store } from '../../src/store/store.js';

/** A store, an audit log whose batches go through a writer thread, and the store's location for that thread. */
async function withThread(kind: StoreKind, fn: (store: Store, audit: AuditLog, url: string) => Promise<void>, opts: AuditWriterOptions = {}): Promise<void> {
  const { store, url, cleanup } = await openTestStore(kind);
  const writer = startAuditWriter(url, opts);
  try {
    await writer.ready;
    await fn(store, makeAuditLog({ store, clock: systemClock, writer }, { maxBatch: 100, batchDelayMs: 2, lazyDelayMs: 5 }), url);
  } finally {
    await writer.close();
    await cleanup();
  }
}

/**
 * Makes the writer thread's next transaction wait: another connection holds the chain head (PostgreSQL: its row
 * FOR UPDATE, as every append takes it; SQLite: the write lock, as every append's BEGIN IMMEDIATE takes it, so the
 * thread waits busy_timeout and then retries). Returns the release.
 */
async function holdChainHead(kind: StoreKind, url: string): Promise<() => Promise<void>> {
  if (kind === 'sqlite') {
    const db = new Database(url);
    db.exec('BEGIN IMMEDIATE');
    return async () => {
      db.exec('ROLLBACK');
      db.close();
    };
  }
  const c = new pg.Client(url);
  await c.connect();
  await c.query('BEGIN');
  await c.query('SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE');
  return async () => {
    await c.query('ROLLBACK');
    await c.end();
  };
}

for (const kind of STORE_KINDS) {
  describe(`audit writer thread on ${kind}`, () => {
    test('batched appends on the thread and transactions on the main thread interleave into one intact chain', async () => {
      await withThread(kind, async (store, audit) => {
        const errors: unknown[] = [];
        const acks: Promise<void>[] = [];
        const inTx: Promise<unknown>[] = [];
        for (let i = 0; i < 1000; i++) {
          audit.appendLazy({ actor: 'alice', action: 'statement', target: 'prod-orders', details: { session_id: 'ses_a', n: i, text: `select ${i} -- Grüße` } }, (e) => errors.push(e));
          if (i % 100 === 99) acks.push(audit.append({ actor: 'alice', action: 'session.mark', details: { session_id: 'ses_a', after: i } }));
          // A control-plane change with its event in its own transaction, while batches are in flight on the thread.
          if (i % 50 === 0) inTx.push(store.transaction((trx) => audit.appendInTx(trx, [{ actor: 'bob', action: 'grant.revoke', details: { n: i } }])));
          if (i % 200 === 0) await new Promise((r) => setImmediate(r));
        }
        await Promise.all(inTx);
        await audit.append({ actor: 'alice', action: 'session.end', details: { session_id: 'ses_a' } });
        await Promise.all(acks);
        assert.deepEqual(errors, []);

        const events = await auditEvents(audit);
        assert.equal(events.length, 1000 + 10 + 20 + 1);
        assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), 'no gaps');
        // One caller's appends keep their order, and the session's end follows every statement of it.
        const mine = events.filter((e) => e.actor === 'alice');
        const order = mine.map((e) => (e.action === 'statement' ? `s${e.details.n}` : e.action === 'session.mark' ? `m${e.details.after}` : 'end'));
        const expected: string[] = [];
        for (let i = 0; i < 1000; i++) {
          expected.push(`s${i}`);
          if (i % 100 === 99) expected.push(`m${i}`);
        }
        expected.push('end');
        assert.deepEqual(order, expected);
        assert.equal(events.find((e) => e.details.n === 7 && e.action === 'statement')!.details.text, 'select 7 -- Grüße');
        const v = await audit.verify();
        assert.equal(v.ok, true, JSON.stringify(v));
        assert.equal(v.head.seq, events.length);
      });
    });

    test('a batch the thread cannot commit fails every event in it, and the next batch commits', async () => {
      await withThread(kind, async (_store, audit) => {
        await audit.append({ actor: 'alice', action: 'statement', details: { n: 1 } });
        // actor is NOT NULL in the store: the thread's INSERT fails and its transaction rolls back.
        const failures: unknown[] = [];
        audit.appendLazy({ actor: 'alice', action: 'statement', details: { n: 2 } }, (e) => failures.push(e));
        const bad = audit.append({ actor: null as unknown as string, action: 'statement', details: { n: 3 } });
        await assert.rejects(bad, /null|NOT NULL/i);
        assert.equal(failures.length, 1, 'the other event of the failed batch was told');
        await audit.append({ actor: 'alice', action: 'statement', details: { n: 4 } });
        const events = await auditEvents(audit);
        assert.deepEqual(events.map((e) => e.details.n), [1, 4]);
        assert.equal((await audit.verify()).ok, true);
      });
    });

    test('a thread that does not answer (the chain head held by another connection) fails its batch at the reply deadline, and a new thread commits the next', async () => {
      await withThread(
        kind,
        async (_store, audit, url) => {
          await audit.append({ actor: 'alice', action: 'statement', details: { n: 1 } });
          const release = await holdChainHead(kind, url);
          try {
            const sent = performance.now();
            await assert.rejects(audit.append({ actor: 'alice', action: 'statement', details: { n: 2 } }), /the audit writer thread did not answer within 0\.3 s/);
            const waited = performance.now() - sent;
            // Well under the thread's own 30 s busy retry on SQLite: the deadline ended the wait, not the store.
            assert.ok(waited >= 250 && waited < 5000, `rejected after ${Math.round(waited)} ms`);
          } finally {
            await release();
          }
          await audit.append({ actor: 'alice', action: 'statement', details: { n: 3 } });
          const v = await audit.verify();
          assert.equal(v.ok, true, JSON.stringify(v));
          // The given-up batch was reported failed; had its thread got the lock before it was terminated, it could
          // still have committed (never the reverse), so n=2 is left out of the comparison.
          const events = await auditEvents(audit);
          assert.deepEqual(events.map((e) => e.details.n).filter((n) => n !== 2), [1, 3]);
        },
        { replyDeadlineMs: 300 },
      );
    });

    test('details that are not plain data (a function, a toJSON) are stored as JSON keeps them, and the chain verifies', async () => {
      await withThread(kind, async (_store, audit) => {
        await audit.append({ actor: 'alice', action: 'a', details: { n: 1 } });
        await audit.append({ actor: 'alice', action: 'b', details: { n: 2, callback: () => 1, at: { toJSON: () => 'then' } } as Record<string, unknown> });
        await audit.append({ actor: 'alice', action: 'c', details: { n: 3 } });
        const events = await auditEvents(audit);
        assert.deepEqual(events.map((e) => e.action), ['a', 'b', 'c']);
        assert.deepEqual(events[1]!.details, { n: 2, at: 'then' });
        assert.equal((await audit.verify()).ok, true);
      });
    });
  });
}

test('a writer thread that cannot open its store says so, and so does every batch sent to it', async () => {
  // Nothing listens on port 1: the thread's connection is refused while it starts.
  const writer = startAuditWriter('postgres://airlock@127.0.0.1:1/none');
  await assert.rejects(writer.ready, /ECONNREFUSED|connect/);
  await assert.rejects(writer.append([{ actor: 'alice', action: 'statement', target: null, source: null, time: new Date().toISOString(), detailsJson: '{}' }], false), /ECONNREFUSED|connect/);
  await writer.close();
});
