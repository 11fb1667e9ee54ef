// The append-only audit log in the store: appends inside a caller's transaction, batched appends for the hot path,
// verification and export.
import { sql, type Transaction } from 'kysely';
import type { AuditEvent, AuditInput } from '../domain/model.js';
import type { Clock } from '../domain/clock.js';
import type { DB } from '../store/schema.js';
import type { AuditRow, Executor, Store } from '../store/store.js';
import { canonicalJson, canonicalJsonOfData } from '../domain/canonical-json.js';
import { canonicalEventJson, sha256Hex, verifyEvents, type VerifyResult } from './chain.js';
import type { AuditWriter } from './audit-writer.js';
import { applySessionEvents } from './session-rows.js';

export interface AuditLogOptions {
  /** Largest batch written in one transaction. */
  maxBatch?: number;
  /** How long the first event of a batch may wait for company, in ms. */
  batchDelayMs?: number;
  /** How long a hot-path event (a gateway's statement, append(e, { lazy: true })) may wait, in ms. */
  lazyDelayMs?: number;
}

/** What the batched appends report for /metrics (src/metrics.ts). */
export interface AuditMetrics {
  /** One batch committed (ok) or failed, with its size and how long the commit took. */
  batch(events: number, seconds: number, ok: boolean): void;
}

/** An event waiting for its batch: the caller's fields, copied when it was queued, and whom to tell how the batch went. */
interface Queued extends AuditInput {
  time: string;
  /** May wait lazyDelayMs for company (a gateway's statement); otherwise batchDelayMs at most (0 when urgent). */
  lazy: boolean;
  /** null for appendLazy, which has nobody to tell of success. */
  resolve: (() => void) | null;
  reject: (err: unknown) => void;
}

/** A stored row as an event (details parsed back from their JSON text). */
export function rowToEvent(r: DB['audit_events']): AuditEvent {
  return { seq: Number(r.seq), time: r.time, actor: r.actor, action: r.action, target: r.target, source: r.source, details: JSON.parse(r.details) as Record<string, unknown>, prev_hash: r.prev_hash, hash: r.hash };
}

/** An event on its way into the chain, its details already encoded as canonical JSON (what crosses to the writer thread). */
export interface EncodedInput {
  actor: string;
  action: string;
  target: string | null;
  source: string | null;
  time: string;
  detailsJson: string;
}

/** canonicalEventJson reads details only when a field is missing, which EncodedInput does not allow. */
const NOT_READ: Record<string, unknown> = Object.freeze({});

/**
 * Details and their canonical JSON, encoded once for the column and the hash. Details that are not plain JSON data
 * (a function somewhere in them) are first reduced to what JSON keeps of them, so the stored text is what the hash
 * covers and the chain verifies.
 */
export function plainDetails(details: Record<string, unknown>): { details: Record<string, unknown>; json: string } {
  const json = canonicalJsonOfData(details);
  if (json !== undefined) return { details, json };
  const reduced = JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  return { details: reduced, json: canonicalJsonOfData(reduced) ?? canonicalJson(reduced) };
}

/** An input as it enters the chain: `time` already decided, details as their canonical text (from plainDetails). */
function encodedInput(i: AuditInput, time: string, detailsJson: string): EncodedInput {
  return { actor: i.actor, action: i.action, target: i.target ?? null, source: i.source ?? null, time, detailsJson };
}

/**
 * `writer`, when given, commits the batched appends (append, appendLazy) on its thread; appendInTx always runs on the
 * caller's transaction. Without it (tests, ":memory:" stores, offline tools) batches commit on this thread.
 */
