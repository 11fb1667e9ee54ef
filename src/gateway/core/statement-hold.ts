// Statement review in a SQL session, for every SQL front-end: which statements a role's `review:` rule holds, and
// holding one until a person decides (src/access/statement-reviews.ts). The front-end stops handling the client's
// messages meanwhile and turns the outcome into its protocol's words (postgres/statement-hold.ts, mysql/commands.ts).
import type { Decision } from '../../inspect/index.js';
import type { ReviewOutcome, StatementReview, StatementReviewService, StatementSummary } from '../../access/statement-reviews.js';
import { statementBinding } from '../../access/statement-binding.js';
import type { RoleDef } from '../../policy/schema.js';
import { isAirlockError, type ErrorCode } from '../../domain/errors.js';
import type { Log } from '../../domain/log.js';
import type { GatewayProtocol, GatewaySession } from './session-lifecycle.js';
import type { GatewayDeps, SessionPlan } from '../types.js';

export type ReviewRule = NonNullable<RoleDef['review']>;

/** Transaction control: never held, even under `statements: all` (holding COMMIT would only strand the transaction). */
const TRANSACTION_KINDS = new Set(['begin', 'commit', 'rollback', 'savepoint', 'release']);

/**
 * Under `statements: writes`, kinds that act only on the session (or read a cursor an earlier, reviewed DECLARE
 * opened) are not held even when the inspector could not show them to only read, unless it marked one as calling a
 * function it cannot show to only read (MySQL's `SET @x = f()`, `SHOW TABLES WHERE f()`): that function may write.
 */
const SESSION_KINDS = new Set([...TRANSACTION_KINDS, 'show', 'set', 'listen', 'unlisten', 'discard', 'deallocate', 'fetch', 'close']);

/**
 * Whether the review rule holds this (allowed) statement text. Fail closed: a text that did not parse, or that the
 * inspector cannot show to only read, counts as one that may write. A simple Query's whole text is one unit.
 */
export function needsReview(mode: ReviewRule['statements'], d: Decision): boolean {
  if (mode === 'none') return false;
  const s = d.statements;
  // No statements: an empty or comment-only text (shown to only read), or one that did not parse (not shown).
  if (s.length === 0) return !d.reads_only;
  if (mode === 'all') return !s.every((i) => TRANSACTION_KINDS.has(i.kind) && !i.writes);
  if (s.some((i) => i.writes)) return true;
  return !d.reads_only && !s.every((i) => SESSION_KINDS.has(i.kind) && i.calls !== true);
}

/** What reviewers see next to the exact text: kinds, the tables named, WHERE on UPDATE/DELETE, may it write. */
export function summaryOf(d: Decision | null): StatementSummary {
  if (d === null) return { kinds: [], tables: [], has_where: null, writes: true };
  const kinds = d.statements.map((s) => s.kind);
  const tables: string[] = [];
  let unqualified = false;
  for (const f of d.facts ?? []) {
    for (const r of f.functions?.relations ?? []) if (!tables.includes(r)) tables.push(r);
    if (f.unqualified) unqualified = true;
  }
  const dml = kinds.some((k) => k === 'update' || k === 'delete');
  return { kinds, tables, has_where: unqualified ? false : dml ? true : null, writes: !d.reads_only || d.statements.some((s) => s.writes) };
}

/** 900 → "15m", 5400 → "1h30m", 2 → "2s": the review rule's timeout as a person writes it. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const out = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${r ? `${r}s` : ''}`;
  return out || '0s';
}

/** The role's review rule when it holds any statement; null for `statements: none` or none at all. */
export function reviewRuleOf(plan: SessionPlan): ReviewRule | null {
  const rule = plan.role.review;
  return rule && rule.statements !== 'none' ? rule : null;
}

/**
 * What a session's StatementHold needs, when its role holds statements and the gateway has the review service (a
 * front-end refuses a session whose role holds statements on a gateway without one, before this).
 */
export function holdContext(deps: GatewayDeps, plan: SessionPlan, session: GatewaySession, protocol: GatewayProtocol, source: string | null): StatementHoldContext | null {
  const rule = reviewRuleOf(plan);
  const service = deps.statementReviews;
  if (!rule || !service) return null;
  return {
    service,
    protocol,
    rule,
    fallbackApprovers: plan.role.approval.approver_groups ?? [],
    principal: plan.principal.name,
    grant_id: plan.grant.id,
    policyHash: () => deps.access.policyHash?.() ?? '',
    session_id: session.id,
    database: plan.upstream.database ?? null,
    source,
    log: deps.log,
  };
}

