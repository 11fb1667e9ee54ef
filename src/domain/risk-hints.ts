// Risk hints for reviewers outside the console (chat, e-mail): the same rules as web/src/lib/risk.ts, read in UTC
// because a message has no single viewer's time zone.

export type RiskKind = 'production' | 'write' | 'break-glass' | 'off-hours';

export interface RiskHint {
  kind: RiskKind;
  label: string;
  why: string;
}

export interface RiskFacts {
  breakGlass: boolean;
  createdAt: Date;
  /** The resource's labels; undefined when unknown (e.g. the resource left the policy). */
  labels: Record<string, string> | undefined;
  /** Whether the role only reads; undefined when unknown. */
  readOnly: boolean | undefined;
}

const PRODUCTION = new Set(['prod', 'production']);
/** As the console's WORKING_HOURS: Monday to Friday, 08:00 to 18:00. */
const WORKING_HOURS = { days: [1, 2, 3, 4, 5], from: 8, to: 18 } as const;

/** The hints, most serious first. */
export function riskHints(f: RiskFacts): RiskHint[] {
  const out: RiskHint[] = [];
  if (f.breakGlass) out.push({ kind: 'break-glass', label: 'Break-glass', why: 'Granted at once without approval; a review after the fact is owed.' });
  const env = f.labels?.env;
  if (env !== undefined && PRODUCTION.has(env.toLowerCase())) out.push({ kind: 'production', label: 'Production', why: `The resource is labelled env=${env}.` });
  if (f.readOnly === false) out.push({ kind: 'write', label: 'Write access', why: 'The role is not read-only: it can change data.' });
  const day = f.createdAt.getUTCDay();
  const hour = f.createdAt.getUTCHours();
  if (!(WORKING_HOURS.days as readonly number[]).includes(day) || hour < WORKING_HOURS.from || hour >= WORKING_HOURS.to) {
    out.push({ kind: 'off-hours', label: 'Outside working hours', why: 'Asked outside Mon–Fri 08:00–18:00 UTC.' });
  }
  return out;
}
