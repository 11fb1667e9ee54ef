// Statement reviews behind the contract (statement-reviews.ts): hold, decide under a row lock, wait across processes,
// and use an approval exactly once. Every state change is a conditional update in a transaction with its audit event.
import { sql, type Transaction } from 'kysely';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { Caller } from '../domain/model.js';
import type { Policy } from '../policy/compile.js';
import { isStatementReviewer, mayDecide, principalDef, statementReviewers } from '../policy/statement-review-rule.js';
import type { Store } from '../store/store.js';
import type { DB } from '../store/schema.js';
import { toGrant } from '../store/records.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChangeBus } from './change-bus.js';
import type { Recorder, UnitOfWork } from './unit-of-work.js';
import { statementBinding } from './statement-binding.js';
import type { HoldInput, ReviewOutcome, StatementReview, StatementReviewService, StatementReviewStatus } from './statement-reviews.js';
import { describeReviewState, toStatementReview } from './statement-review-records.js';

/** Longest single timer of a wait: it also re-reads the row, in case a change notice from another process was lost. */
const MAX_TIMER_MS = 30_000;
/**
 * Pending statement reviews one principal may have at a time (docs/policy.md, "review"): each holds an upstream
 * connection and asks reviewers for attention, so a client cannot flood them. Counted in the insert's transaction.
 */
export const MAX_PENDING_REVIEWS_PER_PRINCIPAL = 10;
/** Defaults of a role without a review: section (a gateway may still hold for it, e.g. an MCP call). */
const DEFAULT_TIMEOUT_S = 900;

/** Refusals audited as review.refused (outside the transaction they undid), as reviews.ts does for requests. */
const REFUSALS = new Set(['AIRLOCK_SELF_REVIEW', 'AIRLOCK_AGENT_CANNOT_APPROVE', 'AIRLOCK_NOT_APPROVER']);

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return 'the client cancelled the statement';
}

