// The notification outbox's wake-ups on SQLite and PostgreSQL: a retry that falls due while the worker is reading its
// queue is sent right after that read, not at the next 30 s poll (the lost wake-up seen on a loaded machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ColumnNode, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { makeOutbox } from '../../src/notify/outbox.js';
import { manualClock } from '../../src/domain/clock.js';
import { silentLog } from '../../src/domain/log.js';
import type { Channel } from '../../src/notify/channel.js';
import { STORE_KINDS, openTestStore } from '../support/harness.js';

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The claim is the one update that counts an attempt. */
function isClaim(node: RootOperationNode): boolean {
  return node.kind === 'UpdateQueryNode' && (node.updates ?? []).some((u) => ColumnNode.is(u.column) && u.column.column.name === 'attempts');
}

for (const kind of STORE_KINDS) {
  test(`a retry that falls due while the worker reads its queue is sent then, not at the next poll (${kind})`, async () => {
    const { store, cleanup } = await openTestStore(kind);
    const clock = manualClock(new Date());
    const audit = makeAuditLog({ store, clock });
    // Every read of the queue takes 1.5 s of the clock's time, as on a loaded machine: the retry due 1 s after the
    // failure comes due during the read that follows it, after that read's "now" and before the worker schedules.
    const slowClaims: KyselyPlugin = {
      transformQuery: ({ node }) => {
        if (isClaim(node)) clock.advance(1500);
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    const attempts: number[] = [];
    const chat: Channel = {
      name: 'chat', kind: 'webhook', wants: () => true,
      deliver: async (_n, ctx) => {
        attempts.push(ctx.attempt);
        return ctx.attempt === 1 ? { ok: false, retryable: true, error: 'HTTP 503' } : { ok: true };
      },
    };
    const outbox = makeOutbox({ store: { ...store, db: store.db.withPlugin(slowClaims) }, clock, channels: () => [chat], audit, log: silentLog }, { backoffMs: 1000, pollMs: 60_000 });
    try {
      // Queued before the worker starts, so the only reads after the first are the ones the failure's settling causes.
      await outbox.enqueue({ event: 'lock.created', subject: { kind: 'lock', id: 'lck_wake' }, time: clock.now().toISOString(), text: 'locked', data: {} });
      outbox.start();
      // Well within the 60 s poll: only a wake-up for the retry's own time delivers it.
      const [row] = await until('the retry delivered', async () => {
        const done = await outbox.list({ status: 'delivered' });
        return done.length ? done : undefined;
      }, 10_000);
      assert.deepEqual(attempts, [1, 2]);
      assert.equal(row!.attempts, 2);
    } finally {
      await outbox.stop();
      await audit.flush();
      await cleanup();
    }
  });
}
