// How the CLI prints: only JSON with --json; otherwise plain tables and times with their zone.
import { ApiError } from './client.js';
import { AirlockError } from '../domain/errors.js';

export const EXIT = { ok: 0, error: 1, usage: 2, refused: 3 } as const;

/** A stable exit code per error: 3 when policy refused, 2 for input the user can fix, 1 otherwise. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof ApiError) {
    const c = e.problem.code;
    if (['AIRLOCK_BAD_INPUT', 'AIRLOCK_BAD_DURATION', 'AIRLOCK_BODY_TOO_LARGE'].includes(c)) return EXIT.usage;
    if (e.problem.status === 403 || ['AIRLOCK_JUSTIFICATION', 'AIRLOCK_LOCKED', 'AIRLOCK_SELF_APPROVAL', 'AIRLOCK_NOT_APPROVER'].includes(c)) return EXIT.refused;
    return EXIT.error;
  }
  if (e instanceof UsageError) return EXIT.usage;
  if (e instanceof AirlockError) return e.kind === 'refused' ? EXIT.refused : e.kind === 'usage' ? EXIT.usage : EXIT.error;
  return EXIT.error;
}

export class UsageError extends Error {}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

// One formatter for every time printed: building one costs more than formatting with it (tables print many times).
let formatter: Intl.DateTimeFormat | undefined;
const dateTimeFormat = () => (formatter ??= new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }));

/** "2026-03-02 10:31:00 UTC" in the viewer's zone, with a relative hint: "(in 29m)" / "(3m ago)". */
export function when(isoText: string | null | undefined, now = Date.now()): string {
  if (!isoText) return '-';
  const d = new Date(isoText);
  const parts = dateTimeFormat().formatToParts(d);
  const g = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const abs = `${g('year')}-${g('month')}-${g('day')} ${g('hour')}:${g('minute')}:${g('second')} ${g('timeZoneName')}`;
  return `${abs} (${relative(d.getTime() - now)})`;
}

export function relative(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}` : s < 86400 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ''}` : `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? `${Math.floor((s % 86400) / 3600)}h` : ''}`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '-')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')}\n`;
}

export function printError(e: unknown, json: boolean): void {
  if (json) {
    if (e instanceof ApiError) printJson({ error: e.problem });
    else printJson({ error: { code: e instanceof AirlockError ? e.code : e instanceof UsageError ? 'AIRLOCK_USAGE' : 'AIRLOCK_CLI_ERROR', detail: e instanceof Error ? e.message : String(e) } });
    return;
  }
  if (e instanceof ApiError) process.stderr.write(`airlock: ${e.problem.detail}${e.problem.code.startsWith('AIRLOCK_') ? ` [${e.problem.code}]` : ''}\n`);
  else if (e instanceof AirlockError) process.stderr.write(`airlock: ${e.message} [${e.code}]\n`);
  else process.stderr.write(`airlock: ${e instanceof Error ? e.message : String(e)}\n`);
}
