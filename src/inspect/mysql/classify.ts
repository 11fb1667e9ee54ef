// Classifies one lexed MySQL/MariaDB statement: its kind, whether it can write or change state, why, whether an
// UPDATE/DELETE lacks a WHERE, the functions it calls, and settings that change how the server reads text.

import type { Token } from './lexer.js';
import { MYSQL_NOT_CALLS, MYSQL_SAFE_FUNCTIONS, MYSQL_SPACE_SENSITIVE, MYSQL_STATEFUL_FUNCTIONS } from './builtins.js';

export interface MysqlFacts {
  kind: string;
  writes: boolean;
  /** Completes "this role is read-only and …" when writes is true. */
  reason: string | null;
  /** Other kinds deny_kinds also matches: REPLACE is an INSERT and a DELETE, ON DUPLICATE KEY UPDATE an UPDATE. */
  alsoKinds: string[];
  unqualified: 'UPDATE' | 'DELETE' | null;
  /** Set when the statement changes how the server reads statement text (refused under any guardrail). */
  textRisk: string | null;
  /** Set when the statement runs SQL text the gateway does not see as a statement (refused under any guardrail). */
  hiddenSql: string | null;
  /** Function names called, lower-case, `db.name` when qualified or `` `name` `` when quoted. */
  functions: string[];
}

export class MysqlClassifyError extends Error {}

/**
 * Session variables a read-only role may set: transaction characteristics, and settings that only shape the
 * session's own results or timeouts. Not sql_mode (it changes how text is read and how writes behave), not
 * foreign_key_checks, unique_checks, sql_log_bin or any character set.
 */
const READ_SESSION_SETTINGS = new Set([
  'transaction_isolation', 'tx_isolation', 'transaction_read_only', 'tx_read_only', 'autocommit',
  'time_zone', 'wait_timeout', 'interactive_timeout', 'net_read_timeout', 'net_write_timeout', 'max_execution_time',
  'max_statement_time', 'group_concat_max_len', 'sql_select_limit', 'lc_time_names', 'div_precision_increment',
  'sql_quote_show_create', 'profiling', 'character_set_results',
  // The text settings, when set to a character set the lexer reads like UTF-8 (SAFE_CHARSETS).
  'character_set_client', 'character_set_connection', 'collation_connection',
]);
const TEXT_SETTINGS = new Set(['character_set_client', 'character_set_connection', 'collation_connection', 'names', 'charset']);
/**
 * Character sets in which every ASCII byte is that character: the lexer reads their text the same as UTF-8. Not
 * big5, cp932, gbk, gb18030, sjis, whose multi-byte characters can end in the byte of a backslash or a quote.
 */
export const SAFE_CHARSETS: ReadonlySet<string> = new Set(['utf8', 'utf8mb3', 'utf8mb4', 'latin1', 'ascii', 'binary']);

/** The character set or collation named by a token, when it is one of SAFE_CHARSETS (`utf8mb4_bin` counts as utf8mb4). */
function safeCharset(t: Token | undefined): boolean {
  if (t === undefined || !(t.type === 'word' || t.type === 'qident' || t.type === 'dqstr' || t.type === 'string')) return false;
  const name = (t.type === 'string' ? t.value.slice(1, -1) : t.value).toLowerCase();
  return SAFE_CHARSETS.has(name) || SAFE_CHARSETS.has(name.split('_')[0]!);
}
/** Non-reserved type names that are types, not calls, right after AS (CAST(x AS DATETIME(6))). */
const TYPES_AFTER_AS = new Set(['DATETIME', 'TEXT', 'BLOB', 'JSON', 'ENUM', 'BIT', 'FIXED', 'NCHAR', 'SIGNED', 'VARCHAR', 'CHAR']);

/** Statements that only read or manage the transaction, by their first word. */
const READ_KINDS: Readonly<Record<string, string>> = {
  SHOW: 'show', USE: 'use', HELP: 'help', COMMIT: 'commit', ROLLBACK: 'rollback', SAVEPOINT: 'savepoint',
  RELEASE: 'release', UNLOCK: 'unlock', DEALLOCATE: 'deallocate', CHECKSUM: 'checksum', GET: 'get',
};

