// The notification outbox's rows: insert once per channel and key, claim due rows (skipping locked ones on
// PostgreSQL), record each attempt's outcome, list them for people, and put a dead one back in the queue.
import type { Kysely, Transaction } from 'kysely';
import { randomBase32 } from '../domain/ids.js';
import type { DB, NotificationOutboxTable } from '../store/schema.js';
import type { Dialect } from '../store/store.js';
import type { Channel } from './channel.js';
import { noticeKey } from './channel.js';
import { redactUrls } from './http-result.js';
import type { Notice } from './webhooks.js';

export type NotificationStatus = 'pending' | 'sending' | 'delivered' | 'dead';
export type OutboxRow = Omit<NotificationOutboxTable, 'attempts'> & { attempts: number };

/** One message as the API, console and CLI show it; `pending` covers rows being sent right now. */
export interface NotificationView {
  id: string;
  channel: string;
  kind: string;
  event: string;
  key: string;
  subject: { kind: string; id: string } | null;
  status: NotificationStatus;
  attempts: number;
  /** The line a person reads, as the notice had it. */
  text: string;
  last_error: string | null;
  /** When the next attempt is due (pending), null otherwise. */
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

export function newNotificationId(): string {
  return `ntf_${randomBase32(16)}`;
}

export function toView(r: OutboxRow): NotificationView {
  const text = (JSON.parse(r.payload) as Partial<Notice>).text ?? '';
  return {
    id: r.id, channel: r.channel, kind: r.kind, event: r.event, key: r.key,
    subject: r.subject_kind && r.subject_id ? { kind: r.subject_kind, id: r.subject_id } : null,
    // Rows written before errors were redacted are shown redacted too.
    status: r.status as NotificationStatus, attempts: Number(r.attempts), text, last_error: r.last_error === null ? null : redactUrls(r.last_error),
    next_attempt_at: r.status === 'pending' ? r.next_attempt_at : null,
    created_at: r.created_at, updated_at: r.updated_at, delivered_at: r.delivered_at,
  };
}

export function makeOutboxRows(db: Kysely<DB>, dialect: Dialect) {
  return {
    /** One row per channel; a row another process already inserted for this channel and key stays as it is. */
    async insert(n: Notice, channels: readonly Channel[], now: string): Promise<number> {
      if (channels.length === 0) return 0;
      const key = noticeKey(n);
      const payload = JSON.stringify(n);
      const rows = channels.map((c) => ({
        id: newNotificationId(), channel: c.name, kind: c.kind, event: n.event, key,
        subject_kind: n.subject?.kind ?? null, subject_id: n.subject?.id ?? null, payload, status: 'pending',
        attempts: 0, notice_time: n.time, next_attempt_at: now, created_at: now, updated_at: now,
        lease_until: null, lease_token: null, last_error: null, ref: null, delivered_at: null,
      }));
      const r = await db.insertInto('notification_outbox').values(rows).onConflict((oc) => oc.columns(['channel', 'key']).doNothing()).executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0);
    },

    /**
     * Marks up to `limit` due rows as sending under a lease and returns them: pending ones whose time has come, and
     * sending ones whose lease lapsed (their process died mid-send). A row waits while an earlier message of the same
     * channel and subject is not settled, so a decision never overtakes the message it updates.
     */
    async claim(now: string, leaseUntil: string, token: string, limit: number): Promise<OutboxRow[]> {
      let due = db
        .selectFrom('notification_outbox as o')
        .select('o.id')
        .where((eb) => eb.or([
          eb.and([eb('o.status', '=', 'pending'), eb('o.next_attempt_at', '<=', now)]),
          eb.and([eb('o.status', '=', 'sending'), eb('o.lease_until', '<=', now)]),
        ]))
        .where(({ not, exists, selectFrom }) => not(exists(
          selectFrom('notification_outbox as e')
            .select('e.id')
            .whereRef('e.channel', '=', 'o.channel')
            .whereRef('e.subject_kind', '=', 'o.subject_kind')
            .whereRef('e.subject_id', '=', 'o.subject_id')
            .where('e.status', 'in', ['pending', 'sending'])
            .where((eb) => eb.or([
              eb('e.notice_time', '<', eb.ref('o.notice_time')),
              eb.and([eb('e.notice_time', '=', eb.ref('o.notice_time')), eb('e.id', '<', eb.ref('o.id'))]),
            ])),
        )))
        .orderBy('o.next_attempt_at')
        .limit(limit);
      // Several processes claim at once on PostgreSQL: each takes rows no other holds. SQLite has one writer at a time.
      if (dialect === 'postgres') due = due.forUpdate().skipLocked();
      const rows = await db
        .updateTable('notification_outbox')
        .set((eb) => ({ status: 'sending', attempts: eb('attempts', '+', 1), lease_until: leaseUntil, lease_token: token, updated_at: now }))
        .where('id', 'in', due)
        .returningAll()
        .execute();
      return rows.map((r) => ({ ...r, attempts: Number(r.attempts) }));
    },

    /** The ref the latest delivered message of this channel left for the subject. */
    async lastRef(channel: string, subject: { kind: string; id: string } | null): Promise<string | null> {
      if (!subject) return null;
      const r = await db.selectFrom('notification_outbox').select('ref')
        .where('channel', '=', channel).where('subject_kind', '=', subject.kind).where('subject_id', '=', subject.id)
        .where('status', '=', 'delivered').where('ref', 'is not', null)
        .orderBy('delivered_at', 'desc').limit(1).executeTakeFirst();
      return r?.ref ?? null;
    },

    /** Records an outcome, if the claim is still this one's (a lapsed lease may have been taken over). */
    async settle(ex: Kysely<DB> | Transaction<DB>, id: string, token: string, set: Partial<Omit<NotificationOutboxTable, 'attempts'>>): Promise<boolean> {
      const r = await ex.updateTable('notification_outbox').set({ ...set, lease_until: null, lease_token: null })
        .where('id', '=', id).where('status', '=', 'sending').where('lease_token', '=', token).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    /**
     * The earliest time after `since` (the time a claim used) at which something may become due: a retry's time or a
     * lease's end. What was due at `since` and not claimed waits on an earlier row of its subject, not on the clock.
     */
    async nextDue(since: string): Promise<string | null> {
      const [p, s] = await Promise.all([
        db.selectFrom('notification_outbox').select((eb) => eb.fn.min('next_attempt_at').as('t')).where('status', '=', 'pending').where('next_attempt_at', '>', since).executeTakeFirst(),
        db.selectFrom('notification_outbox').select((eb) => eb.fn.min('lease_until').as('t')).where('status', '=', 'sending').where('lease_until', '>', since).executeTakeFirst(),
      ]);
      const times = [p?.t, s?.t].filter((t): t is string => typeof t === 'string');
      return times.length ? times.sort()[0]! : null;
    },

    async list(filter: { status?: NotificationStatus | 'all'; limit?: number }): Promise<NotificationView[]> {
      let q = db.selectFrom('notification_outbox').selectAll();
      const st = filter.status ?? 'all';
      if (st === 'pending' || st === 'sending') q = q.where('status', 'in', ['pending', 'sending']);
      else if (st !== 'all') q = q.where('status', '=', st);
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000)).execute();
      return rows.map((r) => toView({ ...r, attempts: Number(r.attempts) }));
    },

    async get(ex: Kysely<DB> | Transaction<DB>, id: string): Promise<OutboxRow | undefined> {
      const r = await ex.selectFrom('notification_outbox').selectAll().where('id', '=', id).executeTakeFirst();
      return r && { ...r, attempts: Number(r.attempts) };
    },

    /** dead → pending with a fresh set of attempts, due now; false when the row is not dead (any more). */
    async revive(trx: Transaction<DB>, id: string, now: string): Promise<boolean> {
      const r = await trx.updateTable('notification_outbox').set({ status: 'pending', attempts: 0, next_attempt_at: now, updated_at: now })
        .where('id', '=', id).where('status', '=', 'dead').executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}

export type OutboxRows = ReturnType<typeof makeOutboxRows>;
