// Turns SQL text into config-independent facts (statements, fingerprint, audit text) with the real PostgreSQL parser.

import { fingerprintSync, loadModule, normalizeSync, parseSync } from './pg-parser.js';
import { classifyStatement, type StatementFacts } from './classify.js';
import { maskLiterals } from './redact.js';
import { withCursor } from './cursors.js';
import { callsSetConfig } from './text-settings.js';

/**
 * Everything a decision needs that does not depend on the role, so one cache entry serves every session.
 * Plain data: it crosses the worker boundary by structured clone.
 */
export type Analysis =
  | {
    ok: true;
    statements: readonly StatementFacts[];
    fingerprint: string | null;
    /** normalize() output with any literal it left behind masked too. */
    redacted: string;
  }
  | {
    ok: false;
    error: string;
    /** Set when the failure came from the worker pool (crash, timeout), not the text: such results are not cached. */
    transient?: true;
  };

let loading: Promise<void> | null = null;
let ready = false;

/** Loads the WASM parser; safe to call many times and from many places at once. */
export function initInspect(): Promise<void> {
  loading ??= loadModule().then(() => {
    ready = true;
  }, (e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

export function isInspectReady(): boolean {
  return ready;
}

const FINGERPRINT = /^[0-9a-f]{16}$/;

/** Parser messages are shown to the user; keep them one short line. */
function errorText(e: unknown): string {
  const raw = e instanceof RangeError
    ? 'the statement is nested too deeply to check'
    : e instanceof Error ? e.message : String(e);
  const line = raw.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/**
 * Parses and classifies sql. Never throws for any input: a parser failure (including the WASM stack running out
 * on deeply nested text) becomes { ok: false }, which the guardrails turn into a parse_error refusal.
 */
export function analyze(sql: string): Analysis {
  if (!ready) throw new Error('inspect: the SQL parser is not loaded; await initInspect() before inspecting statements');
  if (sql.trim() === '') return freezeAnalysis({ ok: true, statements: [], fingerprint: null, redacted: sql });
  // The parser reads a C string and would silently stop at a NUL; refuse instead of checking half a statement.
  if (sql.includes('\0')) return freezeAnalysis({ ok: false, error: 'the statement contains a NUL character' });
  let statements: StatementFacts[];
  try {
    const tree = parseSync(sql);
    statements = (tree.stmts ?? []).map((raw) => {
      const facts = withCursor(classifyStatement(raw.stmt), raw.stmt);
      return callsSetConfig(raw.stmt) ? { ...facts, constantSensitive: true } : facts;
    });
  } catch (e) {
    return freezeAnalysis({ ok: false, error: errorText(e) });
  }
  if (statements.length === 0) return freezeAnalysis({ ok: true, statements, fingerprint: null, redacted: sql });
  return freezeAnalysis({ ok: true, statements, fingerprint: fingerprintOf(sql), redacted: normalizedOf(sql) });
}

function fingerprintOf(sql: string): string | null {
  try {
    const fp = fingerprintSync(sql);
    // The binding returns some parser errors as the result string instead of throwing.
    return FINGERPRINT.test(fp) ? fp : null;
  } catch {
    return null;
  }
}

function normalizedOf(sql: string): string {
  try {
    // normalize leaves literals in places pg_stat_statements never sees (PREPARE bodies, EXECUTE arguments,
    // COPY file names, some DDL options), so a second, lexical pass masks whatever is left.
    return maskLiterals(normalizeSync(sql));
  } catch {
    return maskLiterals(sql);
  }
}

/**
 * Cached facts are shared by every decision that reuses them; freezing keeps one caller from editing another's.
 * Also applied to analyses that come back from a worker, since structured clone drops the freeze.
 */
export function freezeAnalysis(a: Analysis): Analysis {
  if (a.ok) {
    for (const f of a.statements) {
      Object.freeze(f.info);
      Object.freeze(f);
    }
    Object.freeze(a.statements);
  }
  return Object.freeze(a);
}
