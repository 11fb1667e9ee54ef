// The records of the access lifecycle, as plain data shared by every layer.

export type PrincipalKind = 'user' | 'agent';

export interface Principal {
  name: string;
  kind: PrincipalKind;
  groups: string[];
  email?: string | undefined;
}

export type ResourceKind = 'postgres' | 'mysql' | 'ssh' | 'exec' | 'http';

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'cancelled' | 'timed_out';
export type GrantStatus = 'active' | 'expired' | 'revoked';
export type ReviewDecision = 'approve' | 'deny';
export type LockTargetKind = 'principal' | 'resource' | 'role';

export interface AccessRequest {
  id: string;
  principal: string;
  resource: string;
  role: string;
  duration_seconds: number;
  reason: string;
  ticket: string | null;
  status: RequestStatus;
  break_glass: boolean;
  /** 'rule:<index>' when a rule approved it, null otherwise. */
  auto_approved_by: string | null;
  extends_grant_id: string | null;
  grant_id: string | null;
  created_at: string;
  updated_at: string;
  timeout_at: string;
  decided_at: string | null;
  decided_by: string | null;
  source_addr: string | null;
}

export interface Review {
  id: string;
  request_id: string;
  reviewer: string;
  decision: ReviewDecision;
  comment: string | null;
  /** True for the review that break-glass access needs after the fact. */
  post_hoc: boolean;
  created_at: string;
}

export interface Grant {
  id: string;
  request_id: string;
  principal: string;
  resource: string;
  role: string;
  status: GrantStatus;
  starts_at: string;
  expires_at: string;
  ended_at: string | null;
  end_reason: string | null;
  ended_by: string | null;
  break_glass: boolean;
  /** Break-glass grants need a review after the fact; cleared when one is recorded. */
  needs_review: boolean;
}

export interface Lock {
  id: string;
  target_kind: LockTargetKind;
  target: string;
  reason: string;
  created_by: string;
  created_at: string;
  lifted_at: string | null;
  lifted_by: string | null;
}

export interface TokenRecord {
  id: string;
  principal: string;
  label: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  created_by: string;
  /** The grant it was minted for by `airlock connect` (a newer one for the same grant replaces it); else null. */
  grant_id?: string | null;
}

/** One entry of the hash-chained audit log. */
export interface AuditEvent {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  source: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** What a caller hands to the audit log; the log assigns seq, time and the hashes. */
export interface AuditInput {
  actor: string;
  action: string;
  target?: string | null;
  source?: string | null;
  details?: Record<string, unknown>;
  time?: string;
}

/** Who is calling, as established by authentication. */
export interface Caller {
  principal: Principal;
  source: string | null;
  token_id: string | null;
  /** The password console session the call came through, if any: tokens minted for oneself in it end with it. */
  console_session_id?: string | null;
}
