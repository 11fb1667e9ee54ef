// The notification outbox: every channel's messages are rows in the store, delivered by a worker with retries and
// exponential back-off (honouring Retry-After), one message per notice per channel, and a dead letter for what
// cannot be delivered, audited. A restart or another process of the cluster picks up what is left.
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../domain/clock.js';
import { AirlockError } from '../domain/errors.js';
import type { Log } from '../domain/log.js';
import type { Store } from '../store/store.js';
import type { Channel, DeliveryResult } from './channel.js';
import { redactUrls } from './http-result.js';
import { makeOutboxRows, toView, type NotificationStatus, type NotificationView, type OutboxRow } from './outbox-rows.js';
import type { Notice } from './webhooks.js';

export type { NotificationStatus, NotificationView };

export interface OutboxOptions {
  /** Attempts before a message is dead (default 6). */
  maxAttempts?: number;
  /** The first retry's wait; each further one doubles it (default 2 s), up to maxBackoffMs (default 5 min). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** One attempt's limit (default 10 s). */
  timeoutMs?: number;
  /** How often to look for rows other processes left due (default 30 s). */
  pollMs?: number;
  /** Deliveries at once in this process (default 8). */
  concurrency?: number;
  /** How long stop() waits for deliveries in flight (default 5 s: within the default shutdown timeout). */
  drainMs?: number;
}

export interface OutboxDeps {
  store: Pick<Store, 'db' | 'dialect' | 'transaction'>;
  clock: Clock;
  /** The channels of the policy in force. */
  channels: () => readonly Channel[];
  audit: Pick<AuditLog, 'appendInTx' | 'published'>;
  log: Pick<Log, 'info' | 'warn'>;
  /** A message delivered or given up on (metrics). */
  onSettled?: (s: { channel: string; kind: string; event: string; ok: boolean; attempts: number }) => void;
}

