// A statement review's row ↔ record conversion (JSON text columns become lists and objects), and how its state reads.
import type { DB } from '../store/schema.js';
import type { StatementReview, StatementReviewStatus } from './statement-reviews.js';

export function toStatementReview(r: DB['statement_reviews']): StatementReview {
  return {
    id: r.id,
    status: r.status as StatementReviewStatus,
    principal: r.principal,
    principal_kind: r.principal_kind,
    resource: r.resource,
    role: r.role,
    grant_id: r.grant_id,
    session_id: r.session_id,
    protocol: r.protocol,
    database: r.database,
    statement: r.statement,
    parameters: r.parameters === null ? null : (JSON.parse(r.parameters) as (string | null)[]),
    summary: JSON.parse(r.summary) as StatementReview['summary'],
    binding: r.binding,
    approvals_needed: Number(r.approvals_needed),
    approvals: JSON.parse(r.approvals) as StatementReview['approvals'],
    approver_groups: JSON.parse(r.approver_groups) as string[],
    approver_principals: JSON.parse(r.approver_principals) as string[],
    sponsor: r.sponsor,
    created_at: r.created_at,
    expires_at: r.expires_at,
    decided_at: r.decided_at,
    decided_by: r.decided_by,
    comment: r.comment,
    end_reason: r.end_reason,
    executed_at: r.executed_at,
    redacted: r.redacted,
  };
}

/** "is approved", "was denied by bob", …: why a review can no longer be decided. */
export function describeReviewState(r: Pick<StatementReview, 'status' | 'decided_by'>): string {
  switch (r.status) {
    case 'pending':
      return 'is pending';
    case 'approved':
      return `was approved${r.decided_by ? ` by ${r.decided_by}` : ''}`;
    case 'denied':
      return `was denied${r.decided_by ? ` by ${r.decided_by}` : ''}`;
    case 'timed_out':
      return 'timed out without a decision';
    case 'withdrawn':
      return 'was withdrawn (its session ended or the client cancelled)';
    case 'executed':
      return 'was approved and its statement has run';
  }
}
