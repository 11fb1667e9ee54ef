// Risk hints for reviewers: what about a request deserves a second look before approving it.
import { isWorkingHours, WORKING_HOURS } from './time.js';

export type RiskKind = 'production' | 'write' | 'break-glass' | 'off-hours';

export interface RiskHint {
  kind: RiskKind;
  label: string;
  why: string;
}

export interface RiskFacts {
  breakGlass: boolean;
  createdAt: Date;
  /** The resource's labels; undefined when the console could not learn them. */
  labels: Record<string, string> | undefined;
  /** Whether the role only reads; undefined when unknown. */
  readOnly: boolean | undefined;
}

const PRODUCTION = new Set(['prod', 'production']);

/** The hints, most serious first. `timeZone` is the viewer's unless given (for tests). */
export function riskHints(f: RiskFacts, timeZone?: string): RiskHint[] {
  const out: RiskHint[] = [];
  if (f.breakGlass) out.push({ kind: 'break-glass', label: 'Break-glass', why: 'Granted at once without approval; your review is the one it owes after the fact.' });
  const env = f.labels?.env;
  if (env !== undefined && PRODUCTION.has(env.toLowerCase())) out.push({ kind: 'production', label: 'Production', why: `The resource is labelled env=${env}.` });
  if (f.readOnly === false) out.push({ kind: 'write', label: 'Write access', why: 'The role is not read-only: it can change data.' });
  if (!isWorkingHours(f.createdAt, timeZone)) {
    const days = WORKING_HOURS.days.length === 5 ? 'Mon–Fri' : 'working days';
    out.push({ kind: 'off-hours', label: 'Outside working hours', why: `Asked outside ${days} ${String(WORKING_HOURS.from).padStart(2, '0')}:00–${WORKING_HOURS.to}:00 (your time).` });
  }
  return out;
}
