// What the console says about a held statement and whether it offers the decision: pure, so tests can cover each state.
import type { Me, StatementReview } from '../api/models.js';

/**
 * Whether the viewer may decide this one. The server has the last word (it refuses with a code); this only decides
 * whether to offer the buttons: never on your own statement, nor twice, and only to its reviewers.
 */
export function mayDecide(r: StatementReview, me: Me): boolean {
  if (r.status !== 'pending' || r.principal === me.name || r.approvals.some((a) => a.reviewer === me.name)) return false;
  if (r.mayDecide !== null) return r.mayDecide;
  if (me.kind === 'agent') return false;
  if (r.approverGroups.length === 0 && r.approverPrincipals.length === 0) return me.approverOf.includes(r.role);
  return r.approverPrincipals.includes(me.name) || r.approverGroups.some((g) => me.groups.includes(g));
}

/** Why the viewer sees a held statement without the decision. */
export function waitingWhy(r: StatementReview, me: Me): string {
  if (r.principal === me.name) return 'This is your statement: your client waits until a reviewer decides.';
  if (r.approvals.some((a) => a.reviewer === me.name)) return 'You approved it; it needs more approvals from others.';
  if (r.sponsor === me.name) return `You sponsor ${r.principal}; its reviewers decide.`;
  return 'You are not among its reviewers.';
}

/** "alice's UPDATE on prod-orders" (or "your UPDATE …" to alice): what a review is about, for notes and labels. */
export function gist(r: StatementReview, viewer?: string): string {
  const kinds = r.summary.kinds.length ? [...new Set(r.summary.kinds.map((k) => k.toUpperCase()))].join(', ') : 'statement';
  return `${r.principal === viewer ? 'your' : `${r.principal}'s`} ${kinds} on ${r.resource}`;
}

/** The same at the start of a sentence. */
export function sentenceGist(r: StatementReview, viewer?: string): string {
  const g = gist(r, viewer);
  return g.charAt(0).toUpperCase() + g.slice(1);
}

/** What became of a review, in a sentence. */
export function outcome(r: StatementReview): string {
  const by = r.decidedBy ?? 'a reviewer';
  switch (r.status) {
    case 'approved':
      return `Approved by ${by}; not run yet`;
    case 'executed':
      return `Approved by ${by}; it ran`;
    case 'denied':
      return `Denied by ${by}`;
    case 'timed_out':
      return 'Timed out: nobody decided in time; the client was refused';
    case 'withdrawn':
      return `Withdrawn: ${r.endReason ?? 'the session ended or the client cancelled it'}`;
    default:
      return 'Waiting for a reviewer';
  }
}

/** The warning for an UPDATE or DELETE without WHERE ("this DELETE changes every row of orders"); null when none. */
export function noWhereWarning(r: StatementReview): string | null {
  const s = r.summary;
  if (s.hasWhere !== false) return null;
  const kinds = s.kinds.filter((k) => k === 'update' || k === 'delete').map((k) => k.toUpperCase());
  return `this ${kinds.length ? [...new Set(kinds)].join(' / ') : 'statement'} changes every row of ${s.tables.length ? s.tables.join(', ') : 'its table'}`;
}