/** Statements that always write or act on the server, with the reason. */
const WRITE_KINDS: Readonly<Record<string, readonly [string, string]>> = {
  INSERT: ['insert', 'INSERT writes data'],
  REPLACE: ['replace', 'REPLACE deletes and inserts rows'],
  CREATE: ['create', 'CREATE changes the schema'],
  ALTER: ['alter', 'ALTER changes the schema'],
  DROP: ['drop', 'DROP removes objects'],
  RENAME: ['rename', 'RENAME changes the schema'],
  TRUNCATE: ['truncate', 'TRUNCATE deletes every row'],
  GRANT: ['grant', 'GRANT changes privileges'],
  REVOKE: ['revoke', 'REVOKE changes privileges'],
  LOAD: ['load', 'LOAD writes data or loads files'],
  HANDLER: ['handler', 'HANDLER opens tables outside the statement and keeps them open'],
  CALL: ['call', 'CALL runs a stored procedure, which can write'],
  DO: ['do', 'DO evaluates expressions only for their side effects'],
  LOCK: ['lock', 'LOCK takes locks that outlive the statement'],
  KILL: ['kill', 'KILL ends other sessions or statements'],
  FLUSH: ['flush', 'FLUSH acts on the whole server'],
  RESET: ['reset', 'RESET acts on the whole server'],
  PURGE: ['purge', 'PURGE deletes binary logs'],
  CHANGE: ['change', 'CHANGE MASTER/REPLICATION changes replication'],
  STOP: ['stop', 'STOP acts on replication'],
  INSTALL: ['install', 'INSTALL loads code into the server'],
  UNINSTALL: ['uninstall', 'UNINSTALL removes code from the server'],
  SHUTDOWN: ['shutdown', 'SHUTDOWN stops the server'],
  RESTART: ['restart', 'RESTART restarts the server'],
  BINLOG: ['binlog', 'BINLOG replays binary log events'],
  CACHE: ['cache', 'CACHE INDEX changes the key cache'],
  XA: ['xa', 'XA transactions can be committed by another session'],
  CLONE: ['clone', 'CLONE copies data between servers'],
  IMPORT: ['import', 'IMPORT TABLE writes tables'],
  BACKUP: ['backup', 'BACKUP takes server-wide locks'],
  SIGNAL: ['signal', 'SIGNAL belongs in stored programs'],
  RESIGNAL: ['resignal', 'RESIGNAL belongs in stored programs'],
  PREPARE: ['prepare', 'PREPARE … FROM hides the statement it prepares from the gateway; send the statement itself instead'],
  EXECUTE: ['execute', 'EXECUTE runs a prepared statement whose text the gateway cannot see; send the statement itself instead'],
  OPTIMIZE: ['optimize', 'OPTIMIZE TABLE rebuilds tables'],
  REPAIR: ['repair', 'REPAIR TABLE rewrites tables'],
  CHECK: ['check', 'CHECK TABLE can update table metadata'],
};

const isWord = (t: Token | undefined, ...values: string[]): boolean => t !== undefined && t.type === 'word' && values.includes(t.value);
const isPunct = (t: Token | undefined, v: string): boolean => t !== undefined && t.type === 'punct' && t.value === v;

/** For each `(`, the index of the `)` that closes it (-1 when none): one pass, so long texts stay linear. */
function matchParens(tokens: Token[]): Int32Array {
  const close = new Int32Array(tokens.length).fill(-1);
  const stack: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (isPunct(tokens[i], '(')) stack.push(i);
    else if (isPunct(tokens[i], ')') && stack.length > 0) close[stack.pop()!] = i;
  }
  return close;
}

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '<=>']);

/** A non-reserved word followed by `(` that its context shows is no call. */
function notACallInContext(tokens: Token[], i: number): boolean {
  const t = tokens[i]!;
  const prev = tokens[i - 1];
  switch (t.value) {
    case 'OVER':
      return isPunct(prev, ')'); // f(…) OVER (…)
    case 'ANY':
    case 'SOME':
      return prev?.type === 'op' && COMPARISONS.has(prev.value); // x = ANY (subquery)
    case 'LATERAL':
      return isPunct(prev, ',') || isWord(prev, 'JOIN', 'FROM');
    case 'OF':
      return isWord(prev, 'MEMBER'); // x MEMBER OF (json)
    case 'COLUMNS':
      return prev?.type === 'string'; // JSON_TABLE(… '$[*]' COLUMNS (…))
    default:
      return TYPES_AFTER_AS.has(t.value) && isWord(prev, 'AS'); // CAST(x AS DATETIME(6))
  }
}

