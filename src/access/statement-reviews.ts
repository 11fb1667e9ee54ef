// Statement reviews: a role may hold some statements until a person approves that exact statement. The approval is
// bound to the statement's text, its parameters, the grant and the policy version, used once, and expires.
//
// CONTRACT (issue 15): the exported types and the service's function signatures below are what the gateways, the
// API, the CLI, the MCP server and the console build against. The implementation behind them may change freely.
import type { Caller } from '../domain/model.js';

export type StatementReviewStatus = 'pending' | 'approved' | 'denied' | 'timed_out' | 'withdrawn' | 'executed';

/** What the parser saw in the held statement, shown to reviewers next to the exact text. */
export interface StatementSummary {
  /** Statement kinds in order, e.g. ['update'] or ['insert', 'delete'] (the inspector's kind words). */
  kinds: string[];
  /** Tables (relations) it names, schema-qualified when written so. */
  tables: string[];
  /** For UPDATE/DELETE: whether each has a WHERE; null when the text holds no UPDATE or DELETE. */
  has_where: boolean | null;
  /** Whether anything in it may write (the inspector's judgement; true when it cannot tell). */
  writes: boolean;
}

export interface StatementReview {
  /** rev_… */
  id: string;
  status: StatementReviewStatus;
  principal: string;
  resource: string;
  role: string;
  grant_id: string;
  /** The gateway session that holds the statement (null once the session is gone, or for a held MCP call). */
  session_id: string | null;
  /** 'postgres' | 'mysql' — the dialect the text is in. */
  protocol: string;
  /** The database (PostgreSQL) or schema (MySQL) the session is in. */
  database: string | null;
  /** The exact statement text, literals and all: reviewers must see what will run. */
  statement: string;
  /** Bound parameters of an extended-protocol statement, as text (binary ones as \x hex); null for none. */
  parameters: (string | null)[] | null;
  summary: StatementSummary;
  /** SHA-256 (hex) of canonical JSON {statement, parameters, grant_id, policy_hash}: what an approval is bound to. */
  binding: string;
  /** Approvals still needed, and the rule (from the role's review: section). */
  approvals_needed: number;
  approvals: { reviewer: string; at: string; comment: string | null }[];
  approver_groups: string[];
  /** The agent's sponsor, when the principal is an agent that has one. */
  sponsor: string | null;
  created_at: string;
  /** When the review times out if nobody decides (created_at + review.timeout). */
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  /** The reviewer's comment on a denial (required), or on an approval (optional). */
  comment: string | null;
  executed_at: string | null;
  /** 'user' | 'agent': who asks. */
  principal_kind?: string;
  /** Named reviewers besides approver_groups (from the role's review: section, or else its approval). */
  approver_principals?: string[];
  /** Why it ended without a decision (withdrawn: the session ended, the client cancelled; timed out). */
  end_reason?: string | null;
  /** The statement with its literals replaced, as the audit log has it; null when the gateway gave none. */
  redacted?: string | null;
}

/** What a gateway (or the MCP server) asks to hold. */
export interface HoldInput {
  grant_id: string;
  session_id: string | null;
  protocol: string;
  database: string | null;
  statement: string;
  parameters: (string | null)[] | null;
  summary: StatementSummary;
  source: string | null;
  /** The statement with literals replaced, for the audit log (literals may hold secrets); without it the log gets only the summary. */
  redacted?: string;
}

/** How a wait for a decision ended. */
export type ReviewOutcome =
  | { status: 'approved'; review: StatementReview }
  | { status: 'denied' | 'timed_out' | 'withdrawn' | 'executed'; review: StatementReview };

export interface StatementReviewService {
  /**
   * Before holding: an approved, unused review of this same grant and binding (the statement asked again) is
   * consumed and returned, so the statement runs at once; null when there is none. Atomic (single use).
   */
  consumeApproved(grant_id: string, binding: string, session_id: string | null): Promise<StatementReview | null>;
  /** Creates a pending review (audited review.requested, announced on the change bus and to notifications). */
  hold(principal: string, input: HoldInput): Promise<StatementReview>;
  /**
   * Waits until the review is decided, times out (at expires_at; this marks it timed_out) or is withdrawn.
   * On 'approved' the approval is already consumed for the caller (status executed): run the held statement.
   * An aborted signal withdraws the review (audited review.withdrawn) and resolves with 'withdrawn'.
   */
  wait(id: string, signal?: AbortSignal): Promise<ReviewOutcome>;
  /** A pending review ends without running: the session ended, the client cancelled (CancelRequest). */
  withdraw(id: string, reason: string): Promise<void>;
  /** Audits review.executed once the held statement ran (its statement event carries review_id too). */
  executed(id: string, details: { session_id: string | null; rows?: number | null; error?: string | null }): Promise<void>;
  /** An approver's decision: no self-review, agents cannot decide, approver groups, N approvals; under a row lock. */
  approve(caller: Caller, id: string, comment?: string | null): Promise<StatementReview>;
  deny(caller: Caller, id: string, comment: string): Promise<StatementReview>;
  get(id: string): Promise<StatementReview | undefined>;
  /** Reviews the caller may see: their own, those they may decide, all for admins and auditors. */
  list(caller: Caller, filter?: { status?: StatementReviewStatus; principal?: string; limit?: number }): Promise<StatementReview[]>;
}

/** The binding an approval is bound to; the gateway recomputes it from what it is about to forward. */
export { statementBinding } from './statement-binding.js';
