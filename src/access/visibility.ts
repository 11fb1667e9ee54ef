// Who may see which requests, grants and sessions, and hear of which changes: one set of rules for every front-end
// (the HTTP routes, the SSE stream, the MCP server), so none of them can show more than another.
import { AirlockError } from '../domain/errors.js';
import type { AccessRequest, Caller, Grant } from '../domain/model.js';
import type { Policy } from '../policy/compile.js';
import type { Change } from './change-bus.js';
import { isStatementReviewer, principalDef } from '../policy/statement-review-rule.js';

/** The policy calls the rules need. */
export type PolicyForVisibility = Pick<Policy, 'isAdmin' | 'isAuditor' | 'isApprover' | 'role' | 'doc'>;

export function makeVisibility(policy: () => PolicyForVisibility) {
  /** Admins and auditors see everyone's requests, grants, sessions and the audit log. */
  function seesAll(c: Caller): boolean {
    const p = policy();
    return p.isAdmin(c.principal) || p.isAuditor(c.principal);
  }

  function approves(c: Caller, roleName: string): boolean {
    const p = policy();
    const role = p.role(roleName);
    return role !== undefined && p.isApprover(c.principal, role);
  }

  /** A held statement: its sender's, its sender's sponsor's, those who may decide it (statement-review-rule.ts), or all. */
  function canSeeStatementReview(c: Caller, r: { principal?: string; role?: string; sponsor?: string | null }): boolean {
    if (r.principal === c.principal.name || seesAll(c)) return true;
    const p = policy();
    const sponsor = r.sponsor !== undefined ? r.sponsor : r.principal !== undefined ? principalDef(p.doc, r.principal)?.sponsor : undefined;
    if (sponsor === c.principal.name) return true;
    const role = r.role === undefined ? undefined : p.role(r.role);
    return role !== undefined && isStatementReviewer(p.doc, c.principal, role);
  }

  return {
    seesAll,
    canSeeStatementReview,

    /** Your own, those of roles you approve, or all (admins and auditors). */
    canSeeRequest(c: Caller, r: Pick<AccessRequest, 'principal' | 'role'>): boolean {
      return r.principal === c.principal.name || seesAll(c) || approves(c, r.role);
    },

    /** Your own, or all (admins and auditors). */
    canSeeGrant(c: Caller, g: Pick<Grant, 'principal'>): boolean {
      return g.principal === c.principal.name || seesAll(c);
    },

    /** Your own, or all (admins and auditors). */
    canSeeSession(c: Caller, s: { principal: string }): boolean {
      return s.principal === c.principal.name || seesAll(c);
    },

    /**
     * A live session's screen: your own, all (admins and auditors), or one under a role you approve — an approver can
     * see what a grantee is doing now (watching is audited).
     */
    canWatchSession(c: Caller, s: { principal: string; role: string | null }): boolean {
      return s.principal === c.principal.name || seesAll(c) || (s.role !== null && approves(c, s.role));
    },

    /**
     * The principal whose grants or sessions a listing may show: the one asked for if the caller may see it, the
     * caller when none was asked for and they see only their own, undefined (everyone) for admins and auditors.
     */
    listedPrincipal(c: Caller, asked: string | undefined, what: 'grants' | 'sessions'): string | undefined {
      const all = seesAll(c);
      if (asked && asked !== c.principal.name && !all) throw new AirlockError('AIRLOCK_FORBIDDEN', `Only admins and auditors can see other people's ${what}.`);
      return all ? asked : c.principal.name;
    },

    /**
     * Who hears of a change on the event stream: admins and auditors all; others their own, requests they may review,
     * and held statements they may see.
     */
    hearsChange(c: Caller, change: Change): boolean {
      if (seesAll(c)) return true;
      if (change.principal === c.principal.name) return true;
      if (change.kind === 'statement_review') return canSeeStatementReview(c, change);
      return change.kind === 'request' && change.role !== undefined && approves(c, change.role);
    },
  };
}

export type Visibility = ReturnType<typeof makeVisibility>;