/** Function calls in the tokens: a name followed by `(` that is neither a keyword, a type, nor a column list. */
export function functionCalls(tokens: Token[]): string[] {
  const calls: string[] = [];
  let close: Int32Array | null = null;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1]!;
    if (!isPunct(next, '(')) continue;
    if (t.type !== 'word' && t.type !== 'qident' && t.type !== 'dqstr') continue;
    const prev = tokens[i - 1];
    const qualified = isPunct(prev, '.');
    if (t.type === 'word' && !qualified && (MYSQL_NOT_CALLS.has(t.value) || notACallInContext(tokens, i))) continue;
    // A CTE's column list `name (a, b) AS (`, a derived table's `) AS name (a, b)` or `) name (a, b)`.
    close ??= matchParens(tokens);
    const end = close[i + 1]!;
    if (end !== -1 && isWord(tokens[end + 1], 'AS') && isPunct(tokens[end + 2], '(')) continue;
    if (isPunct(prev, ')') || (isWord(prev, 'AS') && isPunct(tokens[i - 2], ')'))) continue;
    const own = t.type === 'word' ? t.value.toLowerCase() : `\`${t.value.toLowerCase()}\``;
    let name = own;
    if (qualified && tokens[i - 2] !== undefined) {
      const q = tokens[i - 2]!;
      name = `${q.value.toLowerCase()}.${t.value.toLowerCase()}`;
    } else if (t.type === 'word' && t.end !== next.start && MYSQL_SPACE_SENSITIVE.has(own)) {
      // `count (x)`: with a gap the server looks for a stored function of that name.
      name = `\`${own}\``;
    }
    calls.push(name);
  }
  return calls;
}

/** Why a read-only role may not call this function, or null when it is a built-in that only reads. */
export function functionRefusalMysql(name: string, allow: ReadonlySet<string>): string | null {
  const bare = name.replace(/`/g, '');
  if (allow.has(bare)) return null;
  const stateful = MYSQL_STATEFUL_FUNCTIONS[name];
  if (stateful !== undefined) return stateful;
  if (!name.includes('.') && !name.startsWith('`') && MYSQL_SAFE_FUNCTIONS.has(name)) return null;
  if (name.startsWith('`') && MYSQL_SAFE_FUNCTIONS.has(bare)) {
    return `${bare} written quoted, or with a space or comment before its "(", is a stored function of that name to the server, not the built-in; write ${bare}(…)`;
  }
  return `${bare} is not a built-in function known to only read (a stored or loadable function can write); ask for it to be listed in the role's allow_functions if it only reads`;
}

/** Writes hidden inside a query: DML in a CTE or subquery, INTO OUTFILE, locking reads, sequences. */
function hiddenWrite(tokens: Token[], from: number, show = false): string | null {
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type !== 'word') continue;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    switch (t.value) {
      case 'UPDATE':
        if (isWord(prev, 'FOR')) return 'SELECT … FOR UPDATE takes row locks';
        if (isWord(prev, 'KEY')) continue;
        return 'a data-changing statement inside the query writes';
      case 'DELETE':
        return 'a data-changing statement inside the query writes';
      case 'INSERT':
      case 'REPLACE':
        if (isPunct(next, '(')) continue; // the string functions INSERT() and REPLACE()
        return 'a data-changing statement inside the query writes';
      case 'SHARE':
        if (isWord(prev, 'FOR') || (isWord(prev, 'IN') && isWord(tokens[i - 2], 'LOCK'))) return 'a locking read (FOR SHARE / LOCK IN SHARE MODE) takes row locks';
        continue;
      case 'OUTFILE':
      case 'DUMPFILE':
        // Wherever it stands: INTO and OUTFILE may be kept apart by a version comment that only some servers run.
        return `SELECT … INTO ${t.value} writes a file on the database server`;
      case 'LOCK':
        return 'a locking read (LOCK IN SHARE MODE) takes row locks';
      case 'NEXT':
        if (isWord(next, 'VALUE') && isWord(tokens[i + 2], 'FOR')) return 'NEXT VALUE FOR advances a sequence';
        continue;
      case 'NEXTVAL':
        if (isPunct(prev, '.')) return 'seq.NEXTVAL advances a sequence';
        continue;
      case 'PROCEDURE':
        if (show) continue; // SHOW PROCEDURE STATUS / CODE, SHOW CREATE PROCEDURE
        return 'SELECT … PROCEDURE runs a procedure';
      default:
        continue;
    }
  }
  return null;
}

