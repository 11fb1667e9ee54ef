// The statement check of a MySQL/MariaDB session with masked columns (docs/masking.md, "MySQL and MariaDB"). Lexical,
// like the MySQL inspector: a statement that names a relation holding masked columns may use those columns only as
// plain select-list items of a plain top-level SELECT (or RETURNING), whose result columns the server reports with
// their origin so the gateway masks them; `*` only there; and, unless the role refuses it, as plain operands of
// comparisons in WHERE / ON / HAVING and plain ORDER BY / GROUP BY keys. Everything else that names them is refused
// with a message naming the column. Statements that read values where no check can follow them (stored programs,
// dynamic SQL, SHOW WARNINGS, the server's statement history, column statistics) are refused in every masked session.
import type { MaskCheckOptions, MaskVerdict } from '../masking/types.js';
import type { MysqlMaskCatalog } from './mask-catalog.js';
import { lexMysqlSafely, type LexedStatement, type Token, type VersionComment } from './lexer.js';
import { otherReadings } from './analysis.js';
import { functionCalls } from './classify.js';
import { MYSQL_SAFE_FUNCTIONS, MYSQL_STATEFUL_FUNCTIONS } from './builtins.js';
import { MaskRefusal, Walk, isIdent, isPunct, isWord, lower, type TableRef, type ViewItem } from './masking-walk.js';

export { MaskRefusal, type TableRef, type ViewItem } from './masking-walk.js';

export interface MysqlMaskCheckOptions extends MaskCheckOptions {
  /** The session's NO_BACKSLASH_ESCAPES as its server reported it; null when unknown (both readings must agree). */
  noBackslashEscapes: boolean | null;
}

