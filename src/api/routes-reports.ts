// API routes for access reports (auditors and admins): one row per grant in a period as JSON or streamed RFC 4180
// CSV, with totals; and the standing-access check.
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Access } from '../access/access.js';
import { makeAccessReport, type AccessReportRow } from '../access/access-report.js';
import { makeTotals, standingAccess } from '../access/access-report-totals.js';
import { checkZone, csvRecord, hours, zonedTime } from '../domain/report-format.js';
import { forbidden, type RouteDef } from './routing.js';
import { canSeeAll } from './routes-access.js';

const time = z.string().describe('ISO-8601 UTC time');
const isoTime = (what: string) => z.string().max(40).refine((v) => !Number.isNaN(Date.parse(v)), 'an ISO-8601 time, e.g. 2026-01-01T00:00:00Z').describe(what);

const period = {
  since: isoTime('start of the period (inclusive), ISO-8601'),
  until: isoTime('end of the period (exclusive), ISO-8601; default now').optional(),
  resource: z.string().max(200).optional().describe('only grants on this resource'),
  principal: z.string().max(200).optional().describe('only grants of this principal'),
};

const total = z.object({ name: z.string(), grants: z.number().int(), break_glass: z.number().int(), hours: z.number().describe('hours of access inside the period') });

const row = z.object({
  grant_id: z.string(), request_id: z.string(), principal: z.string(),
  principal_kind: z.enum(['user', 'agent']).nullable(), sponsor: z.string().nullable().describe("an agent's sponsor (the policy's)"),
  resource: z.string(), role: z.string(),
  requested_seconds: z.number().nullable(), started_at: time, expires_at: time, ended_at: time.nullable(),
  actual_seconds: z.number().describe('start to end, or to now while active'), seconds_in_period: z.number().describe('the part inside [since, until)'),
  end: z.object({ kind: z.enum(['active', 'expired', 'revoked', 'locked', 'denied_on_review']), by: z.string().nullable(), reason: z.string().nullable() }),
  reason: z.string().nullable(), ticket: z.string().nullable(),
  approval: z.object({
    kind: z.enum(['reviewed', 'auto', 'break_glass']),
    approvers: z.array(z.object({ reviewer: z.string(), at: time, comment: z.string().nullable() })),
    rule: z.string().nullable().describe('the auto-approval rule'),
    post_hoc: z.object({ reviewer: z.string(), decision: z.string(), at: time, comment: z.string().nullable() }).nullable().describe("break-glass: the after-the-fact review (null while owed)"),
  }),
  sessions: z.number().int(), statements: z.number().int(), refused_statements: z.number().int(), statement_reviews: z.number().int(),
  sessions_token_revoked: z.number().int().describe('sessions ended because their access token was revoked'),
  audit_seqs: z.object({
    request_create: z.number().int().nullable(), request_decision: z.number().int().nullable(), approvals: z.array(z.number().int()),
    post_hoc_review: z.number().int().nullable(), grant_activate: z.number().int().nullable(), grant_end: z.number().int().nullable(),
    sessions: z.array(z.number().int()).describe('session.start seq of each session'),
  }).describe('the audit events each figure was read from'),
}).describe('One grant active in the period');

// format=csv answers text/csv instead: RFC 4180, CRLF line ends, a header row naming the zone of its times.
const reportAnswer = z.object({
  since: time, until: time, tz: z.string().describe('the zone asked for (JSON times stay UTC)'), generated_at: time,
  rows: z.array(row), totals: z.object({ by_resource: z.array(total), by_principal: z.array(total) }),
}).describe('format=json; format=csv answers text/csv (RFC 4180, CRLF, a header row naming the zone)');

const standingAnswer = z.object({
  since: time, until: time, hours: z.number(), gap_minutes: z.number(),
  findings: z.array(z.object({
    principal: z.string(), resource: z.string(), grants: z.number().int(), hours_in_period: z.number(), over_hours: z.boolean(),
    chains: z.array(z.object({ grant_ids: z.array(z.string()), starts_at: time, ends_at: time, hours: z.number() })).describe('grants renewed back to back'),
  })),
});

/** The CSV's columns: times in `zone`, named in the header. */
export function csvHeader(zone: string): string {
  return csvRecord([
    'grant_id', 'request_id', 'principal', 'principal_kind', 'sponsor', 'resource', 'role', 'requested_hours', `started (${zone})`, `expires (${zone})`, `ended (${zone})`,
    'actual_hours', 'hours_in_period', 'end', 'ended_by', 'end_reason', 'reason', 'ticket', 'approval', 'approvers', 'auto_rule', 'post_hoc_reviewer', 'post_hoc_decision', `post_hoc_at (${zone})`,
    'sessions', 'statements', 'refused_statements', 'statement_reviews', 'sessions_token_revoked',
    'seq_request_create', 'seq_request_decision', 'seq_approvals', 'seq_post_hoc_review', 'seq_grant_activate', 'seq_grant_end', 'seq_sessions',
  ]);
}