function hasTopLevelWhere(tokens: Token[], from: number): boolean {
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (isPunct(t, '(')) depth++;
    else if (isPunct(t, ')')) depth--;
    else if (depth === 0 && isWord(t, 'WHERE')) return true;
  }
  return false;
}

function facts(kind: string, writes: boolean, reason: string | null, tokens: Token[], extra: Partial<MysqlFacts> = {}): MysqlFacts {
  return { kind, writes, reason: writes ? reason : null, alsoKinds: [], unqualified: null, textRisk: null, hiddenSql: null, functions: functionCalls(tokens), ...extra };
}

/** The first index past leading `(` of a parenthesized query. */
function skipParens(tokens: Token[], i: number): number {
  while (isPunct(tokens[i], '(')) i++;
  return i;
}

/** A query (SELECT, TABLE, VALUES, WITH …) or DML starting at `at`. */
function classifyQuery(tokens: Token[], at: number): MysqlFacts {
  let i = skipParens(tokens, at);
  let first = tokens[i];
  if (isWord(first, 'WITH')) {
    // The main statement is the first query or DML word at the WITH's own depth, after the CTE definitions.
    let depth = 0;
    let j = i + 1;
    for (; j < tokens.length; j++) {
      const t = tokens[j]!;
      if (isPunct(t, '(')) depth++;
      else if (isPunct(t, ')')) depth--;
      else if (depth === 0 && isWord(t, 'SELECT', 'TABLE', 'VALUES', 'UPDATE', 'DELETE', 'INSERT', 'REPLACE')) break;
    }
    if (j >= tokens.length) throw new MysqlClassifyError('a WITH clause without a statement after it');
    i = j;
    first = tokens[j];
  }
  const word = first?.type === 'word' ? first.value : '';
  if (word === 'UPDATE' || word === 'DELETE') {
    const where = hasTopLevelWhere(tokens, i + 1);
    return facts(word.toLowerCase(), true, `${word} writes data`, tokens, { unqualified: where ? null : word });
  }
  if (word === 'INSERT' || word === 'REPLACE') {
    const [kind, reason] = WRITE_KINDS[word]!;
    const alsoKinds = word === 'REPLACE' ? ['insert', 'delete'] : tokens.some((t, k) => isWord(t, 'DUPLICATE') && isWord(tokens[k + 1], 'KEY')) ? ['update'] : [];
    return facts(kind, true, reason, tokens, { alsoKinds });
  }
  if (word === 'SELECT' || word === 'TABLE' || word === 'VALUES') {
    const hidden = hiddenWrite(tokens, at);
    return facts('select', hidden !== null, hidden, tokens);
  }
  throw new MysqlClassifyError(`an unexpected ${first === undefined ? 'end of statement' : `"${first.value}"`} where a query should start`);
}