export interface StatementHoldContext {
  service: StatementReviewService;
  protocol: GatewayProtocol;
  rule: ReviewRule;
  /** Who decides when the rule names nobody: the role's request approvers. */
  fallbackApprovers: string[];
  principal: string;
  grant_id: string;
  /** The policy version in force: an approval given under another one does not run here. */
  policyHash(): string;
  session_id: string;
  database: string | null;
  source: string | null;
  log: Pick<Log, 'warn' | 'error'>;
}

/** Why a held statement did not run: the audit rule is `review_<why>`; each front-end has its error number for each. */
export type NotRun = 'denied' | 'timed_out' | 'withdrawn' | 'mismatch' | 'used' | 'failed' | 'capped';

/** What the front-end does with the held statement once the review ends. */
export type HoldOutcome =
  | { run: true; review_id: string }
  | { run: false; review_id: string | null; why: NotRun; rule: string; message: string; airlock: ErrorCode };

interface Current {
  id: string | null;
  abort: AbortController;
  /** Why the session let go of the review (the client's cancel, or the session's end); null while it waits. */
  reason: string | null;
  cancelled: boolean;
}

/** One session's statement reviews: at most one held at a time, since nothing after a held statement is handled. */
export class StatementHold {
  private current: Current | null = null;
  private inflight: Promise<HoldOutcome> | null = null;
  /** The database (schema) statements run in now: the login's, until a front-end says it changed (null: not known). */
  private db: string | null;

  constructor(protected readonly c: StatementHoldContext) {
    this.db = c.database;
  }

  /** The session's database changed (MySQL USE, COM_INIT_DB): its name, or null when the gateway cannot know it. */
  useDatabase(name: string | null): void {
    this.db = name;
  }

  /** The database a held statement would run in; reviews show it, and approvals are bound to it. */
  database(): string | null {
    return this.db;
  }

  needs(d: Decision): boolean {
    return needsReview(this.c.rule.statements, d);
  }

  get holding(): boolean {
    return this.current !== null;
  }

  /** The id of the review being waited on, once created. */
  get reviewId(): string | null {
    return this.current?.id ?? null;
  }

  /**
   * Holds one statement until it is decided. An identical statement approved before runs at once; else a review is
   * created, `notify` gets the text to tell the client (where its protocol can), and the decision is awaited. Never
   * rejects: a failure of the review service refuses the statement (fail closed).
   */
  review(statement: string, parameters: (string | null)[] | null, d: Decision | null, notify: (text: string) => void): Promise<HoldOutcome> {
    const p = this.holdUntilDecided(statement, parameters, d, notify);
    this.inflight = p;
    return p;
  }

  /** Resolves once no statement is held (a session's end waits for it, so the statement's event precedes its end). */
  async settled(): Promise<void> {
    await this.inflight;
  }

  private async holdUntilDecided(statement: string, parameters: (string | null)[] | null, d: Decision | null, notify: (text: string) => void): Promise<HoldOutcome> {
    const cur: Current = { id: null, abort: new AbortController(), reason: null, cancelled: false };
    this.current = cur;
    const binding = this.binding(statement, parameters);
    try {
      const ready = await this.c.service.consumeApproved(this.c.grant_id, binding, this.c.session_id);
      if (ready) return this.approved(ready, binding);
      if (cur.reason !== null) return this.withdrawn(null, cur);
      const review = await this.c.service.hold(this.c.principal, { grant_id: this.c.grant_id, session_id: this.c.session_id, protocol: this.c.protocol, database: this.db, statement, parameters, summary: summaryOf(d), source: this.c.source, ...(d ? { redacted: d.redacted } : {}) });
      cur.id = review.id;
      // Let go of meanwhile: the wait sees the aborted signal and withdraws the review with its reason.
      if (cur.reason === null) notify(`airlock: statement held for review ${review.id} by ${this.approvers(review)}; waiting up to ${humanDuration(this.c.rule.timeout)}`);
      return this.decided(await this.c.service.wait(review.id, cur.abort.signal), statement, parameters, cur);
    } catch (err) {
      // Too many of this principal's statements wait already: not held, nobody asked, and the client is told why.
      if (isAirlockError(err) && err.code === 'AIRLOCK_STATEMENT_HELD') return refuse(null, 'capped', 'AIRLOCK_STATEMENT_HELD', `airlock: ${err.message}`);
      this.c.log.error({ err: err instanceof Error ? err.message : String(err), review_id: cur.id }, `${this.c.protocol} gateway: statement review failed; the statement was refused`);
      return refuse(cur.id, 'failed', 'AIRLOCK_INTERNAL', 'airlock: the statement could not be held for review, so it was not run; try again shortly');
    } finally {
      this.current = null;
    }
  }

