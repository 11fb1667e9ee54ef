// Access reports for auditors: one row per grant active in a period, built from the store (grants, requests, reviews,
// sessions, statement reviews) and pointing at the audit events each figure comes from. Read in pages, so a quarter
// streams in bounded memory; totals and the standing-access check are in access-report-totals.ts.
import type { Selectable } from 'kysely';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Grant } from '../domain/model.js';
import type { Store } from '../store/store.js';
import type { GrantsTable, RequestsTable, ReviewsTable, SessionsTable } from '../store/schema.js';
import { toGrant } from '../store/records.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Policy } from '../policy/compile.js';
import { principalDef } from '../policy/statement-review-rule.js';

export interface ReportQuery {
  /** ISO times; the period is [since, until). */
  since: string;
  until: string;
  resource?: string | undefined;
  principal?: string | undefined;
}

/** How a grant ended: by expiry, a person's revocation, a lock, a denied break-glass review; or not yet. */
export type EndKind = 'active' | 'expired' | 'revoked' | 'locked' | 'denied_on_review';

export interface ApproverEntry {
  reviewer: string;
  at: string;
  comment: string | null;
}

export interface AccessReportRow {
  grant_id: string;
  request_id: string;
  principal: string;
  principal_kind: 'user' | 'agent' | null;
  /** An agent's sponsor from the policy: the person answerable for it. */
  sponsor: string | null;
  resource: string;
  role: string;
  requested_seconds: number | null;
  started_at: string;
  expires_at: string;
  ended_at: string | null;
  /** From start to end (to now while active). */
  actual_seconds: number;
  /** The part of the grant inside [since, until) (and before now). */
  seconds_in_period: number;
  end: { kind: EndKind; by: string | null; reason: string | null };
  reason: string | null;
  ticket: string | null;
  approval: {
    kind: 'reviewed' | 'auto' | 'break_glass';
    approvers: ApproverEntry[];
    /** The auto-approval rule, e.g. rule:roles.read.approval.auto_approve[0]. */
    rule: string | null;
    /** Break-glass: the review it owes after the fact (null while it is owed). */
    post_hoc: { reviewer: string; decision: string; at: string; comment: string | null } | null;
  };
  sessions: number;
  statements: number;
  refused_statements: number;
  statement_reviews: number;
  /** Sessions under this grant that ended because the access token they logged in with was revoked. */
  sessions_token_revoked: number;
  audit_seqs: AuditSeqs;
}

/** The audit events a row was built from; null where the event was not found (a store older than its log). */
export interface AuditSeqs {
  request_create: number | null;
  /** request.auto_approve or request.break_glass, or request.approve after reviews. */
  request_decision: number | null;
  approvals: number[];
  post_hoc_review: number | null;
  grant_activate: number | null;
  grant_end: number | null;
  /** session.start of each session under the grant (its statements follow it in the log). */
  sessions: number[];
}

const LIFECYCLE = ['request.create', 'request.auto_approve', 'request.break_glass', 'request.approve', 'review.approve', 'review.deny', 'grant.activate', 'grant.expire', 'grant.revoke'];
/** An event is written in its change's transaction, a few ms from the record's own time; 5 s covers a slow one. */
const SLACK_MS = 5000;
const PAGE = 200;

const secondsBetween = (a: string, b: string): number => Math.max(0, (Date.parse(b) - Date.parse(a)) / 1000);

/** The grant's effective end: ended_at, or its expiry, or now while it runs. */
export function effectiveEnd(g: Pick<Grant, 'ended_at' | 'expires_at'>, now: string): string {
  if (g.ended_at) return g.ended_at;
  return g.expires_at < now ? g.expires_at : now;
}

/** Seconds of [start, end) inside [since, until). */
export function clippedSeconds(start: string, end: string, since: string, until: string): number {
  const a = start > since ? start : since;
  const b = end < until ? end : until;
  return secondsBetween(a, b);
}

