// "Why can or can't P do this on R": every role for every matching resource, with its limits, approvers and refusals.
import { formatDuration } from '../domain/duration.js';
import { AirlockError } from '../domain/errors.js';
import type { Policy } from './compile.js';
import { eligibility, type Refusal } from './decide.js';
import { isStatementReviewer, statementReviewers } from './statement-review-rule.js';
import type { MaskMethod, MaskRule } from '../domain/masking.js';
import { maskText } from '../domain/mask-values.js';

export interface ExplainEntry {
  resource: string;
  role: string;
  allowed: boolean;
  max_duration: string;
  max_duration_seconds: number;
  approval: {
    approvals: number;
    approvers: string[];
    approver_groups: string[];
    self_approval: boolean;
    auto_approve: { requester_groups: string[]; max_duration: string | null; time_window: string | null; applies_to_principal: boolean }[];
  };
  justification: { required: boolean; pattern: string | null; ticket_required: boolean; hint: string | null };
  break_glass: boolean;
  read_only: boolean;
  /** Statement review: which statements wait for a person, who may decide them, how many, how long; null when none. */
  review?: { statements: 'writes' | 'all'; approvals: number; reviewers: string[]; approver_groups: string[]; approver_principals: string[]; timeout: string; timeout_seconds: number } | null;
  /** Column masking: what the role shows masked, each method shown on a sample value; null when it masks nothing. */
  masking?: ExplainMasking | null;
  refusals: Refusal[];
}

export interface ExplainMasking {
  predicates: 'allow' | 'refuse';
  columns: ExplainMaskedColumn[];
}

export interface ExplainMaskedColumn {
  /** Exactly one of column and label, as the policy wrote it. */
  column?: string;
  label?: string;
  method: MaskMethod;
  /** partial: the trailing characters left visible. */
  keep?: number;
  /** The method on a sample value: `alice@example.com → ****@example.com`; hash is described, never computed. */
  example: string;
}

export interface Explanation {
  /** group_sources: where each group comes from, 'file' (the policy) and/or 'idp' (the last single sign-on). */
  principal: { name: string; kind: string; groups: string[]; group_sources: Record<string, ('file' | 'idp')[]>; admin: boolean; auditor: boolean };
  policy_hash: string;
  entries: ExplainEntry[];
}

export function explain(policy: Policy, principalName: string, resourceName?: string): Explanation {
  const p = policy.principal(principalName);
  if (!p) throw new AirlockError('AIRLOCK_UNKNOWN_PRINCIPAL', `There is no principal named "${principalName}" in ${policy.file}.`);
  const resources = resourceName === undefined ? policy.resources : [policy.resource(resourceName)];
  if (resourceName !== undefined && resources[0] === undefined) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `There is no resource named "${resourceName}" in ${policy.file}.`);
  const entries: ExplainEntry[] = [];
  for (const res of resources) {
    if (!res) continue;
    // With one resource named, show every role so refusals explain themselves; otherwise only roles that cover it.
    const roles = resourceName === undefined ? policy.rolesFor(res) : policy.roles;
    for (const role of roles) {
      const refusals = eligibility(policy, p, role, res);
      entries.push({
        resource: res.name,
        role: role.name,
        allowed: refusals.length === 0,
        max_duration: formatDuration(role.max_duration),
        max_duration_seconds: role.max_duration,
        approval: {
          approvals: role.approval.approvals,
          approvers: policy.approversFor(role).filter((a) => role.approval.allow_self_approval || a.name !== p.name).map((a) => a.name),
          approver_groups: role.approval.approver_groups,
          self_approval: role.approval.allow_self_approval,
          auto_approve: role.approval.auto_approve.map((r) => ({
            requester_groups: r.requester_groups,
            max_duration: r.max_duration === undefined ? null : formatDuration(r.max_duration),
            time_window: r.time_window ? `${r.time_window.days.join(',')} ${r.time_window.from}-${r.time_window.to} ${r.time_window.zone}` : null,
            applies_to_principal: r.requester_groups.some((g) => p.groups.includes(g)),
          })),
        },
        justification: { required: role.justification.required, pattern: role.justification.pattern ?? null, ticket_required: role.justification.ticket_required, hint: role.justification.hint ?? null },
        break_glass: role.break_glass,
        read_only: role.privileges.sql === 'read',
        review: reviewRule(policy, role, p.name),
        masking: maskingOf(role),
        refusals,
      });
    }
  }
  return {
    principal: { name: p.name, kind: p.kind, groups: p.groups, group_sources: policy.groupSources(p.name), admin: policy.isAdmin(p), auditor: policy.isAuditor(p) },
    policy_hash: policy.hash,
    entries,
  };
}

function reviewRule(policy: Policy, role: Policy['roles'][number], asker: string): ExplainEntry['review'] {
  const r = role.review;
  if (!r || r.statements === 'none') return null;
  const rule = statementReviewers(role);
  return {
    statements: r.statements,
    approvals: r.approvals,
    // Nobody reviews their own statements.
    reviewers: policy.principals.filter((x) => x.name !== asker && isStatementReviewer(policy.doc, x, role)).map((x) => x.name),
    approver_groups: rule.groups,
    approver_principals: rule.principals,
    timeout: formatDuration(r.timeout),
    timeout_seconds: r.timeout,
  };
}

const SAMPLE_EMAIL = 'alice@example.com';

/** A method shown on a sample value. The hash example is a description: it is never computed with the real key. */
export function maskExample(rule: Pick<MaskRule, 'method' | 'keep'>): string {
  switch (rule.method) {
    case 'hash':
      return `${SAMPLE_EMAIL} → h:… (keyed HMAC-SHA256, 24 hex digits; the same value always gives the same output)`;
    case 'null':
      return `${SAMPLE_EMAIL} → NULL`;
    case 'partial': {
      const keep = rule.keep ?? 4;
      // A sample long enough to show the method keeping characters, not the short-value rule.
      const sample = '4111111111111111'.length > 2 * keep ? '4111111111111111' : '0123456789'.repeat(Math.ceil((2 * keep + 4) / 10));
      const shown = maskText(sample, { method: 'partial', keep, key: null, rule: '' });
      return `${sample} → ${shown} (values of ${2 * keep} characters or fewer: ****)`;
    }
    default:
      return `${SAMPLE_EMAIL} → ${maskText(SAMPLE_EMAIL, { method: rule.method, keep: 0, key: null, rule: '' }) ?? 'NULL'}`;
  }
}

function maskingOf(role: Policy['roles'][number]): ExplainEntry['masking'] {
  const m = role.masking;
  if (!m || m.rules.length === 0) return null;
  return {
    predicates: m.predicates,
    columns: m.rules.map((r) => ({
      ...(r.column !== undefined ? { column: r.column } : { label: r.label ?? '' }),
      method: r.method,
      ...(r.method === 'partial' ? { keep: r.keep ?? 4 } : {}),
      example: maskExample(r),
    })),
  };
}