/** A Retry-After beyond this is taken as this: a receiver cannot park a message for days. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

export function makeOutbox(deps: OutboxDeps, opts: OutboxOptions = {}) {
  const maxAttempts = opts.maxAttempts ?? 6;
  const backoffMs = opts.backoffMs ?? 2000;
  const maxBackoffMs = opts.maxBackoffMs ?? 5 * 60_000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const pollMs = opts.pollMs ?? 30_000;
  const concurrency = opts.concurrency ?? 8;
  const drainMs = opts.drainMs ?? 5000;
  // A claim outlives one attempt by a margin, so only a process that died mid-send loses its rows to another.
  const leaseMs = timeoutMs + 30_000;
  const rows = makeOutboxRows(deps.store.db, deps.store.dialect);
  const iso = (ms = 0) => new Date(deps.clock.now().getTime() + ms).toISOString();

  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> | null = null;
  let again = false;
  const sending = new Map<string, { done: Promise<void>; abort: AbortController }>();
  const enqueuing = new Set<Promise<unknown>>();

  /** Runs a pass now, or right after the one running. */
  function kick(): void {
    if (!started || stopped) return;
    if (pass) {
      again = true;
      return;
    }
    clearTimeout(timer);
    pass = runPasses().finally(() => {
      pass = null;
      // A kick that came as the pass was returning would otherwise wait for the next timer.
      if (again) kick();
    });
  }

  async function runPasses(): Promise<void> {
    try {
      for (;;) {
        again = false;
        const room = concurrency - sending.size;
        if (room <= 0) return; // a delivery that finishes kicks again
        const now = iso();
        const claimed = await rows.claim(now, iso(leaseMs), randomUUID(), room);
        for (const r of claimed) start(r);
        if (claimed.length === room) again = true;
        if (!again) await schedule(now);
        // A kick while this pass ran (a delivery settled, a notice queued) may have freed a row it did not see.
        if (!again || stopped) return;
      }
    } catch (e) {
      deps.log.warn({ err: (e as Error).message }, 'the notification outbox could not read its queue; trying again later');
      if (!stopped) arm(Math.min(pollMs, 5000));
    }
  }

  /**
   * Arms the timer for the earliest time after the claim's `since`, not after the time now: a row that fell due while
   * the claim ran (a slow store, a timer that fired a little early) is then due at once instead of waiting for the poll.
   * Rows due at `since` but not claimed wait on an earlier row of their subject, whose settling kicks a pass.
   */
  async function schedule(since: string): Promise<void> {
    if (stopped) return;
    const next = await rows.nextDue(since);
    const wait = next ? new Date(next).getTime() - deps.clock.now().getTime() : pollMs;
    arm(Math.max(0, Math.min(wait, pollMs)));
  }

  function arm(ms: number): void {
    clearTimeout(timer);
    timer = setTimeout(kick, ms);
    timer.unref();
  }

  function start(r: OutboxRow): void {
    const abort = new AbortController();
    const done = sendOne(r, abort.signal)
      .catch((e: unknown) => deps.log.warn({ err: (e as Error).message, notification: r.id }, 'could not record a notification delivery'))
      .finally(() => {
        sending.delete(r.id);
        kick();
      });
    sending.set(r.id, { done, abort });
  }

  async function attempt(channel: Channel, r: OutboxRow, signal: AbortSignal): Promise<DeliveryResult> {
    const notice = JSON.parse(r.payload) as Notice;
    const subject = r.subject_kind && r.subject_id ? { kind: r.subject_kind, id: r.subject_id } : null;
    const ref = await rows.lastRef(r.channel, subject);
    const limit = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    let timeout: NodeJS.Timeout | undefined;
    // A channel that ignores its signal still gives its slot back at the time limit.
    const late = new Promise<DeliveryResult>((resolve) => {
      timeout = setTimeout(() => resolve({ ok: false, retryable: true, error: `no answer within ${timeoutMs} ms` }), timeoutMs + 1000);
    });
    try {
      const res = await Promise.race([channel.deliver(notice, { ref, attempt: r.attempts, signal: limit }), late]);
      if (!res.ok && limit.aborted && !signal.aborted) return { ...res, error: `no answer within ${timeoutMs} ms` };
      return res;
    } catch (e) {
      return { ok: false, retryable: true, error: (e as Error).message ?? String(e) };
    } finally {
      clearTimeout(timeout);
    }
  }

  async function sendOne(r: OutboxRow, signal: AbortSignal): Promise<void> {
    const channel = deps.channels().find((c) => c.name === r.channel);
    const got: DeliveryResult = channel ? await attempt(channel, r, signal) : { ok: false, retryable: false, error: `the policy in force has no notification channel "${r.channel}"` };
    // Whatever a channel says, a URL's credentials or token never reach last_error, the log or the audit.
    const res: DeliveryResult = got.ok ? got : { ...got, error: redactUrls(got.error) };
    const token = r.lease_token!;
    const now = iso();
    if (res.ok) {
      if (await rows.settle(deps.store.db, r.id, token, { status: 'delivered', delivered_at: now, updated_at: now, ref: res.ref ?? null, last_error: null })) {
        deps.onSettled?.({ channel: r.channel, kind: r.kind, event: r.event, ok: true, attempts: r.attempts });
      }
      return;
    }
    if (res.retryable && r.attempts < maxAttempts) {
      const wait = Math.max(Math.min(backoffMs * 2 ** (r.attempts - 1), maxBackoffMs), Math.min(res.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      const at = iso(wait);
      await rows.settle(deps.store.db, r.id, token, { status: 'pending', next_attempt_at: at, updated_at: now, last_error: res.error });
      deps.log.warn({ channel: r.channel, event: r.event, key: r.key, attempt: r.attempts, error: res.error, next_attempt_at: at }, 'notification not delivered; it will be retried');
      return;
    }
    await bury(r, token, res.error, now);
  }

  /** The dead letter: kept for people to see and retry, and audited in the same transaction. */
  async function bury(r: OutboxRow, token: string, error: string, now: string): Promise<void> {
    const events = await deps.store.transaction(async (trx) => {
      if (!(await rows.settle(trx, r.id, token, { status: 'dead', updated_at: now, last_error: error }))) return null;
      return deps.audit.appendInTx(trx, [{ actor: 'airlock', action: 'notify.dead', target: r.channel, details: { notification_id: r.id, kind: r.kind, event: r.event, key: r.key, attempts: r.attempts, error } }]);
    });
    if (!events) return;
    deps.audit.published(events);
    deps.log.warn({ channel: r.channel, event: r.event, key: r.key, attempts: r.attempts, error }, 'notification given up on (dead letter)');
    deps.onSettled?.({ channel: r.channel, kind: r.kind, event: r.event, ok: false, attempts: r.attempts });
  }

  return {
    /** Queues the notice for every channel that wants it (once per channel, across processes); the number queued. */
    enqueue(n: Notice): Promise<number> {
      const p = (async () => {
        const channels = deps.channels().filter((c) => c.wants(n));
        const inserted = await rows.insert(n, channels, iso());
        if (inserted) kick();
        return inserted;
      })();
      enqueuing.add(p);
      void p.finally(() => enqueuing.delete(p)).catch(() => undefined);
      return p;
    },

    /** Starts delivering: what an earlier run left pending goes out now. */
    start(): void {
      if (started) return;
      started = true;
      kick();
    },

    /** Stops claiming, waits (bounded) for deliveries in flight; whatever is left stays pending for the next start. */
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await Promise.allSettled([...enqueuing]);
      await pass;
      const all = () => Promise.allSettled([...sending.values()].map((s) => s.done));
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([all(), new Promise((r) => (bound = setTimeout(r, drainMs)))]);
      clearTimeout(bound);
      // Past the bound: abandon them. Their leases lapse and the next start (or another process) sends them again.
      for (const s of sending.values()) s.abort.abort();
    },

    /** Deliveries running in this process. */
    get inFlight(): number {
      return sending.size;
    },

    list: (filter: { status?: NotificationStatus | 'all'; limit?: number } = {}) => rows.list(filter),

    async get(id: string): Promise<NotificationView> {
      const r = await rows.get(deps.store.db, id);
      if (!r) throw new AirlockError('AIRLOCK_NOT_FOUND', `no notification ${id}`);
      return toView(r);
    },

    /** An admin sends a dead message again: pending, due now, with a fresh set of attempts; audited. */
    async retry(id: string, by: { actor: string; source: string | null }): Promise<NotificationView> {
      const now = iso();
      const { row, events } = await deps.store.transaction(async (trx) => {
        const before = await rows.get(trx, id);
        if (!before) throw new AirlockError('AIRLOCK_NOT_FOUND', `no notification ${id}`);
        if (!(await rows.revive(trx, id, now))) throw new AirlockError('AIRLOCK_BAD_INPUT', `notification ${id} is ${before.status === 'sending' ? 'pending' : before.status}, not dead: only a dead notification can be retried`);
        const ev = await deps.audit.appendInTx(trx, [{ actor: by.actor, action: 'notify.retry', target: before.channel, source: by.source, details: { notification_id: id, kind: before.kind, event: before.event, key: before.key, attempts: before.attempts, error: before.last_error === null ? null : redactUrls(before.last_error) } }]);
        return { row: (await rows.get(trx, id))!, events: ev };
      });
      deps.audit.published(events);
      kick();
      return toView(row);
    },
  };
}

export type Outbox = ReturnType<typeof makeOutbox>;
