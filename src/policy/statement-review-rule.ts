// Who may decide a role's held statements: the review's own approvers, or else the role's approvers; never an agent
// unless the policy says it may approve. One rule for the service, the visibility rules and the policy checks.
import type { Principal } from '../domain/model.js';
import type { PolicyDoc, RoleDef } from './schema.js';

export interface StatementReviewers {
  groups: string[];
  principals: string[];
}

/** The approver lists that apply: the role's review: section when it names any, else the role's approval. */
export function statementReviewers(role: Pick<RoleDef, 'approval' | 'review'>): StatementReviewers {
  const r = role.review;
  if (r && (r.approver_groups.length > 0 || r.approver_principals.length > 0)) return { groups: r.approver_groups, principals: r.approver_principals };
  return { groups: role.approval.approver_groups, principals: role.approval.approver_principals };
}

/** The policy's own entry for a principal (sponsor, may_approve), which the compiled Principal does not carry. */
export function principalDef(doc: Pick<PolicyDoc, 'principals'>, name: string): PolicyDoc['principals'][number] | undefined {
  return doc.principals.find((p) => p.name === name);
}

/** Whether an agent may decide at all: only with may_approve: true in the policy. People always may. */
export function mayDecide(doc: Pick<PolicyDoc, 'principals'>, p: Pick<Principal, 'name' | 'kind'>): boolean {
  return p.kind !== 'agent' || principalDef(doc, p.name)?.may_approve === true;
}

/** Whether `p` is among the reviewers of held statements under `role` (agents only with may_approve). */
export function isStatementReviewer(doc: Pick<PolicyDoc, 'principals'>, p: Pick<Principal, 'name' | 'kind' | 'groups'>, role: Pick<RoleDef, 'approval' | 'review'>): boolean {
  if (!mayDecide(doc, p)) return false;
  const r = statementReviewers(role);
  return r.principals.includes(p.name) || r.groups.some((g) => p.groups.includes(g));
}

/** Policy checks: sponsors are people, only agents have may_approve, and held statements have someone to review them. */
export function reviewProblems(doc: Pick<PolicyDoc, 'principals' | 'roles'>): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const byName = new Map(doc.principals.map((p) => [p.name, p]));
  doc.principals.forEach((p, i) => {
    if (p.sponsor !== undefined) {
      const s = byName.get(p.sponsor);
      if (p.kind !== 'agent') out.push({ path: ['principals', i, 'sponsor'], message: `only an agent has a sponsor; remove sponsor from ${p.name}, or give it kind: agent` });
      else if (!s) out.push({ path: ['principals', i, 'sponsor'], message: `unknown principal "${p.sponsor}"; a sponsor is a person defined under principals:` });
      else if (s.kind === 'agent') out.push({ path: ['principals', i, 'sponsor'], message: `"${p.sponsor}" is an agent; a sponsor is a person (kind: user) answerable for the agent` });
    }
    if (p.may_approve && p.kind !== 'agent') out.push({ path: ['principals', i, 'may_approve'], message: 'may_approve is for agents (people who are approvers may always decide); remove it' });
  });
  const groups = new Set(doc.principals.flatMap((p) => p.groups));
  doc.roles.forEach((role, i) => {
    const review = role.review;
    if (!review) return;
    review.approver_principals.forEach((n, j) => {
      if (!byName.has(n)) out.push({ path: ['roles', i, 'review', 'approver_principals', j], message: `unknown principal "${n}"` });
    });
    review.approver_groups.forEach((g, j) => {
      if (!groups.has(g)) out.push({ path: ['roles', i, 'review', 'approver_groups', j], message: `no principal is in group "${g}", so nobody from it can review` });
    });
    if (review.statements === 'none') return;
    const reviewers = doc.principals.filter((p) => isStatementReviewer(doc, p, role));
    if (reviewers.length === 0) {
      const rule = statementReviewers(role);
      const from = review.approver_groups.length || review.approver_principals.length ? 'review.approver_groups/approver_principals' : 'the role\'s approval approvers (review: names none)';
      out.push({ path: ['roles', i, 'review'], message: `statements: ${review.statements} holds statements, but nobody may review them: ${from} (${[...rule.groups.map((g) => `group ${g}`), ...rule.principals].join(', ') || 'none'}) hold no person, nor an agent with may_approve: true` });
    } else if (reviewers.length < review.approvals) {
      out.push({ path: ['roles', i, 'review', 'approvals'], message: `needs ${review.approvals} approvals but only ${reviewers.length} principal(s) may review (${reviewers.map((p) => p.name).join(', ')})` });
    }
  });
  return out;
}