export function makeStatementReviewService(deps: {
  store: Store;
  clock: Clock;
  uow: UnitOfWork;
  audit: Pick<AuditLog, 'append'>;
  policy: () => Policy;
  bus: ChangeBus;
  /** Admins and auditors see every review. */
  seesAll: (c: Caller) => boolean;
}) {
  const { store, clock, uow, bus } = deps;
  const now = () => clock.now().toISOString();

  async function read(id: string): Promise<StatementReview | undefined> {
    const row = await store.db.selectFrom('statement_reviews').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toStatementReview(row) : undefined;
  }

  /** The review as it is now: one past its time that nobody marked yet is marked timed out first. */
  async function get(id: string): Promise<StatementReview | undefined> {
    const r = await read(id);
    if (r?.status !== 'pending' || Date.parse(r.expires_at) > clock.now().getTime()) return r;
    await timeOutIfDue(id);
    return read(id);
  }

  function announce(rec: Recorder, r: StatementReview, event: string, actor?: string): void {
    rec.change({ kind: 'statement_review', id: r.id, event, status: r.status, principal: r.principal, resource: r.resource, role: r.role, time: now(), ...(actor ? { actor } : {}) });
  }

  /** Ends a pending review without a decision (withdrawn or timed out); false when it was no longer pending. */
  async function endPending(id: string, status: 'withdrawn' | 'timed_out', reason: string, onlyIfDue: boolean): Promise<boolean> {
    return uow(async (trx, rec) => {
      const t = now();
      let q = trx.updateTable('statement_reviews').set({ status, decided_at: t, end_reason: reason }).where('id', '=', id).where('status', '=', 'pending');
      if (onlyIfDue) q = q.where('expires_at', '<=', t);
      const row = await q.returningAll().executeTakeFirst();
      if (!row) return false;
      const r = toStatementReview(row);
      rec.audit({ actor: status === 'timed_out' ? 'airlock' : r.principal, action: `review.${status}`, target: r.resource, details: { review_id: r.id, grant_id: r.grant_id, session_id: r.session_id, principal: r.principal, role: r.role, reason } });
      announce(rec, r, status);
      return true;
    });
  }

  const timeOutIfDue = (id: string) => endPending(id, 'timed_out', 'nobody decided before it timed out', true);

  /** approved → executed, once: the conditional update is what makes an approval single-use across processes. */
  async function consume(id: string, sessionId: string | null | undefined, requireUnexpired: boolean): Promise<StatementReview | null> {
    return uow(async (trx, rec) => {
      const t = now();
      let q = trx.updateTable('statement_reviews').set({ status: 'executed', executed_at: t, ...(sessionId !== undefined ? { session_id: sessionId } : {}) }).where('id', '=', id).where('status', '=', 'approved');
      if (requireUnexpired) q = q.where('expires_at', '>', t);
      const row = await q.returningAll().executeTakeFirst();
      if (!row) return null;
      const r = toStatementReview(row);
      rec.audit({ actor: r.principal, action: 'review.consumed', target: r.resource, details: { review_id: r.id, grant_id: r.grant_id, session_id: r.session_id, binding: r.binding } });
      announce(rec, r, 'executed');
      return r;
    });
  }

  /**
   * At most MAX_PENDING_REVIEWS_PER_PRINCIPAL pending reviews per principal: on PostgreSQL an advisory lock on the
   * principal makes concurrent holds count one after another (SQLite runs one write transaction at a time).
   */
  async function refuseOverCap(trx: Transaction<DB>, principal: string, t: string): Promise<void> {
    if (store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(${JSON.stringify(['airlock-statement-review', principal])}))`.execute(trx);
    const row = await trx.selectFrom('statement_reviews').select((e) => e.fn.countAll<number | string>().as('n')).where('principal', '=', principal).where('status', '=', 'pending').where('expires_at', '>', t).executeTakeFirst();
    if (Number(row?.n ?? 0) >= MAX_PENDING_REVIEWS_PER_PRINCIPAL) {
      throw new AirlockError('AIRLOCK_STATEMENT_HELD', `you already have ${MAX_PENDING_REVIEWS_PER_PRINCIPAL} statements waiting for review; wait for a decision (airlock reviews) or withdraw one (Ctrl-C) before sending another`);
    }
  }

  async function hold(principal: string, input: HoldInput): Promise<StatementReview> {
    const policy = deps.policy();
    return uow(async (trx, rec) => {
      // Read under a share lock (PostgreSQL; SQLite transactions run one at a time): a grant ending now waits for this
      // insert, and its end then withdraws the review with the others of that grant.
      const q = trx.selectFrom('grants').selectAll().where('id', '=', input.grant_id);
      const found = await (store.dialect === 'postgres' ? q.forShare() : q).executeTakeFirst();
      const grant = found ? toGrant(found) : undefined;
      const t = clock.now();
      if (!grant || grant.status !== 'active' || Date.parse(grant.expires_at) <= t.getTime()) {
        throw new AirlockError('AIRLOCK_GRANT_NOT_ACTIVE', `Grant ${input.grant_id} is not active${grant ? ` (${grant.status})` : ''}; the statement cannot be held for review.`);
      }
      if (grant.principal !== principal) throw new AirlockError('AIRLOCK_FORBIDDEN', `Grant ${grant.id} belongs to ${grant.principal}, not ${principal}.`);
      await refuseOverCap(trx, principal, t.toISOString());
      const role = policy.role(grant.role);
      const rule = role ? statementReviewers(role) : { groups: [], principals: [] };
      const def = principalDef(policy.doc, principal);
      const r: StatementReview = {
        id: newId('rev'),
        status: 'pending',
        principal,
        principal_kind: policy.principal(principal)?.kind ?? 'user',
        resource: grant.resource,
        role: grant.role,
        grant_id: grant.id,
        session_id: input.session_id,
        protocol: input.protocol,
        database: input.database,
        statement: input.statement,
        parameters: input.parameters,
        summary: input.summary,
        binding: statementBinding({ statement: input.statement, parameters: input.parameters, grant_id: grant.id, policy_hash: policy.hash, database: input.database }),
        approvals_needed: role?.review?.approvals ?? 1,
        approvals: [],
        approver_groups: rule.groups,
        approver_principals: rule.principals,
        sponsor: def?.sponsor ?? null,
        created_at: t.toISOString(),
        expires_at: new Date(t.getTime() + (role?.review?.timeout ?? DEFAULT_TIMEOUT_S) * 1000).toISOString(),
        decided_at: null,
        decided_by: null,
        comment: null,
        end_reason: null,
        executed_at: null,
        redacted: input.redacted ?? null,
      };
      await trx
        .insertInto('statement_reviews')
        .values({
          ...r,
          principal_kind: r.principal_kind ?? 'user',
          approver_principals: JSON.stringify(r.approver_principals),
          approver_groups: JSON.stringify(r.approver_groups),
          approvals: '[]',
          parameters: r.parameters === null ? null : JSON.stringify(r.parameters),
          summary: JSON.stringify(r.summary),
          redacted: r.redacted ?? null,
          end_reason: null,
          policy_hash: policy.hash,
          source: input.source,
          instance: bus.origin,
        })
        .execute();
      // The literal text stays in the row, for reviewers: literals may hold secrets, so the log gets the redacted text.
      rec.audit({ actor: principal, action: 'review.requested', target: r.resource, source: input.source, details: { review_id: r.id, grant_id: r.grant_id, session_id: r.session_id, principal, resource: r.resource, role: r.role, binding: r.binding, summary: r.summary, text: r.redacted, approvals_needed: r.approvals_needed, expires_at: r.expires_at, sponsor: r.sponsor } });
      announce(rec, r, 'requested');
      return r;
    });
  }

  async function decide(caller: Caller, id: string, decision: 'approve' | 'deny', comment: string | null): Promise<StatementReview> {
    // One past its time counts as timed out even if no waiter marked it: mark it first, in its own transaction.
    await timeOutIfDue(id);
    const policy = deps.policy();
    const me = caller.principal.name;
    try {
      return await uow(async (trx, rec) => {
        const q = trx.selectFrom('statement_reviews').selectAll().where('id', '=', id);
        const row = await (store.dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no statement review ${id}. List them with: airlock reviews`);
        const r = toStatementReview(row);
        if (r.principal === me) throw new AirlockError('AIRLOCK_SELF_REVIEW', `You cannot ${decision} your own statement (${id}); another reviewer must.`);
        if (!mayDecide(policy.doc, caller.principal)) throw new AirlockError('AIRLOCK_AGENT_CANNOT_APPROVE', `${me} is an agent; agents cannot approve or deny statements unless the policy gives them may_approve: true.`);
        const role = policy.role(r.role);
        if (!role) throw new AirlockError('AIRLOCK_UNKNOWN_ROLE', `Role "${r.role}" is no longer in the policy; this review cannot be decided.`);
        if (!isStatementReviewer(policy.doc, caller.principal, role)) {
          const rule = statementReviewers(role);
          throw new AirlockError('AIRLOCK_NOT_APPROVER', `You may not review statements under role "${role.name}" (reviewers: groups ${rule.groups.join(', ') || 'none'}${rule.principals.length ? `; ${rule.principals.join(', ')}` : ''}).`);
        }
        if (r.status !== 'pending') throw new AirlockError('AIRLOCK_REVIEW_NOT_PENDING', `Statement review ${id} ${describeReviewState(r)}; it can no longer be ${decision === 'approve' ? 'approved' : 'denied'}.`);
        if (r.approvals.some((a) => a.reviewer === me)) throw new AirlockError('AIRLOCK_ALREADY_REVIEWED', `You already approved statement review ${id}; it needs ${r.approvals_needed - r.approvals.length} more approval(s) from others.`);
        const t = now();
        const base = { review_id: id, grant_id: r.grant_id, session_id: r.session_id, principal: r.principal, sponsor: r.sponsor, role: r.role, binding: r.binding, comment };
        if (decision === 'deny') {
          const upd = await trx.updateTable('statement_reviews').set({ status: 'denied', decided_at: t, decided_by: me, comment }).where('id', '=', id).where('status', '=', 'pending').returningAll().executeTakeFirst();
          if (!upd) throw new AirlockError('AIRLOCK_REVIEW_NOT_PENDING', `Statement review ${id} was decided a moment ago.`);
          const out = toStatementReview(upd);
          rec.audit({ actor: me, action: 'review.denied', target: r.resource, source: caller.source, details: base });
          announce(rec, out, 'denied', me);
          return out;
        }
        const approvals = [...r.approvals, { reviewer: me, at: t, comment }];
        const done = approvals.length >= r.approvals_needed;
        const upd = await trx
          .updateTable('statement_reviews')
          .set({ approvals: JSON.stringify(approvals), ...(done ? { status: 'approved', decided_at: t, decided_by: approvals.map((a) => a.reviewer).join(','), comment } : {}) })
          .where('id', '=', id)
          .where('status', '=', 'pending')
          .returningAll()
          .executeTakeFirst();
        if (!upd) throw new AirlockError('AIRLOCK_REVIEW_NOT_PENDING', `Statement review ${id} was decided a moment ago.`);
        const out = toStatementReview(upd);
        rec.audit({ actor: me, action: 'review.approve', target: r.resource, source: caller.source, details: { ...base, approvals: approvals.length, needed: r.approvals_needed } });
        if (done) rec.audit({ actor: me, action: 'review.approved', target: r.resource, source: caller.source, details: { ...base, approvers: approvals.map((a) => a.reviewer) } });
        announce(rec, out, done ? 'approved' : 'reviewed', me);
        return out;
      });
    } catch (e) {
      if (e instanceof AirlockError && REFUSALS.has(e.code)) {
        await deps.audit.append({ actor: me, action: 'review.refused', target: id, source: caller.source, details: { review_id: id, decision, code: e.code, message: e.message } });
      }
      throw e;
    }
  }

  function wait(id: string, signal?: AbortSignal): Promise<ReviewOutcome> {
    return new Promise<ReviewOutcome>((resolve, reject) => {
      let settled = false;
      let busy = false;
      let again = false;
      let aborted = false;
      let timer: NodeJS.Timeout | null = null;
      // A decision made in this process or another (cluster.ts republishes theirs) arrives as a change: re-read then.
      const unsubscribe = bus.subscribe((c) => {
        if (c.kind === 'statement_review' && c.id === id) kick();
      });
      const onAbort = () => {
        aborted = true;
        endPending(id, 'withdrawn', reasonOf(signal!), false).then(() => kick(), fail);
      };
      function cleanup(): void {
        settled = true;
        unsubscribe();
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      function finish(o: ReviewOutcome): void {
        if (settled) return;
        cleanup();
        resolve(o);
      }
      function fail(e: unknown): void {
        if (settled) return;
        cleanup();
        reject(e instanceof Error ? e : new Error(String(e)));
      }
      function kick(): void {
        if (settled) return;
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        step().then(
          () => {
            busy = false;
            if (again) {
              again = false;
              kick();
            }
          },
          (e: unknown) => {
            busy = false;
            fail(e);
          },
        );
      }
      async function step(): Promise<void> {
        const r = await get(id);
        if (!r) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no statement review ${id}.`);
        if (r.status === 'pending') {
          if (aborted) return; // the withdrawal is on its way; its change wakes us
          const left = Date.parse(r.expires_at) - clock.now().getTime();
          if (left <= 0) {
            await timeOutIfDue(id);
            again = true;
            return;
          }
          if (timer) clearTimeout(timer);
          // Not unref'd: a wait is live work (a held statement); its caller ends it with the signal.
          timer = setTimeout(kick, Math.min(left + 5, MAX_TIMER_MS));
          return;
        }
        if (r.status === 'approved') {
          // A caller that gave up leaves the approval unused: the same statement asked again may still use it.
          if (aborted) return finish({ status: 'withdrawn', review: r });
          const used = await consume(id, undefined, false);
          if (used) return finish({ status: 'approved', review: used });
          again = true; // someone else used it a moment ago: read what it is now
          return;
        }
        finish({ status: r.status, review: r });
      }
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      kick();
    });
  }

  async function consumeApproved(grant_id: string, binding: string, session_id: string | null): Promise<StatementReview | null> {
    const candidates = await store.db
      .selectFrom('statement_reviews')
      .select('id')
      .where('grant_id', '=', grant_id)
      .where('binding', '=', binding)
      .where('status', '=', 'approved')
      .where('expires_at', '>', now())
      .orderBy('created_at')
      .execute();
    for (const c of candidates) {
      const used = await consume(c.id, session_id, true);
      if (used) return used;
    }
    return null;
  }

  async function withdraw(id: string, reason: string): Promise<void> {
    await endPending(id, 'withdrawn', reason, false);
  }

  async function executed(id: string, details: { session_id: string | null; rows?: number | null; error?: string | null }): Promise<void> {
    const r = await get(id);
    if (!r) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no statement review ${id}.`);
    await deps.audit.append({ actor: r.principal, action: 'review.executed', target: r.resource, details: { review_id: id, grant_id: r.grant_id, session_id: details.session_id, rows: details.rows ?? null, error: details.error ?? null } });
  }

  /** Marks every pending review past its time as timed out (a waiter's timer does it too, if one is still there). */
  async function timeOutDue(): Promise<void> {
    const due = await store.db.selectFrom('statement_reviews').select('id').where('status', '=', 'pending').where('expires_at', '<=', now()).execute();
    for (const d of due) await timeOutIfDue(d.id);
  }

  async function list(caller: Caller, filter: { status?: StatementReviewStatus; principal?: string; limit?: number } = {}): Promise<StatementReview[]> {
    // A list shows what is true now: one whose holder went away without marking it is not shown as pending.
    await timeOutDue();
    const policy = deps.policy();
    let q = store.db.selectFrom('statement_reviews').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.min(Math.max(filter.limit ?? 200, 1), 1000));
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.principal) q = q.where('principal', '=', filter.principal);
    if (!deps.seesAll(caller)) {
      const me = caller.principal.name;
      const roles = policy.roles.filter((r) => isStatementReviewer(policy.doc, caller.principal, r)).map((r) => r.name);
      q = q.where((eb) => eb.or([eb('principal', '=', me), eb('sponsor', '=', me), ...(roles.length ? [eb('role', 'in', roles)] : [])]));
    }
    return (await q.execute()).map(toStatementReview);
  }

  /**
   * At start: pending reviews whose session is gone (held by a process not running now) are withdrawn. `live` is the
   * set of running processes (PostgreSQL store) or null (SQLite: this process is the only one).
   */
  async function withdrawOrphans(live: Set<string> | null): Promise<number> {
    const rows = await store.db.selectFrom('statement_reviews').select(['id', 'instance']).where('status', '=', 'pending').execute();
    let n = 0;
    for (const r of rows) {
      if (r.instance === bus.origin || (live && r.instance !== null && live.has(r.instance))) continue;
      if (await endPending(r.id, 'withdrawn', 'Airlock restarted; the session that held the statement is gone', false)) n++;
    }
    return n;
  }

  /** A grant that ended takes its pending reviews with it: there is no session left to run them in. */
  async function withdrawForGrant(grant_id: string, reason: string): Promise<number> {
    const rows = await store.db.selectFrom('statement_reviews').select('id').where('grant_id', '=', grant_id).where('status', '=', 'pending').execute();
    let n = 0;
    for (const r of rows) if (await endPending(r.id, 'withdrawn', reason, false)) n++;
    return n;
  }

  const service: StatementReviewService = {
    consumeApproved,
    hold,
    wait,
    withdraw,
    executed,
    approve: (caller, id, comment) => decide(caller, id, 'approve', comment?.trim() || null),
    deny(caller, id, comment) {
      if (!comment?.trim()) return Promise.reject(new AirlockError('AIRLOCK_BAD_INPUT', 'Say why you deny the statement (--comment); the person who sent it reads it.'));
      return decide(caller, id, 'deny', comment.trim());
    },
    get,
    list,
  };
  return { ...service, withdrawOrphans, withdrawForGrant };
}

export type StatementReviews = ReturnType<typeof makeStatementReviewService>;
