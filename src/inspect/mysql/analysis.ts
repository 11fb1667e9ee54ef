// The facts about a MySQL/MariaDB text: its statements (lexed and classified), the audit text with literals
// masked, and the fingerprint of its shape. Fails closed: anything the lexer or classifier cannot read is an error.

import { createHash } from 'node:crypto';
import { lexMysqlSafely, MysqlLexError, type LexedStatement, type Token } from './lexer.js';
import { classifyMysql, MysqlClassifyError, type MysqlFacts } from './classify.js';
import { truncateForAudit, MAX_UNPARSED_AUDIT_CHARS } from '../redact.js';

export type MysqlAnalysis =
  | { ok: true; statements: MysqlFacts[]; redacted: string; fingerprint: string | null }
  | { ok: false; error: string };

const LITERAL_TYPES = new Set(['string', 'dqstr', 'number', 'hex']);

/** The placeholder a masked literal becomes: MySQL's own, as in performance_schema digests. */
export const MYSQL_PLACEHOLDER = '?';

/** The text with every string, number, hex and bit literal replaced by `?`; comments, identifiers and operators kept. */
export function redactMysql(sql: string, statements: LexedStatement[]): string {
  let out = '';
  let copied = 0;
  for (const s of statements) {
    for (const t of s.tokens) {
      if (!LITERAL_TYPES.has(t.type)) continue;
      out += sql.slice(copied, t.start) + MYSQL_PLACEHOLDER;
      copied = t.end;
    }
  }
  return out + sql.slice(copied);
}

function shapeToken(t: Token): string {
  switch (t.type) {
    case 'string':
    case 'dqstr':
    case 'number':
    case 'hex':
    case 'param':
      return '?';
    case 'qident':
      return `\`${t.value}\``;
    case 'sysvar':
      return `@@${t.value}`;
    default:
      return t.value;
  }
}

/**
 * A stable 16-hex-digit hash of the statements' shape: keywords upper-cased, literals and `?` parameters as `?`,
 * comments and spacing dropped. Texts that differ only in constants, case of keywords, comments or spacing share it.
 */
export function fingerprintMysql(statements: LexedStatement[]): string | null {
  if (statements.length === 0) return null;
  const shape = statements.map((s) => s.tokens.map(shapeToken).join(' ')).join(' ; ');
  return createHash('sha256').update(shape).digest('hex').slice(0, 16);
}

/**
 * Audit text for a text that could not be lexed: numbers masked, and everything from the first quote character
 * on replaced, since where a quote ends is exactly what could not be established. Then truncated.
 */
export function redactMysqlUnparsed(sql: string, keepLiterals: boolean): string {
  const prefix = sql.length > MAX_UNPARSED_AUDIT_CHARS * 4 ? sql.slice(0, MAX_UNPARSED_AUDIT_CHARS * 4) : sql;
  if (keepLiterals) return truncateForAudit(prefix);
  const quote = prefix.search(/['"`]/);
  const head = quote === -1 ? prefix : prefix.slice(0, quote);
  const masked = head.replace(/(?<![A-Za-z0-9_$\u0080-\uffff])\d[\d.]*(?:[eE][+-]?\d+)?/g, MYSQL_PLACEHOLDER);
  return truncateForAudit(quote === -1 ? masked : `${masked}${MYSQL_PLACEHOLDER} …[masked]`);
}

/** Never throws: an unexpected failure is a text that could not be read, which guarded roles refuse. */
export function analyzeMysql(sql: string, noBackslashEscapes: boolean | null = null): MysqlAnalysis {
  try {
    return analyzeOrThrow(sql, noBackslashEscapes);
  } catch (err) {
    return { ok: false, error: `the gateway failed to read it: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function analyzeOrThrow(sql: string, noBackslashEscapes: boolean | null): MysqlAnalysis {
  let lexed: LexedStatement[];
  try {
    lexed = lexMysqlSafely(sql, noBackslashEscapes);
  } catch (err) {
    if (err instanceof MysqlLexError) return { ok: false, error: err.message };
    throw err;
  }
  const statements: MysqlFacts[] = [];
  for (const s of lexed) {
    try {
      statements.push(classifyMysql(s.tokens));
    } catch (err) {
      if (err instanceof MysqlClassifyError) return { ok: false, error: lexed.length > 1 ? `${err.message}, in statement ${statements.length + 1} of ${lexed.length}` : err.message };
      throw err;
    }
  }
  return { ok: true, statements, redacted: redactMysql(sql, lexed), fingerprint: fingerprintMysql(lexed) };
}
