// Column masking, the shared vocabulary (docs/masking.md): the methods a role may apply to a column, a rule as the
// policy writes it, and a mask resolved for one session (its HMAC key read). Pure: no I/O; the gateways apply masks
// to result values, the inspectors decide which result columns carry them and which statements must be refused.

/** How a masked value is shown. */
export type MaskMethod = 'redact' | 'partial' | 'hash' | 'email' | 'null';

export const MASK_METHODS: readonly MaskMethod[] = ['redact', 'partial', 'hash', 'email', 'null'];

/**
 * One entry of a role's `masking.columns` as compiled from the policy. Exactly one of `column` and `label` is set:
 * - column: `table.column`, `schema.table.column`, or a pattern where `*` stands for any name in that position
 *   (`*.email`, `billing.*.card_number`); names compare case-sensitively as PostgreSQL stores them (unquoted
 *   identifiers are lower case), and a bare `table.column` matches that table in every schema.
 * - label: a column comment, or the first whitespace-separated word of it (`COMMENT ON COLUMN … IS 'pii:email'`).
 */
export interface MaskRule {
  column?: string;
  label?: string;
  method: MaskMethod;
  /** partial: how many trailing characters stay visible (default 4). */
  keep?: number;
  /** hash: the HMAC key's reference as the policy wrote it ({ env } or { file }), resolved when a session starts. */
  key?: { env: string } | { file: string };
}

/** A role's masking as compiled from the policy. */
export interface MaskingPolicy {
  rules: MaskRule[];
  /**
   * Masked columns in WHERE / JOIN ON / HAVING / ORDER BY / GROUP BY as plain operands of comparisons: `allow` (the
   * default: a known inference channel, documented) or `refuse`.
   */
  predicates: 'allow' | 'refuse';
}

/** A rule's method with its key read: what a session applies to one column's values. */
export interface ResolvedMask {
  method: MaskMethod;
  keep: number;
  /** hash: the HMAC-SHA256 key (never logged, never shown). */
  key: Buffer | null;
  /** The rule as the policy wrote it, for explain output and refusal messages (`customers.email`, `label pii:email`). */
  rule: string;
}

/** How a masked column's values are encoded, which decides what a method can write in their place. */
export type MaskValueKind = 'text' | 'json' | 'jsonb' | 'other';

/** What a session's gateway gets from the planner: the role's rules, each with its key read. */
export interface SessionMasking {
  rules: (MaskRule & { resolved: ResolvedMask })[];
  predicates: 'allow' | 'refuse';
  /** The role's name, for messages. */
  role: string;
}
