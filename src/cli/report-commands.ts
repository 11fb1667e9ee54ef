// `airlock report access|standing`: the auditor's access report (table, CSV or JSON) and the standing-access check.
import { Option, type Command } from 'commander';
import { run } from './command.js';
import { qs } from './client.js';
import { table, UsageError } from './output.js';
import { parseDuration } from '../domain/duration.js';
import { checkZone, hours, zonedTime } from '../domain/report-format.js';

/** The wire shapes this command reads (GET /api/v1/reports/access and /standing). */
interface AccessReportRow {
  grant_id: string;
  principal: string;
  sponsor: string | null;
  resource: string;
  role: string;
  requested_seconds: number | null;
  started_at: string;
  ended_at: string | null;
  seconds_in_period: number;
  end: { kind: string; by: string | null; reason: string | null };
  reason: string | null;
  ticket: string | null;
  approval: { kind: string; approvers: { reviewer: string }[]; rule: string | null; post_hoc: { reviewer: string; decision: string; at: string } | null };
  sessions: number;
  statements: number;
  refused_statements: number;
}
type Total = { name: string; grants: number; break_glass: number; hours: number };
interface Totals {
  by_resource: Total[];
  by_principal: Total[];
}
interface StandingFinding {
  principal: string;
  resource: string;
  grants: number;
  hours_in_period: number;
  over_hours: boolean;
  chains: { grant_ids: string[]; starts_at: string; ends_at: string; hours: number }[];
}