function endOf(g: Grant): AccessReportRow['end'] {
  if (g.status === 'active') return { kind: 'active', by: null, reason: null };
  if (g.status === 'expired') return { kind: 'expired', by: g.ended_by, reason: null };
  const reason = g.end_reason ?? '';
  if (reason.startsWith('lock: ')) return { kind: 'locked', by: g.ended_by, reason: reason.slice(6) };
  if (reason.startsWith('break-glass denied on review: ')) return { kind: 'denied_on_review', by: g.ended_by, reason: reason.slice(30) || null };
  return { kind: 'revoked', by: g.ended_by, reason: reason || null };
}

/** Merged [a, b] time windows around the given instants, so one query finds the events written at each. */
function windows(times: string[]): [string, string][] {
  const ms = [...new Set(times)].map(Date.parse).filter(Number.isFinite).sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const t of ms) {
    const last = out[out.length - 1];
    if (last && t - SLACK_MS <= last[1]) last[1] = t + SLACK_MS;
    else out.push([t - SLACK_MS, t + SLACK_MS]);
  }
  return out.map(([a, b]) => [new Date(a).toISOString(), new Date(b).toISOString()]);
}

interface Found {
  seq: number;
  action: string;
  details: Record<string, unknown>;
}

interface PageParts {
  reqById: Map<string, Selectable<RequestsTable>>;
  byRequest: Map<string, Found[]>;
  byGrant: Map<string, Found[]>;
  reviews: Selectable<ReviewsTable>[];
  sessions: Pick<Selectable<SessionsTable>, 'id' | 'grant_id' | 'start_seq' | 'end_reason' | 'statements'>[];
  stmtReviews: { grant_id: string }[];
  refused: Map<string, number>;
  policy: Pick<Policy, 'principal' | 'doc'>;
  q: ReportQuery;
  now: string;
}

/** One grant's row from what its page read. */
function reportRow(g: Grant, p: PageParts): AccessReportRow {
  const { reqById, byRequest, byGrant, reviews, sessions, stmtReviews, refused, policy, q, now } = p;
  const r = reqById.get(g.request_id);
  const rEvents = byRequest.get(g.request_id) ?? [];
  const gEvents = byGrant.get(g.id) ?? [];
  const revs = reviews.filter((x) => x.request_id === g.request_id);
  const approvals = revs.filter((x) => x.decision === 'approve' && !x.post_hoc);
  const postHoc = revs.find((x) => Boolean(x.post_hoc));
  const ses = sessions.filter((s) => s.grant_id === g.id);
  const seqOf = (action: string, pred: (e: Found) => boolean = () => true) => rEvents.find((e) => e.action === action && pred(e))?.seq ?? null;
  const kind = g.break_glass ? 'break_glass' : r?.auto_approved_by || r?.decided_by?.startsWith('rule:') ? 'auto' : 'reviewed';
  const end = effectiveEnd(g, now);
  const def = principalDef(policy.doc, g.principal);
  return {
    grant_id: g.id,
    request_id: g.request_id,
    principal: g.principal,
    principal_kind: policy.principal(g.principal)?.kind ?? def?.kind ?? null,
    sponsor: def?.sponsor ?? null,
    resource: g.resource,
    role: g.role,
    requested_seconds: r ? Number(r.duration_seconds) : null,
    started_at: g.starts_at,
    expires_at: g.expires_at,
    ended_at: g.ended_at,
    actual_seconds: secondsBetween(g.starts_at, end),
    seconds_in_period: clippedSeconds(g.starts_at, end, q.since, q.until < now ? q.until : now),
    end: endOf(g),
    reason: r?.reason ?? null,
    ticket: r?.ticket ?? null,
    approval: {
      kind,
      approvers: approvals.map((a) => ({ reviewer: a.reviewer, at: a.created_at, comment: a.comment })),
      rule: kind === 'auto' ? (r?.decided_by ?? r?.auto_approved_by ?? null) : null,
      post_hoc: postHoc ? { reviewer: postHoc.reviewer, decision: postHoc.decision, at: postHoc.created_at, comment: postHoc.comment } : null,
    },
    sessions: ses.length,
    statements: ses.reduce((n, s) => n + Number(s.statements), 0),
    refused_statements: ses.reduce((n, s) => n + (refused.get(s.id) ?? 0), 0),
    statement_reviews: stmtReviews.filter((x) => x.grant_id === g.id).length,
    sessions_token_revoked: ses.filter((s) => /token .*revoked|revoked .*token/i.test(s.end_reason ?? '')).length,
    audit_seqs: {
      request_create: seqOf('request.create'),
      request_decision: seqOf(kind === 'break_glass' ? 'request.break_glass' : kind === 'auto' ? 'request.auto_approve' : 'request.approve'),
      approvals: rEvents.filter((e) => e.action === 'review.approve' && e.details.post_hoc !== true).map((e) => e.seq),
      post_hoc_review: rEvents.find((e) => e.action.startsWith('review.') && e.details.post_hoc === true)?.seq ?? null,
      grant_activate: gEvents.find((e) => e.action === 'grant.activate')?.seq ?? null,
      grant_end: gEvents.find((e) => e.action === 'grant.expire' || e.action === 'grant.revoke')?.seq ?? null,
      sessions: ses.map((s) => Number(s.start_seq)),
    },
  };
}

