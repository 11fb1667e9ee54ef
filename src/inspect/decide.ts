// Applies a role's guardrails to the facts about a statement text and words the refusal for the person who sent it.

import type { Analysis } from './analysis.js';
import type { StatementFacts, StatementInfo } from './classify.js';
import { hasGuardrails, type GuardrailConfig } from './config.js';
import { redactUnparsed } from './redact.js';
import { functionRefusal, type AllowList, type FunctionCatalog } from './function-rules.js';

export interface Decision {
  allowed: boolean;
  /** Stable rule id when refused: 'read_only', 'deny_kind:<kind>', 'require_where', 'text_setting', 'parse_error', 'statement_too_large'. */
  rule: string | null;
  /** A sentence for the user, starting 'airlock: statement refused by rule <rule>: '. */
  message: string | null;
  statements: StatementInfo[];
  /** libpg-query fingerprint of the whole text; null when it did not parse or holds no statement. */
  fingerprint: string | null;
  /** Text for the audit log: literals replaced by $n unless keep_literals; masked and truncated when unparsable. */
  redacted: string;
  /**
   * Every statement is shown to only read: nothing in it writes, and every function, operator and view it reaches is
   * a safe built-in, verified in the database's catalog or listed by the role. False whenever that cannot be shown
   * (no catalog, a parse failure, an unknown function). The gateway lets such statements run before their audit
   * event is durable; everything else waits for it.
   */
  reads_only: boolean;
  /**
   * The analysis' facts per statement (what it names, an UPDATE/DELETE without WHERE), when the text parsed: the
   * summary a statement review shows is made from them. Shared with the parse cache; never edited.
   */
  facts?: readonly StatementFacts[];
}

const NO_STATEMENTS: StatementInfo[] = Object.freeze([]) as unknown as StatementInfo[];

function refusal(rule: string, why: string): string {
  return `airlock: statement refused by rule ${rule}: ${why}`;
}

/** 'security_label' → 'SECURITY LABEL', the way a person writes the statement. */
function verbOf(kind: string): string {
  return kind.replace(/_/g, ' ').toUpperCase();
}

function position(i: number, n: number): string {
  return n > 1 ? ` (statement ${i + 1} of ${n})` : '';
}

/** The UTF-8 size of sql when it is over limit, else null; skips encoding work when the length alone decides. */
export function bytesOverLimit(sql: string, limit: number): number | null {
  // UTF-8 takes at most three bytes per UTF-16 code unit.
  if (sql.length * 3 <= limit) return null;
  const bytes = Buffer.byteLength(sql, 'utf8');
  return bytes > limit ? bytes : null;
}

export function tooLarge(sql: string, bytes: number, c: GuardrailConfig): Decision {
  const size = bytes.toLocaleString('en-US');
  const limit = c.max_statement_bytes.toLocaleString('en-US');
  return {
    allowed: false,
    rule: 'statement_too_large',
    message: refusal('statement_too_large',
      `the statement is ${size} bytes, more than the ${limit} bytes this role allows; send smaller statements or split the batch`),
    statements: NO_STATEMENTS,
    fingerprint: null,
    redacted: redactUnparsed(sql, c.keep_literals),
    reads_only: false,
  };
}

/**
 * Decisions are built as literals of one shape by a module-level function: object spread cost about 2 µs per
 * statement, and a closure made per call costs as much again where the code runs through tsx (esbuild's keepNames
 * names every such function with a defineProperty call).
 */
function decision(statements: Decision['statements'], facts: readonly StatementFacts[], fingerprint: string | null, redacted: string, rule: string | null, message: string | null, readsOnly = false): Decision {
  return { allowed: rule === null, rule, message, statements, fingerprint, redacted, reads_only: readsOnly, facts };
}

/** See Decision.reads_only. Without the database's catalog the names in a statement cannot be cleared. */
function readsOnly(a: Extract<Analysis, { ok: true }>, ctx: DecideContext): boolean {
  if (ctx.catalog === null) return false;
  for (const f of a.statements) {
    if (f.info.writes || f.functions === undefined) return false;
    if (f.functions.hiddenSql !== null || functionRefusal(f.functions, ctx.allow, ctx.catalog) !== null) return false;
  }
  return true;
}

/** What a read-only decision knows beyond the role: its allow list, and the database's objects when a gateway loaded them. */
export interface DecideContext {
  allow: AllowList;
  catalog: FunctionCatalog | null;
}

const NO_CONTEXT: DecideContext = { allow: new Set(), catalog: null };

export function decide(sql: string, a: Analysis, c: GuardrailConfig, ctx: DecideContext = NO_CONTEXT): Decision {
  if (!a.ok) {
    const redacted = redactUnparsed(sql, c.keep_literals);
    // Fail closed: a restricted role never runs what the gateway could not check. Without guardrails the
    // server reports the syntax error itself, which is the answer the user expects.
    if (!hasGuardrails(c)) return { allowed: true, rule: null, message: null, statements: NO_STATEMENTS, fingerprint: null, redacted, reads_only: false };
    return {
      allowed: false,
      rule: 'parse_error',
      message: refusal('parse_error', `the statement could not be parsed (${a.error}), and this role refuses statements it cannot check`),
      statements: NO_STATEMENTS,
      fingerprint: null,
      redacted,
      reads_only: false,
    };
  }
  const statements = a.statements.map((f) => f.info);
  const redacted = c.keep_literals ? sql : a.redacted;
  const n = a.statements.length;
  const guarded = hasGuardrails(c);
  for (let i = 0; i < n; i++) {
    const f = a.statements[i]!;
    if (guarded && f.textRisk) {
      return decision(statements, a.statements, a.fingerprint, redacted, 'text_setting', refusal('text_setting', `${f.textRisk}, which would let the server read a statement differently from the check${position(i, n)}`));
    }
    if (guarded && f.functions?.hiddenSql) {
      const h = f.functions.hiddenSql;
      return decision(statements, a.statements, a.fingerprint, redacted, 'hidden_sql', refusal('hidden_sql', `the function ${h.name} ${h.why}, so the gateway cannot check or log what it runs${position(i, n)}`));
    }
    if (c.read_only && f.info.writes) {
      return decision(statements, a.statements, a.fingerprint, redacted, 'read_only', refusal('read_only', `this role is read-only and ${f.reason ?? `${verbOf(f.info.kind)} can write`}${position(i, n)}`));
    }
    if (c.read_only && f.functions) {
      const why = functionRefusal(f.functions, ctx.allow, ctx.catalog);
      if (why !== null) return decision(statements, a.statements, a.fingerprint, redacted, 'read_only', refusal('read_only', `this role is read-only and ${why}${position(i, n)}`));
    }
    if (c.deny_kinds.includes(f.info.kind)) {
      const rule = `deny_kind:${f.info.kind}`;
      return decision(statements, a.statements, a.fingerprint, redacted, rule, refusal(rule, `this role does not allow ${verbOf(f.info.kind)} statements${position(i, n)}`));
    }
    if (c.require_where && f.unqualified !== null) {
      const why = `this role requires a WHERE clause on UPDATE and DELETE, and this ${f.unqualified} has none, so it would touch every row${position(i, n)}`;
      return decision(statements, a.statements, a.fingerprint, redacted, 'require_where', refusal('require_where', why));
    }
  }
  // Under read_only every statement has just passed the same checks readsOnly makes; do not make them twice.
  return decision(statements, a.statements, a.fingerprint, redacted, null, null, c.read_only ? ctx.catalog !== null : readsOnly(a, ctx));
}