/** An ISO date or time, or a span back from now such as 90d or 12h. */
export function timeArg(text: string, name: string, now = Date.now()): string {
  const ago = /^\d/.test(text) && !/[-:T]/.test(text) ? parseDuration(text) : undefined;
  if (ago !== undefined) return new Date(now - ago * 1000).toISOString();
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--${name} takes an ISO date or time (2026-01-01, 2026-01-01T09:00:00Z) or a span back from now (90d, 12h); "${text}" is neither.`);
  return new Date(t).toISOString();
}

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function endText(r: AccessReportRow): string {
  if (r.end.kind === 'active' || r.end.kind === 'expired') return r.end.kind;
  return `${r.end.kind.replace(/_/g, ' ')} by ${r.end.by ?? '?'}${r.end.reason ? `: ${r.end.reason}` : ''}`;
}

function approvalText(r: AccessReportRow, zone: string): string {
  const a = r.approval;
  if (a.kind === 'auto') return `auto (${a.rule ?? 'rule'})`;
  if (a.kind === 'break_glass') return a.post_hoc ? `break-glass; ${a.post_hoc.decision === 'approve' ? 'approved' : 'denied'} after by ${a.post_hoc.reviewer} ${zonedTime(a.post_hoc.at, zone)}` : 'break-glass; review owed';
  return a.approvers.map((x) => x.reviewer).join(', ') || '-';
}

function accessTable(rows: AccessReportRow[], totals: Totals, zone: string): string {
  const lines = rows.map((r) => ({
    grant: r.grant_id, principal: r.sponsor ? `${r.principal} (agent of ${r.sponsor})` : r.principal, resource: r.resource, role: r.role,
    started: zonedTime(r.started_at, zone), ended: zonedTime(r.ended_at, zone) || '(active)', hours: `${hours(r.seconds_in_period)}/${hours(r.requested_seconds ?? 0)}`,
    end: endText(r), approval: approvalText(r, zone), reason: (r.ticket ? `${r.ticket} ` : '') + (r.reason ?? '').replace(/\s+/g, ' ').slice(0, 60),
    sessions: r.sessions, statements: r.statements, refused: r.refused_statements,
  }));
  const tot = (t: Totals['by_resource']) => table(t.map((x) => ({ ...x })), ['name', 'grants', 'break_glass', 'hours']);
  return [
    `Times in ${zone}. HOURS: inside the period / requested.`,
    table(lines, ['grant', 'principal', 'resource', 'role', 'started', 'ended', 'hours', 'end', 'approval', 'reason', 'sessions', 'statements', 'refused']),
    'Totals per resource:', tot(totals.by_resource), 'Totals per principal:', tot(totals.by_principal),
  ].join('\n');
}

export function registerReportCommands(program: Command): void {
  const report = program.command('report').description('access reports for auditors');
  report
    .command('access')
    .description('one row per grant active in a period: who, what, how long, why, who approved, sessions and statements')
    .requiredOption('--since <time>', 'start: ISO date/time or a span back from now (90d)')
    .option('--until <time>', 'end (exclusive): ISO date/time or a span back from now; default now')
    .option('--resource <name>', 'only this resource')
    .option('--principal <name>', 'only this principal')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
    .option('--tz <zone>', 'IANA time zone for the times (default: this machine\'s)')
    .option('--json', 'print only JSON (same as --format json)')
    .action(
      run(async (ctx, o: { since: string; until?: string; resource?: string; principal?: string; format: string; tz?: string }) => {
        const now = Date.now();
        const zone = checkZone(o.tz ?? localZone());
        const params = { since: timeArg(o.since, 'since', now), until: o.until ? timeArg(o.until, 'until', now) : new Date(now).toISOString(), resource: o.resource, principal: o.principal, tz: zone };
        if (o.format === 'csv' && !ctx.json) {
          const res = await ctx.client().stream(`/api/v1/reports/access${qs({ ...params, format: 'csv' })}`);
          const reader = res.body!.getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            if (!process.stdout.write(value)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
          }
          return;
        }
        const r = await ctx.client().get<{ rows: AccessReportRow[]; totals: Totals }>(`/api/v1/reports/access${qs({ ...params, format: 'json' })}`);
        if (o.format === 'json' || ctx.json) return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        ctx.out(accessTable(r.rows, r.totals, zone), r);
      }),
    );
  report
    .command('standing')
    .description('standing access: principals who held a resource more than N hours in a period, or renewed it back to back')
    .requiredOption('--hours <n>', 'flag more than this many hours on one resource in the period')
    .option('--since <time>', 'start: ISO date/time or a span back from now', '90d')
    .option('--until <time>', 'end (exclusive); default now')
    .option('--gap <duration>', 'a grant starting within this of the previous one\'s end renews it back to back', '5m')
    .option('--resource <name>', 'only this resource')
    .option('--principal <name>', 'only this principal')
    .option('--tz <zone>', 'IANA time zone for the times (default: this machine\'s)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { hours: string; since: string; until?: string; gap: string; resource?: string; principal?: string; tz?: string }) => {
        const now = Date.now();
        const zone = checkZone(o.tz ?? localZone());
        const h = Number(o.hours);
        if (!Number.isFinite(h) || h < 0) throw new UsageError(`--hours takes a number of hours, e.g. 40; "${o.hours}" is not one.`);
        const gap = parseDuration(o.gap);
        if (gap === undefined) throw new UsageError(`--gap takes a duration such as 5m or 1h; "${o.gap}" is not one.`);
        const r = await ctx.client().get<{ findings: StandingFinding[] }>(`/api/v1/reports/standing${qs({ since: timeArg(o.since, 'since', now), until: o.until ? timeArg(o.until, 'until', now) : undefined, hours: h, gap_minutes: gap / 60, resource: o.resource, principal: o.principal })}`);
        const lines = r.findings.map((f) => ({
          principal: f.principal, resource: f.resource, grants: f.grants, hours: f.hours_in_period, over: f.over_hours ? `yes (> ${h}h)` : 'no',
          renewals: f.chains.map((c) => `${c.grant_ids.join(' → ')} (${zonedTime(c.starts_at, zone)} to ${zonedTime(c.ends_at, zone)}, ${c.hours}h)`).join('; ') || '-',
        }));
        ctx.out(r.findings.length === 0 ? `No standing access: nobody held a resource more than ${h}h or renewed it back to back.` : `Times in ${zone}.\n${table(lines, ['principal', 'resource', 'grants', 'hours', 'over', 'renewals'])}`, r);
      }),
    );
}
