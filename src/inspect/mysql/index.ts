// The MySQL/MariaDB inspector: the same Inspector interface and Decision shape as PostgreSQL's, on our own lexer.

import { hasGuardrails, resolveGuardrails, type GuardrailConfig } from '../config.js';
import { bytesOverLimit, type Decision } from '../decide.js';
import type { StatementInfo } from '../classify.js';
import type { Inspector } from '../inspector.js';
import { analyzeMysql, executesOn, redactMysqlUnparsed, type MysqlAnalysis, type MysqlServer } from './analysis.js';
import { functionRefusalMysql } from './classify.js';
import { lexMysqlSafely } from './lexer.js';

export { analyzeMysql, executesOn, mysqlServerFromVersion, fingerprintMysql, redactMysql, MYSQL_PLACEHOLDER, type MysqlAnalysis, type MysqlServer } from './analysis.js';
export { classifyMysql, SAFE_CHARSETS, type MysqlFacts } from './classify.js';
export { lexMysql, lexMysqlSafely, MysqlLexError, type Token, type LexedStatement, type VersionComment } from './lexer.js';
export { MYSQL_SAFE_FUNCTIONS } from './builtins.js';

const NO_STATEMENTS: StatementInfo[] = Object.freeze([]) as unknown as StatementInfo[];
const CACHE_ENTRIES = 5000;
const CACHE_MAX_TEXT = 16 * 1024;

function refusal(rule: string, why: string): string {
  return `airlock: statement refused by rule ${rule}: ${why}`;
}

function position(i: number, n: number): string {
  return n > 1 ? ` (statement ${i + 1} of ${n})` : '';
}

function verbOf(kind: string): string {
  return kind.replace(/_/g, ' ').toUpperCase();
}

/**
 * The statements of a text as the server will split them (`;` outside quotes and comments, also inside version
 * comments), each as its own source slice without the terminator. Throws MysqlLexError where the lexer cannot vouch
 * for the boundaries. A slice runs from its first token to its last, so comments around it are dropped and comments
 * inside it kept. For audit and inspection only: a slice of a version comment's content is not text to re-send.
 */
export function splitMysqlStatements(sql: string, noBackslashEscapes: boolean | null = null, server: MysqlServer | null = null): string[] {
  return lexMysqlSafely(sql, noBackslashEscapes, server === null ? {} : { executes: executesOn(server) }).map((s) => sql.slice(s.start, s.end));
}

/**
 * Analysis caches shared by every MySQL inspector, one per backslash mode and server: analyses do not depend on the
 * role. A few keys at most in practice (the servers a gateway fronts).
 */
const caches = new Map<string, Map<string, MysqlAnalysis>>();

function analysisOf(sql: string, mode: boolean | null, server: MysqlServer | null): MysqlAnalysis {
  if (sql.length > CACHE_MAX_TEXT) return analyzeMysql(sql, mode, server);
  const key = `${String(mode)}/${server === null ? '' : `${server.mariadb ? 'M' : ''}${server.version}`}`;
  let cache = caches.get(key);
  if (cache === undefined) {
    cache = new Map();
    caches.set(key, cache);
  }
  const known = cache.get(sql);
  if (known !== undefined) {
    // Refresh its place: Map keeps insertion order, the first key is the least recently used.
    cache.delete(sql);
    cache.set(sql, known);
    return known;
  }
  const a = analyzeMysql(sql, mode, server);
  cache.set(sql, a);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return a;
}

export interface MysqlInspectorOptions {
  /**
   * Whether the session runs with NO_BACKSLASH_ESCAPES, as the server's status flag says; null (the default) when
   * unknown: the text is then read both ways and refused (parse_error) when the two readings differ.
   */
  noBackslashEscapes?: boolean | null;
  /**
   * The server from the upstream handshake: then exactly the version comments it executes are read as code. Null
   * (the default) when unknown: every way a MySQL or MariaDB server could read them is checked.
   */
  server?: MysqlServer | null;
}