/** SET: user variables and transaction characteristics are fine; anything else changes session or server state. */
function classifySet(tokens: Token[]): MysqlFacts {
  const second = tokens[1];
  if (second === undefined) throw new MysqlClassifyError('SET without an assignment');
  if (isWord(second, 'PASSWORD')) return facts('set', true, 'SET PASSWORD changes an account', tokens);
  if (isWord(second, 'ROLE') || (isWord(second, 'DEFAULT') && isWord(tokens[2], 'ROLE'))) return facts('set', true, 'SET ROLE changes the privileges in effect', tokens);
  if (isWord(second, 'STATEMENT')) {
    // SET STATEMENT sql_mode='ANSI_QUOTES' FOR …: the server reads the statement after FOR under the new settings.
    const forAt = tokens.findIndex((t) => isWord(t, 'FOR'));
    const list = tokens.slice(2, forAt === -1 ? tokens.length : forAt);
    const unread = list.find((t) => t.type === 'sysvar' && t.unresolved !== undefined);
    const text = list.find((t) => (t.type === 'word' || t.type === 'qident' || t.type === 'sysvar') && TEXT_RISK_NAMES.has(t.value.toLowerCase().split('.').pop()!));
    const textRisk = unread !== undefined ? unresolvedRefusal(unread) : text === undefined ? null : `SET STATEMENT ${text.value.toLowerCase()} … FOR changes how the server reads the statement`;
    return facts('set', true, 'SET STATEMENT … FOR changes session variables for the statement', tokens, { textRisk });
  }
  if (isWord(second, 'RESOURCE')) return facts('set', true, 'SET RESOURCE GROUP changes thread scheduling', tokens);
  const assigns = tokens.some((t) => t.type === 'var' || t.type === 'sysvar' || (t.type === 'op' && (t.value === '=' || t.value === ':=')));
  if (!assigns && (isWord(second, 'TRANSACTION') || (isWord(second, 'SESSION', 'LOCAL') && isWord(tokens[2], 'TRANSACTION')))) {
    if (readWrite(tokens)) return facts('set', true, 'SET TRANSACTION READ WRITE undoes the read-only transactions the gateway sets', tokens);
    return facts('set', false, null, tokens);
  }
  // SET GLOBAL TRANSACTION …; any other SET GLOBAL goes through the list below, whose text settings are refused too.
  if (isWord(second, 'GLOBAL', 'PERSIST', 'PERSIST_ONLY') && isWord(tokens[2], 'TRANSACTION')) return facts('set', true, `SET ${second.value} changes the server for every session`, tokens);

  // Assignments separated by commas at depth 0.
  let depth = 0;
  let reason: string | null = null;
  let textRisk: string | null = null;
  const targets: number[] = [1];
  for (let i = 1; i < tokens.length; i++) {
    if (isPunct(tokens[i], '(')) depth++;
    else if (isPunct(tokens[i], ')')) depth--;
    else if (depth === 0 && isPunct(tokens[i], ',')) targets.push(i + 1);
  }
  for (const [n, at] of targets.entries()) {
    const t = tokens[at];
    if (t === undefined) throw new MysqlClassifyError('SET with an empty assignment');
    if (t.type === 'var') continue;
    const end = n + 1 < targets.length ? targets[n + 1]! - 1 : tokens.length;
    if ((isWord(t, 'NAMES', 'CHARSET') || (isWord(t, 'CHARACTER') && isWord(tokens[at + 1], 'SET'))) && !(tokens[at + 1]?.type === 'op')) {
      // NAMES <charset> [COLLATE <collation>], CHARSET <charset>, CHARACTER SET <charset>: one entry of the list.
      const cs = at + (isWord(t, 'CHARACTER') ? 2 : 1);
      const collate = isWord(tokens[cs + 1], 'COLLATE') ? cs + 2 : null;
      if ((collate === null ? cs + 1 : collate + 1) !== end) throw new MysqlClassifyError(`SET ${t.value} followed by more than a character set and a collation`);
      if (!safeCharset(tokens[cs]) || (collate !== null && !safeCharset(tokens[collate]))) {
        textRisk ??= `SET ${isWord(t, 'CHARACTER') ? 'CHARACTER SET' : t.value} changes the character set the server reads statements in`;
      }
      continue;
    }
    let scope = 'session';
    let name: string;
    // The token after the name: it must be `=` or `:=`, or the name was not read whole (`SET sql_mode.x`, `SET session . x`).
    let after = at + 1;
    if (t.type === 'sysvar') {
      if (t.unresolved !== undefined) {
        textRisk ??= unresolvedRefusal(t);
        continue;
      }
      const parts = t.value.split('.');
      if (parts.length === 2) {
        scope = parts[0]!;
        name = parts[1]!;
      } else {
        name = t.value;
      }
    } else if (isWord(t, 'GLOBAL', 'PERSIST', 'PERSIST_ONLY', 'SESSION', 'LOCAL') && !(tokens[at + 1]?.type === 'op')) {
      scope = t.value.toLowerCase();
      const n = tokens[at + 1];
      if (n === undefined) throw new MysqlClassifyError('SET with a scope and no variable');
      if (n.type !== 'word' && n.type !== 'qident') {
        textRisk ??= `SET ${t.value} followed by ${n.type === 'sysvar' ? 'an @@ variable' : `"${n.value}"`}, not a variable's name: the gateway cannot tell which setting it changes`;
        continue;
      }
      name = n.value.toLowerCase();
      after = at + 2;
    } else if (t.type === 'word' || t.type === 'qident') {
      name = t.value.toLowerCase();
    } else {
      throw new MysqlClassifyError(`SET of something that is not a variable ("${t.value}")`);
    }
    if (name === 'transaction' && tokens[after - 1]!.type === 'word') {
      // TRANSACTION … among assignments: no server takes it, the list entries after it are still checked.
      reason ??= 'SET TRANSACTION with variable assignments changes the session\'s state';
      continue;
    }
    const op = tokens[after];
    if (!/^[a-z0-9_]+$/.test(name) || op === undefined || op.type !== 'op' || (op.value !== '=' && op.value !== ':=')) {
      // Fail closed: a name the server may read as another variable (a structured or quoted name, a scope written
      // apart) could be a text setting the checks below would not see.
      const then = op === undefined ? 'nothing' : `"${op.value.slice(0, 20)}"`;
      textRisk ??= `SET of "${name.slice(0, 64)}" followed by ${then}, which the gateway cannot read as one system variable and its value; write name = value, SESSION name = value or @@session.name = value`;
      continue;
    }
    if (TEXT_SETTINGS.has(name)) {
      // `name = value` or `name := value`: the value is the token after the operator.
      const op = tokens.findIndex((x, k) => k > at && x.type === 'op' && (x.value === '=' || x.value === ':='));
      if (op === -1 || op + 2 !== end || !safeCharset(tokens[op + 1])) textRisk ??= `SET ${name} changes the character set the server reads statements in`;
    }
    if (name === 'sql_mode') {
      // Only a quoted list of modes that leave quotes and backslashes alone: ANSI_QUOTES, NO_BACKSLASH_ESCAPES and the
      // combination modes (ANSI, ORACLE, …) change where a string or an identifier ends; DEFAULT or an expression
      // could bring them back.
      const op = tokens.findIndex((x, k) => k > at && x.type === 'op' && (x.value === '=' || x.value === ':='));
      if (op === -1 || op + 2 !== end || !plainSqlMode(tokens[op + 1]!)) textRisk ??= 'SET sql_mode to anything but a quoted list of modes that leave quoting alone changes how the server reads strings and identifiers';
    }
    if (scope === 'global' || scope === 'persist' || scope === 'persist_only') {
      reason ??= `SET GLOBAL ${name} changes the server for every session`;
    } else if (!READ_SESSION_SETTINGS.has(name)) {
      reason ??= `SET ${name} changes the session's state`;
    } else if (READ_ONLY_SETTINGS.has(name)) {
      // Only the constant "on": 0, OFF, DEFAULT, an expression or a variable could turn read-only transactions off.
      const op = tokens.findIndex((x, k) => k > at && x.type === 'op' && (x.value === '=' || x.value === ':='));
      if (op === -1 || op + 2 !== end || !readOnlyOn(tokens[op + 1]!)) reason ??= `SET ${name} to anything but 1/ON undoes the read-only transactions the gateway sets`;
    }
  }
  const hidden = hiddenWrite(tokens, 1);
  return facts('set', reason !== null || textRisk !== null || hidden !== null, reason ?? textRisk ?? hidden, tokens, { textRisk });
}