  /** The client's CancelRequest: the held statement is withdrawn from review (false when none is held). */
  cancel(): boolean {
    const cur = this.current;
    if (!cur || cur.reason !== null) return cur !== null;
    cur.cancelled = true;
    this.letGo(cur, 'the client cancelled the statement');
    return true;
  }

  /** The session is ending: a held statement's review is withdrawn. */
  end(reason: string): void {
    const cur = this.current;
    if (cur && cur.reason === null) this.letGo(cur, `the session ended: ${reason}`);
  }

  /** The held statement ran (approved): the review records it. */
  executed(review_id: string, rows: number, error: string | null): void {
    this.c.service.executed(review_id, { session_id: this.c.session_id, rows, error }).catch((err: unknown) =>
      this.c.log.warn({ err: err instanceof Error ? err.message : String(err), review_id }, `${this.c.protocol} gateway: could not record that a reviewed statement ran`),
    );
  }

  /** The wait withdraws the review with the signal's reason (or, before the review exists, it is never made). */
  private letGo(cur: Current, reason: string): void {
    cur.reason = reason;
    cur.abort.abort(reason);
  }

  private approvers(r: StatementReview): string {
    const names = [...new Set([...r.approver_groups, ...(r.approver_principals ?? this.c.rule.approver_principals)])];
    const who = orList(names.length ? names : this.c.fallbackApprovers);
    return r.approvals_needed > 1 ? `${r.approvals_needed} approvers from ${who}` : who;
  }

  private binding(statement: string, parameters: (string | null)[] | null): string {
    return statementBinding({ statement, parameters, grant_id: this.c.grant_id, policy_hash: this.c.policyHash(), database: this.database() });
  }

  private approved(r: StatementReview, binding: string): HoldOutcome {
    // The approval binds text, parameters, grant and policy: what goes upstream must be what was approved.
    if (r.binding !== binding) {
      return refuse(r.id, 'mismatch', 'AIRLOCK_REVIEW_MISMATCH', `airlock: statement review ${r.id} approved another statement, grant or policy version than the one this session would run (the policy may have changed while it waited); it was not run — send the statement again`);
    }
    return { run: true, review_id: r.id };
  }

  private decided(o: ReviewOutcome, statement: string, parameters: (string | null)[] | null, cur: Current): HoldOutcome {
    const r = o.review;
    switch (o.status) {
      case 'approved':
        // Bound again now: the policy may have changed while the statement waited.
        return this.approved(r, this.binding(statement, parameters));
      case 'denied':
        return refuse(r.id, 'denied', 'AIRLOCK_REVIEW_DENIED', `airlock: statement denied on review by ${r.decided_by ?? 'a reviewer'}: ${r.comment ?? '(no comment)'}`);
      case 'timed_out':
        return refuse(r.id, 'timed_out', 'AIRLOCK_REVIEW_TIMED_OUT', `airlock: statement review ${r.id} timed out: nobody decided within ${humanDuration(this.c.rule.timeout)}, so the statement was not run`);
      case 'withdrawn':
        return this.withdrawn(r.id, cur, r.end_reason);
      default:
        return refuse(r.id, 'used', 'AIRLOCK_REVIEW_USED', `airlock: the approval of statement review ${r.id} was already used; the statement was not run`);
    }
  }

  private withdrawn(id: string | null, cur: Current, endReason?: string | null): HoldOutcome {
    const why = cur.cancelled ? 'cancelled' : (cur.reason ?? endReason ?? 'withdrawn');
    return refuse(id, 'withdrawn', 'AIRLOCK_REVIEW_WITHDRAWN', `airlock: statement withdrawn from review (${why})`);
  }
}

function refuse(review_id: string | null, why: NotRun, airlock: ErrorCode, message: string): HoldOutcome {
  return { run: false, review_id, why, rule: `review_${why}`, message, airlock };
}

/** ["dba"] → "dba"; ["dba", "sre", "bob"] → "dba, sre or bob". */
function orList(names: string[]): string {
  if (names.length === 0) return 'an approver';
  if (names.length === 1) return names[0]!;
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}