export function csvRow(r: AccessReportRow, zone: string): string {
  const s = r.audit_seqs;
  const ph = r.approval.post_hoc;
  return csvRecord([
    r.grant_id, r.request_id, r.principal, r.principal_kind, r.sponsor, r.resource, r.role, r.requested_seconds === null ? null : hours(r.requested_seconds),
    zonedTime(r.started_at, zone), zonedTime(r.expires_at, zone), zonedTime(r.ended_at, zone), hours(r.actual_seconds), hours(r.seconds_in_period),
    r.end.kind, r.end.by, r.end.reason, r.reason, r.ticket, r.approval.kind, r.approval.approvers.map((a) => a.reviewer).join(' '), r.approval.rule,
    ph?.reviewer, ph?.decision, zonedTime(ph?.at ?? null, zone),
    r.sessions, r.statements, r.refused_statements, r.statement_reviews, r.sessions_token_revoked,
    s.request_create, s.request_decision, s.approvals.join(' '), s.post_hoc_review, s.grant_activate, s.grant_end, s.sessions.join(' '),
  ]);
}

/** Waits for room in the response; false when the client went away instead, for then 'drain' never comes. */
export function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed || res.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (room: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(room);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

export function reportRoutes(access: Access): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const report = makeAccessReport({ store: access.store, clock: access.clock, audit: access.audit, policy: access.policy });
  const requireAuditor = (c: Parameters<RouteDef['handler']>[0]['caller']) => {
    if (!canSeeAll(access, c)) throw forbidden('Only admins and auditors can read access reports.');
  };
  const periodOf = (q: { since: string; until?: string; resource?: string; principal?: string }) => ({
    since: new Date(q.since).toISOString(), until: q.until ? new Date(q.until).toISOString() : access.clock.now().toISOString(), resource: q.resource, principal: q.principal,
  });
  return [
    {
      method: 'GET', url: '/api/v1/reports/access', tag: 'audit', summary: 'Access report: one row per grant active in [since, until), with totals per resource and principal; format=csv streams RFC 4180 CSV',
      query: z.strictObject({ ...period, format: z.enum(['json', 'csv']).default('json').describe('json (with totals) or csv (rows, streamed)'), tz: z.string().max(64).default('UTC').describe('IANA zone for the CSV times, named in its header') }),
      response: reportAnswer,
      async handler({ caller, query, reply }) {
        requireAuditor(caller);
        const zone = checkZone(query.tz);
        const q = periodOf(query);
        report.check(q);
        if (query.format === 'csv') {
          reply.hijack();
          reply.raw.writeHead(200, { 'content-type': 'text/csv; charset=utf-8; header=present', 'content-disposition': `attachment; filename="airlock-access-${q.since.slice(0, 10)}-${q.until.slice(0, 10)}.csv"`, 'cache-control': 'no-store' });
          reply.raw.write(csvHeader(zone));
          try {
            // Leaving the loop on a closed client returns the generator, which closes its reader of the store.
            for await (const r of report.rows(q)) if (!reply.raw.write(csvRow(r, zone)) && !(await drained(reply.raw))) return undefined;
          } catch (e) {
            // The status is sent already: cut the response, so the client sees an unfinished download, not a short report.
            reply.raw.destroy(e as Error);
            return undefined;
          }
          reply.raw.end();
          return undefined;
        }
        const rows: AccessReportRow[] = [];
        const totals = makeTotals();
        for await (const r of report.rows(q)) {
          rows.push(r);
          totals.add(r);
        }
        return { since: q.since, until: q.until, tz: zone, generated_at: access.clock.now().toISOString(), rows, totals: totals.result() };
      },
    },
    {
      method: 'GET', url: '/api/v1/reports/standing', tag: 'audit', summary: 'Standing access: principals who held a resource more than `hours` in the period, or renewed it back to back',
      query: z.strictObject({
        ...period,
        hours: z.coerce.number().min(0).max(100000).describe('flag more than this many hours of access to one resource in the period'),
        gap_minutes: z.coerce.number().min(0).max(100000).default(5).describe('a grant starting within this many minutes of the previous one ending renews it back to back'),
      }),
      response: standingAnswer,
      async handler({ caller, query }) {
        requireAuditor(caller);
        const q = periodOf(query);
        const findings = await standingAccess(report, { ...q, hours: query.hours, gap_minutes: query.gap_minutes });
        return { since: q.since, until: q.until, hours: query.hours, gap_minutes: query.gap_minutes, findings };
      },
    },
  ];
}