/** The refusal of a SET of an @@ variable whose name the lexer could not read fully. */
function unresolvedRefusal(t: Token): string {
  return `SET of a system variable whose name the gateway cannot read fully (${t.unresolved ?? 'unknown'}), so it could be a setting that changes how the server reads statements; write it as @@name or @@session.name`;
}

/** Settings that change how the server reads statement text. */
const TEXT_RISK_NAMES = new Set([...TEXT_SETTINGS, 'sql_mode', 'character_set_results']);
/** sql_mode flags that leave string and identifier quoting as the lexer reads it by default. */
const PLAIN_SQL_MODES = new Set([
  'STRICT_TRANS_TABLES', 'STRICT_ALL_TABLES', 'NO_ZERO_IN_DATE', 'NO_ZERO_DATE', 'ERROR_FOR_DIVISION_BY_ZERO',
  'NO_ENGINE_SUBSTITUTION', 'ONLY_FULL_GROUP_BY', 'NO_AUTO_VALUE_ON_ZERO', 'NO_AUTO_CREATE_USER', 'TRADITIONAL',
  'HIGH_NOT_PRECEDENCE', 'REAL_AS_FLOAT', 'PAD_CHAR_TO_FULL_LENGTH', 'NO_DIR_IN_CREATE', 'NO_UNSIGNED_SUBTRACTION',
  'ALLOW_INVALID_DATES', 'TIME_TRUNCATE_FRACTIONAL', 'EMPTY_STRING_IS_NULL', 'SIMULTANEOUS_ASSIGNMENT',
  'NO_FIELD_OPTIONS', 'NO_KEY_OPTIONS', 'NO_TABLE_OPTIONS', 'PIPES_AS_CONCAT',
]);

