// Access reports as the console models them: the wire format of /api/v1/reports/* converted at this one place.

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
const optStr = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const optNum = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const optDate = (v: unknown): Date | null => (typeof v === 'string' && v ? new Date(v) : null);
const date = (v: unknown): Date => new Date(typeof v === 'string' ? v : NaN);

export interface ReportRow {
  grantId: string;
  principal: string;
  principalKind: string | null;
  sponsor: string | null;
  resource: string;
  role: string;
  requestedSeconds: number | null;
  startedAt: Date;
  endedAt: Date | null;
  actualSeconds: number;
  secondsInPeriod: number;
  end: { kind: string; by: string | null; reason: string | null };
  reason: string;
  ticket: string | null;
  approval: { kind: 'reviewed' | 'auto' | 'break_glass'; approvers: string[]; rule: string | null; postHoc: { reviewer: string; decision: string; at: Date } | null };
  sessions: number;
  statements: number;
  refusedStatements: number;
  statementReviews: number;
  /** Audit seqs by what they record, e.g. grant_activate → 1234. */
  seqs: { label: string; seqs: number[] }[];
}

export interface ReportTotal {
  name: string;
  grants: number;
  breakGlass: number;
  hours: number;
}

export interface AccessReport {
  rows: ReportRow[];
  byResource: ReportTotal[];
  byPrincipal: ReportTotal[];
}

export interface StandingFinding {
  principal: string;
  resource: string;
  grants: number;
  hours: number;
  overHours: boolean;
  chains: { grantIds: string[]; startsAt: Date; endsAt: Date; hours: number }[];
}

function makeRow(json: unknown): ReportRow {
  const j = obj(json);
  const a = obj(j.approval);
  const ph = a.post_hoc ? obj(a.post_hoc) : null;
  const e = obj(j.end);
  const s = obj(j.audit_seqs);
  const kind = a.kind === 'auto' || a.kind === 'break_glass' ? a.kind : 'reviewed';
  const seqs = Object.entries(s)
    .map(([label, v]) => ({ label, seqs: Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : [] }))
    .filter((x) => x.seqs.length > 0);
  return {
    grantId: str(j.grant_id), principal: str(j.principal), principalKind: optStr(j.principal_kind), sponsor: optStr(j.sponsor), resource: str(j.resource), role: str(j.role),
    requestedSeconds: optNum(j.requested_seconds), startedAt: date(j.started_at), endedAt: optDate(j.ended_at), actualSeconds: num(j.actual_seconds), secondsInPeriod: num(j.seconds_in_period),
    end: { kind: str(e.kind, 'active'), by: optStr(e.by), reason: optStr(e.reason) }, reason: str(j.reason), ticket: optStr(j.ticket),
    approval: { kind, approvers: arr(a.approvers).map((x) => str(obj(x).reviewer)), rule: optStr(a.rule), postHoc: ph ? { reviewer: str(ph.reviewer), decision: str(ph.decision), at: date(ph.at) } : null },
    sessions: num(j.sessions), statements: num(j.statements), refusedStatements: num(j.refused_statements), statementReviews: num(j.statement_reviews), seqs,
  };
}

const makeTotal = (json: unknown): ReportTotal => {
  const j = obj(json);
  return { name: str(j.name), grants: num(j.grants), breakGlass: num(j.break_glass), hours: num(j.hours) };
};

export function makeAccessReport(json: unknown): AccessReport {
  const j = obj(json);
  const t = obj(j.totals);
  return { rows: arr(j.rows).map(makeRow), byResource: arr(t.by_resource).map(makeTotal), byPrincipal: arr(t.by_principal).map(makeTotal) };
}

export function makeStanding(json: unknown): StandingFinding[] {
  return arr(obj(json).findings).map((f) => {
    const j = obj(f);
    return {
      principal: str(j.principal), resource: str(j.resource), grants: num(j.grants), hours: num(j.hours_in_period), overHours: j.over_hours === true,
      chains: arr(j.chains).map((c) => {
        const x = obj(c);
        return { grantIds: arr(x.grant_ids).map((g) => str(g)), startsAt: date(x.starts_at), endsAt: date(x.ends_at), hours: num(x.hours) };
      }),
    };
  });
}
