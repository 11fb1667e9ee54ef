// What an access report adds up: totals per resource and per principal, and the standing-access check (principals
// who held a resource for more than N hours in a period, or renewed it back to back: access drift).
import { hours } from '../domain/report-format.js';
import { clippedSeconds, type AccessReport, type AccessReportRow, type ReportQuery } from './access-report.js';

export interface Total {
  name: string;
  grants: number;
  break_glass: number;
  /** Hours of access inside the period (grants clipped to it), two decimals. */
  hours: number;
}

export interface Totals {
  by_resource: Total[];
  by_principal: Total[];
}

/** Adds rows up as they stream past, so a report need not hold them to total them. */
export function makeTotals() {
  const res = new Map<string, { grants: number; break_glass: number; seconds: number }>();
  const pri = new Map<string, { grants: number; break_glass: number; seconds: number }>();
  const bump = (m: typeof res, k: string, r: AccessReportRow) => {
    const t = m.get(k) ?? { grants: 0, break_glass: 0, seconds: 0 };
    t.grants++;
    if (r.approval.kind === 'break_glass') t.break_glass++;
    t.seconds += r.seconds_in_period;
    m.set(k, t);
  };
  const list = (m: typeof res): Total[] => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, t]) => ({ name, grants: t.grants, break_glass: t.break_glass, hours: hours(t.seconds) }));
  return {
    add(r: AccessReportRow): void {
      bump(res, r.resource, r);
      bump(pri, r.principal, r);
    },
    result: (): Totals => ({ by_resource: list(res), by_principal: list(pri) }),
  };
}

export interface StandingQuery extends ReportQuery {
  /** Flag a principal holding a resource longer than this many hours in the period. */
  hours: number;
  /** A grant starting within this many minutes of the previous one's end renews it back to back. */
  gap_minutes: number;
}

export interface StandingChain {
  grant_ids: string[];
  starts_at: string;
  ends_at: string;
  /** Hours of the chain inside the period. */
  hours: number;
}

export interface StandingFinding {
  principal: string;
  resource: string;
  grants: number;
  hours_in_period: number;
  over_hours: boolean;
  /** Runs of two or more grants, each starting within gap_minutes of the one before's end (or while it ran). */
  chains: StandingChain[];
}

/** Principals who held a resource for more than `hours` in the period, or renewed it back to back; worst first. */
export async function standingAccess(report: Pick<AccessReport, 'spans' | 'now'>, q: StandingQuery): Promise<StandingFinding[]> {
  const until = q.until < report.now() ? q.until : report.now();
  const pairs = new Map<string, { principal: string; resource: string; spans: { id: string; start: string; end: string }[] }>();
  for await (const s of report.spans(q)) {
    const key = JSON.stringify([s.principal, s.resource]);
    const p = pairs.get(key) ?? { principal: s.principal, resource: s.resource, spans: [] };
    p.spans.push({ id: s.grant_id, start: s.starts_at, end: s.end });
    pairs.set(key, p);
  }
  const gapMs = q.gap_minutes * 60_000;
  const out: StandingFinding[] = [];
  for (const p of pairs.values()) {
    const spans = p.spans.sort((a, b) => (a.start < b.start ? -1 : 1));
    // Overlapping grants (an extension starts while the old one runs) count once: the union of their spans.
    let union = 0;
    let coverEnd = '';
    for (const s of spans) {
      const from = s.start > coverEnd ? s.start : coverEnd;
      if (s.end > from) union += clippedSeconds(from, s.end, q.since, until);
      if (s.end > coverEnd) coverEnd = s.end;
    }
    const chains: StandingChain[] = [];
    let run = [spans[0]!];
    let runEnd = spans[0]!.end;
    const close = () => {
      if (run.length < 2) return;
      let secs = 0;
      let end = '';
      for (const s of run) {
        const from = s.start > end ? s.start : end;
        if (s.end > from) secs += clippedSeconds(from, s.end, q.since, until);
        if (s.end > end) end = s.end;
      }
      chains.push({ grant_ids: run.map((s) => s.id), starts_at: run[0]!.start, ends_at: runEnd, hours: hours(secs) });
    };
    for (const s of spans.slice(1)) {
      if (Date.parse(s.start) - Date.parse(runEnd) <= gapMs) {
        run.push(s);
        if (s.end > runEnd) runEnd = s.end;
      } else {
        close();
        run = [s];
        runEnd = s.end;
      }
    }
    close();
    const h = hours(union);
    const over = union > q.hours * 3600;
    if (over || chains.length > 0) out.push({ principal: p.principal, resource: p.resource, grants: spans.length, hours_in_period: h, over_hours: over, chains });
  }
  return out.sort((a, b) => b.hours_in_period - a.hours_in_period || (a.principal < b.principal ? -1 : 1));
}
