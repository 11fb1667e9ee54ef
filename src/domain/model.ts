// The records of the access lifecycle, as plain data shared by every layer: each a zod schema (which the API's
// response schemas and OpenAPI document reuse) and the type inferred from it, so the shape is written once.
import { z } from 'zod';

export const principalKind = z.enum(['user', 'agent']);
export type PrincipalKind = z.infer<typeof principalKind>;

export const principalRecord = z.object({
  name: z.string(),
  kind: principalKind,
  groups: z.array(z.string()),
  email: z.string().optional(),
});
export type Principal = z.infer<typeof principalRecord>;

export const resourceKind = z.enum(['postgres', 'mysql', 'ssh', 'exec', 'http']);
export type ResourceKind = z.infer<typeof resourceKind>;

export const requestStatus = z.enum(['pending', 'approved', 'denied', 'cancelled', 'timed_out']);
export type RequestStatus = z.infer<typeof requestStatus>;
export const grantStatus = z.enum(['active', 'expired', 'revoked']);
export type GrantStatus = z.infer<typeof grantStatus>;
export const reviewDecision = z.enum(['approve', 'deny']);
export type ReviewDecision = z.infer<typeof reviewDecision>;
export const lockTargetKind = z.enum(['principal', 'resource', 'role']);
export type LockTargetKind = z.infer<typeof lockTargetKind>;

const time = z.string().describe('ISO-8601 UTC time');

export const accessRequestRecord = z.object({
  id: z.string().describe('req_…'),
  principal: z.string(),
  resource: z.string(),
  role: z.string(),
  duration_seconds: z.number().int(),
  reason: z.string(),
  ticket: z.string().nullable(),
  status: requestStatus,
  break_glass: z.boolean(),
  auto_approved_by: z.string().nullable().describe("'rule:<index>' when a rule approved it, null otherwise"),
  extends_grant_id: z.string().nullable(),
  grant_id: z.string().nullable(),
  created_at: time,
  updated_at: time,
  timeout_at: time,
  decided_at: time.nullable(),
  decided_by: z.string().nullable(),
  source_addr: z.string().nullable(),
});
export type AccessRequest = z.infer<typeof accessRequestRecord>;

export const reviewRecord = z.object({
  id: z.string().describe('rev_…'),
  request_id: z.string(),
  reviewer: z.string(),
  decision: reviewDecision,
  comment: z.string().nullable(),
  post_hoc: z.boolean().describe('true for the review that break-glass access needs after the fact'),
  created_at: time,
});
export type Review = z.infer<typeof reviewRecord>;

export const grantRecord = z.object({
  id: z.string().describe('grt_…'),
  request_id: z.string(),
  principal: z.string(),
  resource: z.string(),
  role: z.string(),
  status: grantStatus,
  starts_at: time,
  expires_at: time,
  ended_at: time.nullable(),
  end_reason: z.string().nullable(),
  ended_by: z.string().nullable(),
  break_glass: z.boolean(),
  needs_review: z.boolean().describe('break-glass grants need a review after the fact; cleared when one is recorded'),
});
export type Grant = z.infer<typeof grantRecord>;

export const lockRecord = z.object({
  id: z.string().describe('lck_…'),
  target_kind: lockTargetKind,
  target: z.string(),
  reason: z.string(),
  created_by: z.string(),
  created_at: time,
  lifted_at: time.nullable(),
  lifted_by: z.string().nullable(),
});
export type Lock = z.infer<typeof lockRecord>;

export const tokenRecord = z.object({
  id: z.string().describe('tok_…'),
  principal: z.string(),
  label: z.string().nullable(),
  created_at: time,
  expires_at: time,
  revoked_at: time.nullable(),
  created_by: z.string(),
  grant_id: z.string().nullable().optional().describe('the grant it was minted for by `airlock connect` (a newer one for the same grant replaces it); else null'),
});
export type TokenRecord = z.infer<typeof tokenRecord>;

/** One entry of the hash-chained audit log. */
export const auditEventRecord = z.object({
  seq: z.number().int(),
  time,
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  source: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
});
export type AuditEvent = z.infer<typeof auditEventRecord>;

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
