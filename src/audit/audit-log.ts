// The append-only audit log in the store: appends inside a caller's transaction, batched appends for the hot path,
// verification and export.
import { sql, type Transaction } from 'kysely';
import type { AuditEvent, AuditInput } from '../domain/model.js';
import type { Clock } from '../domain/clock.js';
import type { DB } from '../store/schema.js';
import type { Executor, Store } from '../store/store.js';
import { eventHash, verifyEvents, type VerifyResult } from './chain.js';

export interface AuditLogOptions {
  /** Largest batch written in one transaction. */
  maxBatch?: number;
  /** How long the first event of a batch may wait for company, in ms. */
  batchDelayMs?: number;
  /** How long a hot-path event (a gateway's statement, append(e, { lazy: true })) may wait, in ms. */
  lazyDelayMs?: number;
}

function rowToEvent(r: DB['audit_events']): AuditEvent {
  return { seq: Number(r.seq), time: r.time, actor: r.actor, action: r.action, target: r.target, source: r.source, details: JSON.parse(r.details) as Record<string, unknown>, prev_hash: r.prev_hash, hash: r.hash };
}

export function makeAuditLog(deps: { store: Store; clock: Clock }, opts: AuditLogOptions = {}) {
  const { store, clock } = deps;
  const maxBatch = opts.maxBatch ?? 500;
  const batchDelayMs = opts.batchDelayMs ?? 5;
  const lazyDelayMs = opts.lazyDelayMs ?? 50;
  /** When the armed timer fires (ms since epoch), to tell whether an eager event must bring it forward. */
  let timerDue = 0;
  const listeners = new Set<(events: AuditEvent[]) => void>();
  const queue: { input: AuditInput; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;

  /**
   * Appends events inside `trx`. The head row is locked first (FOR UPDATE on PostgreSQL; SQLite transactions are
   * already serial), so appends from several processes form one chain. Visible to others only when trx commits.
   */
  async function appendInTx(trx: Transaction<DB>, inputs: AuditInput[]): Promise<AuditEvent[]> {
    if (inputs.length === 0) return [];
    const headQuery = trx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
    const head = await (store.dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirstOrThrow();
    let seq = Number(head.seq);
    let prev = head.hash;
    const now = clock.now().toISOString();
    const events: AuditEvent[] = inputs.map((i) => {
      seq += 1;
      const e = { seq, time: i.time ?? now, actor: i.actor, action: i.action, target: i.target ?? null, source: i.source ?? null, details: i.details ?? {}, prev_hash: prev };
      const hash = eventHash(e);
      prev = hash;
      return { ...e, hash };
    });
    // Insert in slices: SQLite caps bound parameters per statement.
    for (let i = 0; i < events.length; i += 100) {
      await trx
        .insertInto('audit_events')
        .values(events.slice(i, i + 100).map((e) => ({ ...e, details: JSON.stringify(e.details) })))
        .execute();
    }
    await trx.updateTable('audit_head').set({ seq, hash: prev }).where('id', '=', 1).execute();
    return events;
  }

  /** Tells listeners (the SSE stream) about events once they are committed. */
  function published(events: AuditEvent[]): void {
    for (const l of listeners) l(events);
  }

  async function flushOnce(): Promise<void> {
    const batch = queue.splice(0, maxBatch);
    if (batch.length === 0) return;
    try {
      const events = await store.transaction((trx) => appendInTx(trx, batch.map((b) => b.input)));
      for (const b of batch) b.resolve();
      published(events);
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }

  function arm(delay: number): void {
    if (timer) clearTimeout(timer);
    timerDue = Date.now() + delay;
    timer = setTimeout(() => void flush(), delay);
  }

  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (!flushing) {
      flushing = (async () => {
        while (queue.length > 0) await flushOnce();
      })().finally(() => {
        flushing = null;
        // Events queued after the loop's last check but before this point still need a flush.
        if (queue.length > 0 && !timer) arm(batchDelayMs);
      });
    }
    return flushing;
  }

  return {
    appendInTx,
    published,
    /** Hot-path append: batched with others; the promise resolves once the event is committed. */
    append(input: AuditInput, how: { lazy?: boolean } = {}): Promise<void> {
      const p = new Promise<void>((resolve, reject) => queue.push({ input: { ...input, time: input.time ?? clock.now().toISOString() }, resolve, reject }));
      if (queue.length >= maxBatch) void flush();
      else if (!flushing) {
        // A statement may wait up to lazyDelayMs for company (fewer commits, i.e. fewer fsyncs on the event loop);
        // anything else brings the commit forward to batchDelayMs.
        const delay = how.lazy ? lazyDelayMs : batchDelayMs;
        if (!timer || Date.now() + delay < timerDue) arm(delay);
      }
      return p;
    },
    flush,
    onAppended(fn: (events: AuditEvent[]) => void): () => void {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async head(db: Executor = store.db): Promise<{ seq: number; hash: string }> {
      const h = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
      return { seq: Number(h.seq), hash: h.hash };
    },
    /** Events in seq order, read in pages so a long log streams in constant memory. */
    async *events(filter: { since?: string; afterSeq?: number; until?: string; actor?: string; action?: string; target?: string } = {}, pageSize = 2000): AsyncGenerator<AuditEvent> {
      let after = filter.afterSeq ?? 0;
      for (;;) {
        let q = store.db.selectFrom('audit_events').selectAll().where('seq', '>', after);
        if (filter.since) q = q.where('time', '>=', filter.since);
        if (filter.until) q = q.where('time', '<', filter.until);
        if (filter.actor) q = q.where('actor', '=', filter.actor);
        if (filter.action) q = q.where('action', 'like', filter.action.endsWith('*') ? `${filter.action.slice(0, -1)}%` : filter.action);
        if (filter.target) q = q.where('target', '=', filter.target);
        const rows = await q.orderBy('seq').limit(pageSize).execute();
        for (const r of rows) yield rowToEvent(r);
        if (rows.length < pageSize) return;
        after = Number(rows[rows.length - 1]!.seq);
      }
    },
    /**
     * Walks the whole chain and compares it with the head row: the log must reach the head read before the walk,
     * and must not go beyond the head read after it (appends move both in one transaction, so a row past the head
     * was written around Airlock).
     */
    async verify(): Promise<VerifyResult> {
      await flush();
      const head = await this.head();
      const result = await verifyEvents(this.events(), { expectHead: head });
      if (!result.ok) return result;
      const after = await this.head();
      if (result.head.seq > after.seq) {
        return { ok: false, events: result.events - (result.head.seq - after.seq), head: after, first_bad_seq: after.seq + 1, reason: `event ${after.seq + 1} is past the chain head (${after.seq}): events were added without going through Airlock` };
      }
      return result;
    },
    async count(): Promise<number> {
      const r = await store.db.selectFrom('audit_events').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

export type AuditLog = ReturnType<typeof makeAuditLog>;
