// Guardrail settings of a role: the shape other layers fill in, its defaults, and the check that anything restricts.

export interface GuardrailConfig {
  /** Allow only statements that cannot write. */
  read_only: boolean;
  /** Statement kinds refused, lower-case words matched against StatementInfo.kind ('drop', 'truncate', ...). */
  deny_kinds: string[];
  /** Refuse UPDATE/DELETE without WHERE. */
  require_where: boolean;
  /** Result row ceiling; enforced by the gateway, only carried here. */
  max_rows: number | null;
  /** Audit text keeps literal values (else they are replaced by $n placeholders). */
  keep_literals: boolean;
  /** Statements bigger than this many UTF-8 bytes are refused before parsing. */
  max_statement_bytes: number;
  /**
   * Functions (`name` or `schema.name`, case-insensitive) a read_only role may call although the gateway cannot
   * show they only read: the database's PL/pgSQL, SECURITY DEFINER or extension functions. See docs/guardrails.md.
   */
  allow_functions: string[];
}

export const DEFAULT_MAX_STATEMENT_BYTES = 1_048_576;

export const defaultGuardrails: GuardrailConfig = Object.freeze({
  read_only: false,
  deny_kinds: Object.freeze([]) as unknown as string[],
  require_where: false,
  max_rows: null,
  keep_literals: false,
  max_statement_bytes: DEFAULT_MAX_STATEMENT_BYTES,
  allow_functions: Object.freeze([]) as unknown as string[],
});

/**
 * True when anything restricts what the role may run. keep_literals only shapes the audit text and
 * max_statement_bytes always applies, so neither counts; max_rows does, because a role with a row
 * ceiling is a restricted role and must fail closed on statements it cannot parse.
 */
export function hasGuardrails(c: GuardrailConfig): boolean {
  return c.read_only || c.deny_kinds.length > 0 || c.require_where || c.max_rows !== null;
}

/** Fills defaults, lower-cases kinds and rejects nonsense early, so a bad policy fails at load time, not per statement. */
export function resolveGuardrails(partial: Partial<GuardrailConfig>): Readonly<GuardrailConfig> {
  const c: GuardrailConfig = { ...defaultGuardrails, ...stripUndefined(partial) };
  const kinds = [...new Set(c.deny_kinds.map((k) => String(k).trim().toLowerCase()).filter((k) => k !== ''))];
  if (!(typeof c.max_statement_bytes === 'number' && c.max_statement_bytes > 0) || Number.isNaN(c.max_statement_bytes)) {
    throw new TypeError(`guardrails: max_statement_bytes must be a positive number, got ${String(c.max_statement_bytes)}`);
  }
  if (c.max_rows !== null && !(Number.isInteger(c.max_rows) && c.max_rows >= 0)) {
    throw new TypeError(`guardrails: max_rows must be null or a non-negative integer, got ${String(c.max_rows)}`);
  }
  return Object.freeze({
    read_only: c.read_only === true,
    deny_kinds: Object.freeze(kinds) as unknown as string[],
    require_where: c.require_where === true,
    max_rows: c.max_rows,
    keep_literals: c.keep_literals === true,
    max_statement_bytes: c.max_statement_bytes,
    allow_functions: Object.freeze([...new Set((c.allow_functions ?? []).map((f) => String(f).trim().toLowerCase()).filter((f) => f !== ''))]) as unknown as string[],
  });
}

function stripUndefined(p: Partial<GuardrailConfig>): Partial<GuardrailConfig> {
  // A policy loader may pass { read_only: undefined }; that must mean "default", not "falsy override".
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = v;
  return out as Partial<GuardrailConfig>;
}