/** A single-quoted sql_mode value made only of PLAIN_SQL_MODES (or empty). */
function plainSqlMode(t: Token): boolean {
  if (t.type !== 'string' || t.value.startsWith('_') || t.value.includes('\\') || !t.value.startsWith("'")) return false;
  return t.value.slice(1, -1).split(',').every((m) => m === '' || PLAIN_SQL_MODES.has(m.trim().toUpperCase()));
}

/** The session variables that make transactions read-only; a read-only role may only set them on. */
const READ_ONLY_SETTINGS = new Set(['transaction_read_only', 'tx_read_only']);

/** A value token that sets a boolean variable on: 1, ON, TRUE, '1', 'ON', "on", … */
function readOnlyOn(t: Token): boolean {
  if (t.type === 'number') return t.value === '1';
  if (t.type === 'word') return t.value === 'ON' || t.value === 'TRUE';
  const text = t.type === 'string' ? t.value.slice(1, -1) : t.type === 'dqstr' ? t.value : null;
  return text !== null && ['1', 'on', 'true'].includes(text.toLowerCase());
}

/** `READ WRITE` among a transaction's characteristics (SET … TRANSACTION, START TRANSACTION). */
function readWrite(tokens: Token[]): boolean {
  return tokens.some((t, k) => isWord(t, 'READ') && isWord(tokens[k + 1], 'WRITE'));
}

/** EXPLAIN/DESCRIBE and MariaDB's ANALYZE <statement>: ANALYZE runs the statement, plain EXPLAIN does not. */
function classifyExplain(tokens: Token[]): MysqlFacts {
  let i = 1;
  let analyze = isWord(tokens[0], 'ANALYZE');
  for (;;) {
    const t = tokens[i];
    if (isWord(t, 'ANALYZE')) {
      analyze = true;
      i++;
    } else if (isWord(t, 'EXTENDED', 'PARTITIONS')) {
      i++;
    } else if (isWord(t, 'FORMAT') && tokens[i + 1]?.value === '=') {
      i += 3;
    } else {
      break;
    }
  }
  const t = tokens[i];
  if (isWord(t, 'FOR') && isWord(tokens[i + 1], 'CONNECTION')) return facts('explain', false, null, tokens);
  if (t === undefined) throw new MysqlClassifyError('EXPLAIN without a statement');
  if (isWord(t, 'SELECT', 'WITH', 'TABLE', 'VALUES', 'UPDATE', 'DELETE', 'INSERT', 'REPLACE') || isPunct(t, '(')) {
    const inner = classifyQuery(tokens, i);
    if (analyze) return { ...inner, reason: inner.writes ? `${analyze ? 'ANALYZE' : 'EXPLAIN'} runs the statement, and ${inner.reason}` : null };
    return { ...inner, kind: 'explain', writes: false, reason: null, alsoKinds: [], unqualified: null };
  }
  if (analyze) throw new MysqlClassifyError('EXPLAIN ANALYZE of something that is not a query');
  // DESCRIBE table [column]
  return facts('explain', false, null, tokens);
}