export function makeAccessReport(deps: { store: Store; clock: Clock; audit: Pick<AuditLog, 'flush'>; policy: () => Pick<Policy, 'principal' | 'doc'> }) {
  const { store } = deps;
  const db = store.db;

  function check(q: ReportQuery): void {
    for (const t of [q.since, q.until]) if (Number.isNaN(Date.parse(t))) throw new AirlockError('AIRLOCK_BAD_INPUT', `"${t}" is not a time; use ISO-8601, e.g. 2026-01-01T00:00:00Z.`);
    if (q.since >= q.until) throw new AirlockError('AIRLOCK_BAD_INPUT', `The period must end after it starts (since ${q.since}, until ${q.until}).`);
  }

  /** One page of grants active in the period, after (starts_at, id) of the previous page. */
  async function grantPage(q: ReportQuery, after: { starts_at: string; id: string } | null, limit: number): Promise<Selectable<GrantsTable>[]> {
    let sel = db
      .selectFrom('grants')
      .selectAll()
      .where('starts_at', '<', q.until)
      .where((eb) => eb(eb.fn.coalesce('ended_at', 'expires_at'), '>', q.since));
    if (q.resource) sel = sel.where('resource', '=', q.resource);
    if (q.principal) sel = sel.where('principal', '=', q.principal);
    if (after) sel = sel.where((eb) => eb.or([eb('starts_at', '>', after.starts_at), eb.and([eb('starts_at', '=', after.starts_at), eb('id', '>', after.id)])]));
    return sel.orderBy('starts_at').orderBy('id').limit(limit).execute();
  }

  /** The lifecycle events of a page's requests and grants, found around the times the records carry. */
  async function lifecycleEvents(anchors: string[]): Promise<Found[]> {
    const out: Found[] = [];
    const w = windows(anchors);
    for (let i = 0; i < w.length; i += 40) {
      const chunk = w.slice(i, i + 40);
      const rows = await db
        .selectFrom('audit_events')
        .select(['seq', 'action', 'details'])
        .where('action', 'in', LIFECYCLE)
        .where((eb) => eb.or(chunk.map(([a, b]) => eb.and([eb('time', '>=', a), eb('time', '<=', b)]))))
        .execute();
      for (const r of rows) out.push({ seq: Number(r.seq), action: r.action, details: JSON.parse(r.details) as Record<string, unknown> });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Refused statements per session, read from the statement events within the sessions' own spans. */
  async function refusedBySession(spans: { id: string; from: string; to: string }[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (spans.length === 0) return counts;
    const ids = new Set(spans.map((s) => s.id));
    const merged: [string, string][] = [];
    for (const s of [...spans].sort((a, b) => (a.from < b.from ? -1 : 1))) {
      const last = merged[merged.length - 1];
      if (last && s.from <= last[1]) last[1] = s.to > last[1] ? s.to : last[1];
      else merged.push([s.from, s.to]);
    }
    for (let i = 0; i < merged.length; i += 40) {
      const chunk = merged.slice(i, i + 40);
      const rows = await db
        .selectFrom('audit_events')
        .select('details')
        .where('action', '=', 'statement')
        // Canonical details have no whitespace: the decision reads exactly so.
        .where('details', 'like', '%"decision":"refused"%')
        .where((eb) => eb.or(chunk.map(([a, b]) => eb.and([eb('time', '>=', a), eb('time', '<=', b)]))))
        .execute();
      for (const r of rows) {
        const id = (JSON.parse(r.details) as { session_id?: unknown }).session_id;
        if (typeof id === 'string' && ids.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    return counts;
  }

  async function buildPage(q: ReportQuery, page: Selectable<GrantsTable>[], now: string): Promise<AccessReportRow[]> {
    const grants = page.map(toGrant);
    const grantIds = grants.map((g) => g.id);
    const requestIds = grants.map((g) => g.request_id);
    const [requests, reviews, sessions, stmtReviews] = await Promise.all([
      db.selectFrom('requests').selectAll().where('id', 'in', requestIds).execute(),
      db.selectFrom('reviews').selectAll().where('request_id', 'in', requestIds).orderBy('created_at').execute(),
      db.selectFrom('sessions').select(['id', 'grant_id', 'start_seq', 'started_at', 'ended_at', 'end_reason', 'statements']).where('grant_id', 'in', grantIds).orderBy('start_seq').execute(),
      db.selectFrom('statement_reviews').select(['grant_id']).where('grant_id', 'in', grantIds).execute(),
    ]);
    const reqById = new Map<string, Selectable<RequestsTable>>(requests.map((r) => [r.id, r]));
    const anchors: string[] = [];
    for (const g of grants) {
      anchors.push(g.starts_at);
      if (g.ended_at) anchors.push(g.ended_at);
      const r = reqById.get(g.request_id);
      if (r) anchors.push(r.created_at, ...(r.decided_at ? [r.decided_at] : []));
    }
    for (const rv of reviews) anchors.push(rv.created_at);
    const [events, refused] = await Promise.all([
      lifecycleEvents(anchors),
      refusedBySession(sessions.map((s) => ({ id: s.id, from: s.started_at, to: s.ended_at ?? now }))),
    ]);
    const byRequest = new Map<string, Found[]>();
    const byGrant = new Map<string, Found[]>();
    for (const e of events) {
      const key = e.action.startsWith('grant.') ? e.details.grant_id : e.details.request_id;
      if (typeof key !== 'string') continue;
      const m = e.action.startsWith('grant.') ? byGrant : byRequest;
      m.set(key, [...(m.get(key) ?? []), e]);
    }
    const parts: PageParts = { reqById, byRequest, byGrant, reviews, sessions, stmtReviews, refused, policy: deps.policy(), q, now };
    return grants.map((g) => reportRow(g, parts));
  }

  return {
    check,

    /** The rows of the period, oldest start first, read a page at a time. */
    async *rows(q: ReportQuery, pageSize = PAGE): AsyncGenerator<AccessReportRow> {
      check(q);
      // Statements still queued for the log are committed first, so the counts are those of this moment.
      await deps.audit.flush();
      const now = deps.clock.now().toISOString();
      let after: { starts_at: string; id: string } | null = null;
      for (;;) {
        const page = await grantPage(q, after, pageSize);
        if (page.length === 0) return;
        for (const row of await buildPage(q, page, now)) yield row;
        if (page.length < pageSize) return;
        const last = page[page.length - 1]!;
        after = { starts_at: last.starts_at, id: last.id };
      }
    },

    /** Just the spans of grants in the period (for the standing-access check): no joins, same paging. */
    async *spans(q: ReportQuery, pageSize = 1000): AsyncGenerator<{ grant_id: string; principal: string; resource: string; role: string; starts_at: string; end: string }> {
      check(q);
      const now = deps.clock.now().toISOString();
      let after: { starts_at: string; id: string } | null = null;
      for (;;) {
        const page = await grantPage(q, after, pageSize);
        for (const g of page) yield { grant_id: g.id, principal: g.principal, resource: g.resource, role: g.role, starts_at: g.starts_at, end: effectiveEnd(g, now) };
        if (page.length < pageSize) return;
        const last = page[page.length - 1]!;
        after = { starts_at: last.starts_at, id: last.id };
      }
    },

    now: () => deps.clock.now().toISOString(),
  };
}

export type AccessReport = ReturnType<typeof makeAccessReport>;