export function makeAuditLog(deps: { store: Store; clock: Clock; writer?: AuditWriter; metrics?: AuditMetrics }, opts: AuditLogOptions = {}) {
  const { store, clock, writer } = deps;
  const maxBatch = opts.maxBatch ?? 500;
  const batchDelayMs = opts.batchDelayMs ?? 5;
  const lazyDelayMs = opts.lazyDelayMs ?? 50;
  /** When the armed timer fires (ms since epoch), to tell whether an eager event must bring it forward. */
  let timerDue = 0;
  const listeners = new Set<(events: AuditEvent[]) => void>();
  const queue: Queued[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;
  /** Queued events that are not lazy. */
  let eagerQueued = 0;
  // Queued events are stamped with the time they were queued; events queued within one millisecond share its text.
  let stampMs = NaN;
  let stampText = '';
  /** Why the last batch failed to commit, until one commits again (for /readyz). */
  let lastFailure: string | null = null;

  /**
   * Appends events inside `trx`. The head row is locked first (FOR UPDATE on PostgreSQL; SQLite transactions take
   * the write lock when they begin), so appends from several processes and threads form one chain. Visible to
   * others only when trx commits.
   */
  async function appendInTx(trx: Transaction<DB>, inputs: readonly AuditInput[]): Promise<AuditEvent[]> {
    if (inputs.length === 0) return [];
    const now = clock.now().toISOString();
    const details: Record<string, unknown>[] = [];
    const encoded = inputs.map((i) => {
      const d = plainDetails(i.details ?? {});
      details.push(d.details);
      return encodedInput(i, i.time ?? now, d.json);
    });
    const rows = await appendEncodedInTx(trx, encoded);
    return rows.map((r, k) => ({ seq: r.seq, time: r.time, actor: r.actor, action: r.action, target: r.target, source: r.source, details: details[k]!, prev_hash: r.prev_hash, hash: r.hash }));
  }

  /** appendInTx for events whose details are already canonical JSON text; returns the rows as written. */
  async function appendEncodedInTx(trx: Transaction<DB>, inputs: readonly EncodedInput[]): Promise<AuditRow[]> {
    if (inputs.length === 0) return [];
    const headQuery = trx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
    const head = await (store.dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirstOrThrow();
    let seq = Number(head.seq);
    let prev = head.hash;
    const rows: AuditRow[] = [];
    for (const i of inputs) {
      seq += 1;
      // The details column holds the same canonical text the hash covers.
      const row: AuditRow = { seq, time: i.time, actor: i.actor, action: i.action, target: i.target, source: i.source, details: i.detailsJson, prev_hash: prev, hash: '' };
      row.hash = sha256Hex(canonicalEventJson({ ...row, details: NOT_READ }, i.detailsJson));
      prev = row.hash;
      rows.push(row);
    }
    await store.insertAuditRows(trx, rows);
    await trx.updateTable('audit_head').set({ seq, hash: prev }).where('id', '=', 1).execute();
    await applySessionEvents(trx, store.dialect, rows);
    return rows;
  }

  /** Tells listeners (the SSE stream) about events once they are committed. */
  function published(events: AuditEvent[]): void {
    for (const l of listeners) l(events);
  }

  async function flushOnce(): Promise<void> {
    const batch = queue.splice(0, maxBatch);
    if (batch.length === 0) return;
    for (const b of batch) if (!b.lazy) eagerQueued--;
    let events: AuditEvent[] | null;
    const started = performance.now();
    try {
      events = await commitBatch(batch);
    } catch (e) {
      lastFailure = e instanceof Error ? e.message : String(e);
      deps.metrics?.batch(batch.length, (performance.now() - started) / 1000, false);
      for (const b of batch) failed(b, e);
      return;
    }
    lastFailure = null;
    deps.metrics?.batch(batch.length, (performance.now() - started) / 1000, true);
    for (const b of batch) if (b.resolve !== null) b.resolve();
    if (events === null) return;
    try {
      published(events);
    } catch {
      // The batch is committed and its appends have succeeded; a listener's failure is its own.
    }
  }

  /** Commits a batch, on the writer thread when there is one; null when nobody listens for the committed events. */
  async function commitBatch(batch: readonly Queued[]): Promise<AuditEvent[] | null> {
    if (!writer) return store.transaction((trx) => appendInTx(trx, batch));
    // Details cross as their canonical text: a string is cheap to copy to the thread, and it is what is hashed.
    return writer.append(batch.map((b) => encodedInput(b, b.time, plainDetails(b.details ?? {}).json)), listeners.size > 0);
  }

  function failed(b: Queued, err: unknown): void {
    try {
      b.reject(err);
    } catch (thrown) {
      // An appendLazy onError that throws must not keep the rest of the batch from hearing: report it as uncaught.
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  function stamp(): string {
    const now = clock.now();
    const ms = now.getTime();
    if (ms !== stampMs) {
      stampText = now.toISOString();
      stampMs = ms;
    }
    return stampText;
  }

  function enqueue(input: AuditInput, lazy: boolean, resolve: (() => void) | null, reject: (err: unknown) => void, urgent = false): void {
    queue.push({ actor: input.actor, action: input.action, target: input.target, source: input.source, details: input.details, time: input.time ?? stamp(), lazy, resolve, reject });
    if (!lazy) eagerQueued++;
    if (queue.length >= maxBatch) void drain(false);
    else if (!flushing) {
      // A statement may wait up to lazyDelayMs for company (fewer commits, i.e. fewer fsyncs on the event loop);
      // anything else brings the commit forward to batchDelayMs. An urgent event (a write the gateway holds until
      // its event is durable) waits only for the rest of this turn of the event loop: group commit comes from the
      // events that arrive while a batch commits, which go together in the next one at once (see drain).
      const delay = urgent ? 0 : lazy ? lazyDelayMs : batchDelayMs;
      if (!timer || Date.now() + delay < timerDue) arm(delay);
    }
  }

  function arm(delay: number): void {
    if (timer) clearTimeout(timer);
    timerDue = Date.now() + delay;
    timer = setTimeout(() => void drain(false), delay);
  }

  /** Commits everything queued so far (shutdown, verification, tests). */
  function flush(): Promise<void> {
    return drain(true);
  }

  /**
   * Commits batches in order. After one commits, the next goes at once only if it is full or holds an event that
   * may not wait (or `all`); lazy events queued meanwhile wait out their delay for company. (While the writer thread
   * commits, the event loop goes on queueing; without this rule every commit would be followed at once by a small one.)
   */
  function drain(all: boolean): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (flushing) return all ? flushing.then(() => drain(true)) : flushing;
    const run = (async () => {
      do await flushOnce();
      while (queue.length > 0 && (all || queue.length >= maxBatch || eagerQueued > 0));
    })().finally(() => {
      flushing = null;
      // Lazy events left (or queued after the loop's last check) get a timer of their own.
      if (queue.length > 0 && !timer) arm(eagerQueued > 0 ? batchDelayMs : lazyDelayMs);
    });
    flushing = run;
    return run;
  }

  return {
    appendInTx,
    appendEncodedInTx,
    published,
    /**
     * Hot-path append: batched with others; the promise resolves once the event is committed. `urgent`: committed
     * in the next batch without waiting batchDelayMs for company (a caller holds something back until then).
     */
    append(input: AuditInput, how: { lazy?: boolean; urgent?: boolean } = {}): Promise<void> {
      return new Promise<void>((resolve, reject) => enqueue(input, Boolean(how.lazy) && !how.urgent, resolve, reject, Boolean(how.urgent)));
    },
    /**
     * append(input, { lazy: true }) without a promise, for a gateway's statements: queued in the same order, committed
     * in the next batch (flush() included); `onError` is called if that batch fails, and must not throw.
     */
    appendLazy(input: AuditInput, onError: (err: unknown) => void): void {
      enqueue(input, true, null, onError);
    },
    flush,
    /** Events waiting for their batch to commit. */
    get queued(): number {
      return queue.length;
    },
    /** Whether the last batch committed (null) or why it did not, and how many events wait. */
    health(): { lastFailure: string | null; queued: number } {
      return { lastFailure, queued: queue.length };
    },
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