/** Kind, writes and the rest for one statement's tokens; throws MysqlClassifyError for a statement it cannot place. */
export function classifyMysql(tokens: Token[]): MysqlFacts {
  const first = tokens[0]!;
  if (isPunct(first, '(')) return classifyQuery(tokens, 0);
  if (first.type !== 'word') throw new MysqlClassifyError(`a statement starting with "${first.value}"`);
  const w = first.value;
  switch (w) {
    case 'SELECT':
    case 'WITH':
    case 'TABLE':
    case 'VALUES':
    case 'UPDATE':
    case 'DELETE':
    case 'INSERT':
    case 'REPLACE':
      return classifyQuery(tokens, 0);
    case 'SET':
      return classifySet(tokens);
    case 'EXPLAIN':
    case 'DESCRIBE':
    case 'DESC':
      return classifyExplain(tokens);
    case 'ANALYZE':
      if (isWord(tokens[1], 'TABLE', 'TABLES', 'NO_WRITE_TO_BINLOG', 'LOCAL')) return facts('analyze', true, 'ANALYZE TABLE updates table statistics', tokens);
      return classifyExplain(tokens);
    case 'BEGIN':
      if (tokens.length === 1 || (tokens.length === 2 && isWord(tokens[1], 'WORK'))) return facts('begin', false, null, tokens);
      // BEGIN NOT ATOMIC … END: the server reads the `;` inside as part of the block, the gateway cannot.
      throw new MysqlClassifyError('a compound statement (BEGIN NOT ATOMIC … END), which the gateway does not check; send its statements one by one');
    case 'START':
      if (isWord(tokens[1], 'TRANSACTION')) {
        if (readWrite(tokens)) return facts('begin', true, 'START TRANSACTION READ WRITE undoes the read-only transactions the gateway sets', tokens);
        return facts('begin', false, null, tokens);
      }
      return facts('start', true, `START ${tokens[1]?.value ?? ''} acts on replication`, tokens);
    case 'XA':
      return facts('xa', true, WRITE_KINDS.XA![1], tokens);
    default: {
      const read = READ_KINDS[w];
      if (read !== undefined) {
        // SHOW … WHERE expr and the like may still call functions; nothing in them writes.
        const hidden = w === 'SHOW' ? hiddenWrite(tokens, 1, true) : null;
        return facts(read, hidden !== null, hidden, tokens);
      }
      const write = WRITE_KINDS[w];
      if (write !== undefined) {
        const [kind, reason] = write;
        if (w === 'CREATE' && tokens.some((t) => isWord(t, 'TEMPORARY'))) return facts(kind, true, 'CREATE TEMPORARY TABLE creates a table', tokens);
        if (w === 'DROP' && isWord(tokens[1], 'PREPARE')) return facts('deallocate', false, null, tokens);
        if (w === 'PREPARE' || w === 'EXECUTE') {
          const what = w === 'PREPARE' ? 'PREPARE … FROM prepares SQL text' : isWord(tokens[1], 'IMMEDIATE') ? 'EXECUTE IMMEDIATE runs SQL text' : 'EXECUTE runs a statement prepared from SQL text';
          return facts(kind, true, reason, tokens, { hiddenSql: `${what} the gateway cannot check or log as a statement; send the statement itself (or use the protocol's prepared statements)` });
        }
        // CREATE PROCEDURE p() EXECUTE IMMEDIATE …, CREATE EVENT … DO PREPARE s FROM …: dynamic SQL in a stored program's body.
        const dynamic = tokens.findIndex((t, k) => (isWord(t, 'PREPARE') && tokens[k + 1] !== undefined && isWord(tokens[k + 2], 'FROM')) || (isWord(t, 'EXECUTE') && isWord(tokens[k + 1], 'IMMEDIATE')));
        if (dynamic > 0) {
          return facts(kind, true, reason, tokens, { hiddenSql: `${isWord(tokens[dynamic], 'PREPARE') ? 'PREPARE … FROM' : 'EXECUTE IMMEDIATE'} in a stored program's body runs SQL text the gateway cannot check or log as a statement; write the statement itself in the body` });
        }
        return facts(kind, true, reason, tokens);
      }
      throw new MysqlClassifyError(`a statement starting with ${w}, which the gateway does not know`);
    }
  }
}
