// The facts about a MySQL/MariaDB text: its statements (lexed and classified), the audit text with literals
// masked, and the fingerprint of its shape. Fails closed: anything the lexer or classifier cannot read is an error.

import { createHash } from 'node:crypto';
import { lexMysqlSafely, MysqlLexError, type LexedStatement, type Token, type VersionComment } from './lexer.js';
import { classifyMysql, MysqlClassifyError, type MysqlFacts } from './classify.js';
import { truncateForAudit, MAX_UNPARSED_AUDIT_CHARS } from '../redact.js';

export type MysqlAnalysis =
  | {
    ok: true;
    /** The statements as a server that executes every version comment reads them (or as the known server does). */
    statements: MysqlFacts[];
    /** The statements under every other way a server may read the version comments; checked by the same rules. */
    alternates: MysqlFacts[];
    redacted: string;
    fingerprint: string | null;
  }
  | { ok: false; error: string };

/** The server behind the session, from its handshake: which version comments it executes is then known. */
export interface MysqlServer {
  mariadb: boolean;
  /** As version comments write it: 80035 for MySQL 8.0.35, 101106 for MariaDB 10.11.6. */
  version: number;
}

type Executes = (version: number | null, mariadbOnly: boolean) => boolean;

/**
 * The server from the version string of its handshake: `8.0.35` → MySQL 80035; `5.5.5-10.11.19-MariaDB-0+deb12u1`
 * (MariaDB's prefix for old clients) or `10.11.19-MariaDB` → MariaDB 101119. Null when the string does not parse.
 */
export function mysqlServerFromVersion(text: string): MysqlServer | null {
  const mariadb = /mariadb/i.test(text);
  const m = /^(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)/.exec(mariadb ? text : text.replace(/^5\.5\.5-(?=\d)/, ''));
  if (m === null) return null;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (minor > 99 || patch > 99) return null;
  return { mariadb, version: major * 10000 + minor * 100 + patch };
}

/** Each reading lexes the whole text again; more different version numbers than this in one text are refused. */
export const MAX_VERSION_NUMBERS = 8;

/** MySQL executes `/*!N` when N ≤ its version and never `/*M!`; MariaDB executes both the same way. */
export function executesOn(server: MysqlServer): Executes {
  return (version, mariadbOnly) => (!mariadbOnly || server.mariadb) && (version === null || version <= server.version);
}

/**
 * Every way an unknown server may read these version comments: MySQL or MariaDB, with a version below each number
 * met or above all of them. The reading that executes every comment is the primary one and is left out.
 */
export function otherReadings(seen: VersionComment[]): Executes[] {
  const cuts = [-1, ...new Set(seen.filter((v) => v.version !== null).map((v) => v.version!))].sort((a, b) => a - b);
  const flavors = seen.some((v) => v.mariadbOnly) ? [false, true] : [true];
  const top = cuts[cuts.length - 1]!;
  const out: Executes[] = [];
  for (const mariadb of flavors) {
    for (const version of cuts) {
      if (mariadb && version === top) continue;
      out.push(executesOn({ mariadb, version }));
    }
  }
  return out;
}

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

/** A version comment with a MySQL 5.7+ version number (5 digits from 50700), which MariaDB may skip. */
const MYSQL_ONLY_VERSION = /\/\*!(?:50[7-9]|5[1-9]\d|[6-9]\d\d)\d\d(?!\d)/;

/** Never throws: an unexpected failure is a text that could not be read, which guarded roles refuse. */
export function analyzeMysql(sql: string, noBackslashEscapes: boolean | null = null, server: MysqlServer | null = null): MysqlAnalysis {
  try {
    // MariaDB skips some MySQL-only version comments it is new enough to run (measured on 10.11: /*!50799 runs,
    // /*!50800 … /*!99999 do not); where exactly it draws that line is not something to bet a guardrail on, so a
    // text holding such a comment is checked every way a server could read it, as for an unknown server.
    const known = server !== null && server.mariadb && MYSQL_ONLY_VERSION.test(sql) ? null : server;
    return analyzeOrThrow(sql, noBackslashEscapes, known);
  } catch (err) {
    return { ok: false, error: `the gateway failed to read it: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function classifyAll(lexed: LexedStatement[], into: MysqlFacts[]): string | null {
  for (let k = 0; k < lexed.length; k++) {
    try {
      into.push(classifyMysql(lexed[k]!.tokens));
    } catch (err) {
      if (err instanceof MysqlClassifyError) return lexed.length > 1 ? `${err.message}, in statement ${k + 1} of ${lexed.length}` : err.message;
      throw err;
    }
  }
  return null;
}

function analyzeOrThrow(sql: string, noBackslashEscapes: boolean | null, server: MysqlServer | null): MysqlAnalysis {
  const seen: VersionComment[] = [];
  let lexed: LexedStatement[];
  try {
    lexed = lexMysqlSafely(sql, noBackslashEscapes, server === null ? { seen } : { executes: executesOn(server) });
  } catch (err) {
    if (err instanceof MysqlLexError) return { ok: false, error: err.message };
    throw err;
  }
  const statements: MysqlFacts[] = [];
  const error = classifyAll(lexed, statements);
  if (error !== null) return { ok: false, error };
  const alternates: MysqlFacts[] = [];
  if (new Set(seen.map((v) => v.version)).size > MAX_VERSION_NUMBERS) {
    return { ok: false, error: `version comments with more than ${MAX_VERSION_NUMBERS} different version numbers, each a different reading to check` };
  }
  for (const executes of seen.length > 0 ? otherReadings(seen) : []) {
    try {
      const other = classifyAll(lexMysqlSafely(sql, noBackslashEscapes, { executes }), alternates);
      if (other !== null) return { ok: false, error: `${other}, when the server skips a version comment` };
    } catch (err) {
      if (err instanceof MysqlLexError) return { ok: false, error: `${err.message}, when the server skips a version comment` };
      throw err;
    }
  }
  return { ok: true, statements, alternates, redacted: redactMysql(sql, lexed), fingerprint: fingerprintMysql(lexed) };
}