/** information_schema tables that hold no table data (others show statement texts, locks' key values, statistics). */
const INFORMATION_SCHEMA_ALLOWED = new Set(`
tables columns views schemata statistics key_column_usage table_constraints referential_constraints routines parameters
triggers events character_sets collations collation_character_set_applicability engines plugins partitions
check_constraints column_privileges table_privileges schema_privileges user_privileges keywords sql_functions
session_variables global_variables system_variables session_status global_status enabled_roles applicable_roles
tablespaces files
`.split(/\s+/).filter((w) => w !== ''));
/** SHOW statements whose rows can carry values: other sessions' statements, warnings and errors, logs, replication errors. */
const SHOW_REFUSED = new Set(['PROCESSLIST', 'ENGINE', 'BINLOG', 'RELAYLOG', 'WARNINGS', 'ERRORS', 'EXPLAIN', 'ANALYZE', 'SLAVE', 'REPLICA', 'ALL']);
const PROGRAM_OBJECTS = new Set(['VIEW', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'PACKAGE']);
const COMPOUND_FIRST = new Set(['DECLARE', 'IF', 'WHILE', 'LOOP', 'REPEAT', 'CASE', 'LEAVE', 'ITERATE', 'RETURN', 'OPEN', 'FETCH', 'CLOSE']);
const WRITES = new Set(['INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'LOAD']);

/** Refusals for every masked session, whatever the statement names: places values can be read back without a check. */
function alwaysRefused(t: Token[]): string | null {
  const w = t[0];
  if (w === undefined) return null;
  const first = w.type === 'word' ? w.value : '';
  switch (first) {
    case 'CALL':
      return 'CALL runs a stored procedure, which can read masked columns where the gateway cannot follow; run its statements yourself';
    case 'HANDLER':
      return 'HANDLER … READ reads rows outside SELECT, where the gateway cannot tell masked columns; use SELECT';
    case 'LOAD':
      return 'LOAD DATA / LOAD XML can read any file the server can, table files included; an admin can load data without masking';
    case 'PREPARE':
    case 'EXECUTE':
      return 'PREPARE … FROM and EXECUTE run SQL text the gateway cannot check for masked columns; send the statement itself (or use the protocol\'s prepared statements)';
    case 'GET':
      return 'GET DIAGNOSTICS reads the texts of warnings and errors, which can carry masked values; the error itself is shown with values hidden';
    case 'BINLOG':
      return 'BINLOG replays events the gateway cannot check';
    case 'BEGIN':
      if (t.length > 2 || (t.length === 2 && !isWord(t[1], 'WORK'))) return 'compound statements (BEGIN NOT ATOMIC … END) hide their statements from the check; send them one by one';
      break;
    case 'SHOW': {
      const k = isWord(t[1], 'FULL', 'GLOBAL', 'SESSION') ? 2 : 1;
      if (isWord(t[k], ...SHOW_REFUSED)) {
        return `SHOW ${t.slice(1, k + 1).map((x) => x.value).join(' ')} can show values (warnings, errors, other statements, logs) the gateway cannot mask; SHOW COUNT(*) WARNINGS and SHOW COUNT(*) ERRORS give the counts`;
      }
      break;
    }
    case 'CREATE':
    case 'ALTER': {
      const paren = t.findIndex((x) => isPunct(x, '('));
      const obj = t.slice(1, paren === -1 ? t.length : paren).find((x) => isWord(x, ...PROGRAM_OBJECTS));
      if (obj !== undefined) return `${first} ${obj.value} in a masked session: a ${obj.value.toLowerCase()} can read masked columns later, where the gateway cannot follow; an admin can create it without masking`;
      break;
    }
    default:
      if (COMPOUND_FIRST.has(first)) return `${first} belongs in stored programs, which the gateway cannot check for masked columns`;
  }
  if (isWord(w, 'EXPLAIN', 'DESCRIBE', 'DESC') && t.some((x, k) => isWord(x, 'FOR') && isWord(t[k + 1], 'CONNECTION'))) return 'EXPLAIN FOR CONNECTION shows another session\'s statement';
  for (let k = 0; k + 2 < t.length; k++) {
    const x = t[k]!;
    if (!isIdent(x) || !isPunct(t[k + 1], '.') || isPunct(t[k - 1], '.')) continue;
    const schema = lower(x);
    if (schema === 'mysql' || schema === 'performance_schema' || schema === 'sys') return `${schema}.* holds statement texts, logs and column statistics that can carry masked values`;
    if (schema === 'information_schema' && isIdent(t[k + 2]) && !INFORMATION_SCHEMA_ALLOWED.has(lower(t[k + 2]!))) return `information_schema.${t[k + 2]!.value} can carry values (statement texts, locked keys, column statistics, optimizer traces)`;
  }
  // Stored functions (and LOAD_FILE) read what they like. DDL takes type names with `(` for calls: its own SELECT is checked.
  let calls: string[];
  if (isWord(w, 'CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE')) {
    const sel = t.findIndex((x) => isWord(x, 'SELECT'));
    calls = sel === -1 ? [] : functionCalls(t.slice(sel));
  } else if (isWord(w, 'INSERT', 'REPLACE')) {
    let k = 1;
    while (isWord(t[k], 'LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'INTO')) k++;
    // The target's name before its column list is no call.
    let end = k;
    while (isIdent(t[end]) && isPunct(t[end + 1], '.')) end += 2;
    calls = functionCalls(t.filter((_, i) => i !== end));
  } else {
    calls = functionCalls(t);
  }
  for (const name of calls) {
    if (name === 'load_file') return 'LOAD_FILE reads files on the database server, table files included';
    if (MYSQL_SAFE_FUNCTIONS.has(name) || name === 'against' || (name in MYSQL_STATEFUL_FUNCTIONS && !name.includes('.'))) continue;
    return `${name.replace(/`/g, '')} is not a built-in function, and a stored function can read masked columns where the gateway cannot follow (a built-in written quoted or with a space before "(" counts as stored)`;
  }
  return null;
}

function readings(sql: string, noBackslashEscapes: boolean | null): LexedStatement[][] {
  const seen: VersionComment[] = [];
  const primary = lexMysqlSafely(sql, noBackslashEscapes, { seen });
  return [primary, ...(seen.length > 0 ? otherReadings(seen).map((executes) => lexMysqlSafely(sql, noBackslashEscapes, { executes })) : [])];
}

function checkStatement(tokens: Token[], catalog: MysqlMaskCatalog, opts: MaskCheckOptions): boolean {
  const always = alwaysRefused(tokens);
  if (always !== null) throw new MaskRefusal('', `${always}`);
  const walk = new Walk(tokens, catalog, opts);
  const first = tokens[0]!;
  const write = WRITES.has(first.type === 'word' ? first.value : '') || (isWord(first, 'WITH') && tokens.some((x) => isWord(x, 'UPDATE', 'DELETE')));
  walk.relations(write);
  if (walk.relAt.length === 0) return false;
  walk.statement(0, tokens.length);
  walk.leftovers();
  return !walk.plan;
}

/**
 * Whether one SQL text (one or more statements) may run in a session with this catalog. `masked`: a result may carry
 * masked columns as plain columns, so the gateway decodes its column definitions and masks those rows.
 */
export function checkMysqlMasking(sql: string, catalog: MysqlMaskCatalog, opts: MysqlMaskCheckOptions): MaskVerdict {
  if (catalog.empty) return { ok: true, masked: false };
  let all: LexedStatement[][];
  try {
    all = readings(sql, opts.noBackslashEscapes);
  } catch (err) {
    return { ok: false, column: '', message: `the gateway could not read the statement (${err instanceof Error ? err.message : String(err)}), and in a session with masked columns it runs only statements it can check` };
  }
  let masked = false;
  try {
    for (const statements of all) for (const s of statements) masked = checkStatement(s.tokens, catalog, opts) || masked;
  } catch (err) {
    if (err instanceof MaskRefusal) return { ok: false, column: err.column, message: err.message };
    throw err;
  }
  return { ok: true, masked };
}

/**
 * A view's definition as information_schema.VIEWS stores it, checked like a statement whose result is the view's
 * columns: its top-level plain column items (alias → source) and table references, or why reading it must be refused.
 */
export function readViewDefinition(sql: string, catalog: MysqlMaskCatalog, opts: MysqlMaskCheckOptions): { ok: true; items: ViewItem[]; refs: TableRef[] } | { ok: false; message: string } {
  try {
    const statements = lexMysqlSafely(sql, opts.noBackslashEscapes);
    if (statements.length !== 1) return { ok: false, message: 'has a definition the gateway cannot read' };
    const tokens = statements[0]!.tokens;
    const walk = new Walk(tokens, catalog, opts);
    walk.relations(false);
    if (walk.relAt.length === 0) return { ok: true, items: [], refs: [] };
    walk.query(0, tokens.length, 'view');
    walk.leftovers();
    return { ok: true, items: walk.viewItems, refs: walk.viewRefs };
  } catch (err) {
    if (err instanceof MaskRefusal) {
      const what = err.column === '' ? 'reads masked columns in a way the gateway cannot follow' : `computes a value from masked column ${err.column} (in an expression, a function, a subquery or a UNION), which the server reports without its origin`;
      return { ok: false, message: `${what}; read the tables it is built on instead` };
    }
    return { ok: false, message: `has a definition the gateway cannot read (${err instanceof Error ? err.message : String(err)})` };
  }
}