export function makeMysqlInspector(config: Partial<GuardrailConfig>, options: MysqlInspectorOptions = {}): Inspector {
  const mode = options.noBackslashEscapes ?? null;
  const server = options.server ?? null;
  const cfg = resolveGuardrails(config);
  const allow: ReadonlySet<string> = new Set(cfg.allow_functions);
  const guarded = hasGuardrails(cfg);

  function decision(statements: StatementInfo[], fingerprint: string | null, redacted: string, rule: string | null, message: string | null, readsOnly = false): Decision {
    return { allowed: rule === null, rule, message, statements, fingerprint, redacted, reads_only: readsOnly };
  }

  function inspect(sql: string): Decision {
    const bytes = bytesOverLimit(sql, cfg.max_statement_bytes);
    if (bytes !== null) {
      const why = `the statement is ${bytes.toLocaleString('en-US')} bytes, more than the ${cfg.max_statement_bytes.toLocaleString('en-US')} bytes this role allows; send smaller statements or split the batch`;
      return decision(NO_STATEMENTS, null, redactMysqlUnparsed(sql, cfg.keep_literals), 'statement_too_large', refusal('statement_too_large', why));
    }
    const a = analysisOf(sql, mode, server);
    if (!a.ok) {
      const redacted = redactMysqlUnparsed(sql, cfg.keep_literals);
      // Fail closed for restricted roles; without guardrails the server reports its own syntax error.
      if (!guarded) return decision(NO_STATEMENTS, null, redacted, null, null);
      const why = `the statement could not be read (${a.error}), and this role refuses statements it cannot check; send one plain statement without comments inside quotes or version comments`;
      return decision(NO_STATEMENTS, null, redacted, 'parse_error', refusal('parse_error', why));
    }
    const statements: StatementInfo[] = a.statements.map((f) => ({ kind: f.kind, writes: f.writes }));
    const redacted = cfg.keep_literals ? sql : a.redacted;
    const n = a.statements.length;
    let readsOnly = true;
    for (let i = 0; i < n + a.alternates.length; i++) {
      const f = i < n ? a.statements[i]! : a.alternates[i - n]!;
      const where = i < n ? position(i, n) : ' (when the server skips a version comment)';
      if (guarded && f.hiddenSql !== null) {
        return decision(statements, a.fingerprint, redacted, 'hidden_sql', refusal('hidden_sql', `${f.hiddenSql}${where}`));
      }
      if (f.textRisk !== null) {
        return decision(statements, a.fingerprint, redacted, 'text_setting', refusal('text_setting', `${f.textRisk}, which would let the server read a statement differently from the check${where}`));
      }
      if (cfg.read_only && f.writes) {
        return decision(statements, a.fingerprint, redacted, 'read_only', refusal('read_only', `this role is read-only and ${f.reason ?? `${verbOf(f.kind)} can write`}${where}`));
      }
      let fnRefusal: string | null = null;
      for (const name of f.functions) {
        fnRefusal = functionRefusalMysql(name, allow);
        if (fnRefusal !== null) break;
      }
      if (cfg.read_only && fnRefusal !== null) {
        return decision(statements, a.fingerprint, redacted, 'read_only', refusal('read_only', `this role is read-only and ${fnRefusal}${where}`));
      }
      const denied = [f.kind, ...f.alsoKinds].find((k) => cfg.deny_kinds.includes(k));
      if (denied !== undefined) {
        const rule = `deny_kind:${denied}`;
        const what = denied === f.kind ? `${verbOf(f.kind)} statements` : `${verbOf(denied)} statements, and ${verbOf(f.kind)} is one`;
        return decision(statements, a.fingerprint, redacted, rule, refusal(rule, `this role does not allow ${what}${where}`));
      }
      if (cfg.require_where && f.unqualified !== null) {
        const why = `this role requires a WHERE clause on UPDATE and DELETE, and this ${f.unqualified} has none, so it would touch every row${where}`;
        return decision(statements, a.fingerprint, redacted, 'require_where', refusal('require_where', why));
      }
      if (f.writes || fnRefusal !== null || f.textRisk !== null) readsOnly = false;
      // A reading without a version comment cannot be told apart statement by statement: each is marked.
      if (fnRefusal !== null || (i >= n && f.writes)) for (const st of i < n ? [statements[i]!] : statements) st.calls = true;
    }
    return decision(statements, a.fingerprint, redacted, null, null, readsOnly && n > 0);
  }

  return {
    dialect: 'mysql',
    config: cfg,
    inspect,
    inspectAsync: (sql: string) => Promise.resolve(inspect(sql)),
    inspectNow: inspect,
  };
}
