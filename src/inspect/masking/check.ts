// The statement check of a masked session: which statement kinds may run, the fast path for statements that reach no
// masked column, and the full analysis for the rest; verdicts are cached per catalog by SQL text.
import { isInspectReady } from '../analysis.js';
import { NON_VOLATILE_BUILTINS, VOLATILE_BUILTINS } from '../pg-builtin-functions.js';
import { parseSync } from '../pg-parser.js';
import { isObj, walkTree, type Obj } from '../tree-walk.js';
import { nodeOf, value, derive, refusedBuiltin } from './expr.js';
import { refuseCopy, refuseServerCopy, refuseStatement, refuseUnparsed, refuseUse } from './messages.js';
import { MaskRefusal, inClause, sourceOf, type Ctx } from './model.js';
import { analyzeSelect, relationItem, type QueryOut } from './query.js';
import { analyzeDml } from './dml.js';
import { newLevel } from './scope.js';
import type { MaskCheckOptions, MaskVerdict } from './types.js';
import type { PgMaskCatalog } from './catalog.js';

/** Statements that neither read tables nor change the schema: nothing to check. */
const PLAIN: ReadonlySet<string> = new Set([
  'TransactionStmt', 'VariableSetStmt', 'VariableShowStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'LockStmt',
  'DiscardStmt', 'ConstraintsSetStmt', 'TruncateStmt', 'VacuumStmt', 'RefreshMatViewStmt', 'ReindexStmt',
  'ClusterStmt', 'CheckPointStmt', 'ClosePortalStmt', 'DeallocateStmt',
]);

const CHECKED: ReadonlySet<string> = new Set([
  'SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'ExplainStmt', 'DeclareCursorStmt',
  'PrepareStmt', 'CopyStmt',
]);

/** The result columns of a statement that returns rows: masked ones are fine, derived ones are refused. */
function results(out: QueryOut, ctx: Ctx): boolean {
  let masked = false;
  for (const c of out.cols) {
    if (c.prov === null) continue;
    if (c.prov.kind === 'derived') refuseUse(ctx, c.prov, '');
    masked = true;
  }
  if (out.open && out.openProv !== null) refuseUse(ctx, out.openProv, '');
  return masked;
}

const VERBS: Readonly<Record<string, string>> = {
  ViewStmt: 'CREATE VIEW', IndexStmt: 'CREATE INDEX', RuleStmt: 'CREATE RULE', DefineStmt: 'CREATE', CompositeTypeStmt: 'CREATE TYPE',
  CreateStmt: 'CREATE TABLE', CreateTableAsStmt: 'CREATE TABLE AS', RenameStmt: 'ALTER … RENAME', CommentStmt: 'COMMENT ON',
  GrantStmt: 'GRANT', GrantRoleStmt: 'GRANT', SecLabelStmt: 'SECURITY LABEL', CreateFunctionStmt: 'CREATE FUNCTION',
};

function verbOf(type: string): string {
  return VERBS[type] ?? type.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** COPY to or from a server file or a program: nothing the gateway sees, whatever the table. */
function isServerCopy(b: Obj): boolean {
  return b.is_program === true || typeof b.filename === 'string';
}

function copy(b: Obj, ctx: Ctx): boolean {
  if (isServerCopy(b)) refuseServerCopy(b.is_program === true);
  const q = nodeOf(b.query);
  if (q !== null) {
    ctx.copy = true;
    try {
      statement(b.query, ctx);
    } finally {
      ctx.copy = false;
    }
    return false;
  }
  if (b.is_from === true || !isObj(b.relation)) return false;
  const item = relationItem(b.relation, newLevel(null), ctx);
  const wanted = Array.isArray(b.attlist) ? new Set((b.attlist as unknown[]).map((a) => String(nodeOf(a)?.[1].sval ?? ''))) : null;
  for (const c of item.cols) {
    if (c.prov !== null && (wanted === null || wanted.has(c.name))) refuseCopy(sourceOf(c.prov));
  }
  return false;
}

/** Checks one statement node; true when a result column may carry a masked value. */
function statement(node: unknown, ctx: Ctx): boolean {
  const n = nodeOf(node);
  if (n === null) return false;
  const [type, b] = n;
  switch (type) {
    case 'SelectStmt':
      if (isObj(b.intoClause)) refuseStatement(ctx, 'SELECT … INTO', 'creates a table, which could copy a masked column out of reach of its rule; select the columns instead');
      return results(analyzeSelect(b, null, ctx), ctx);
    case 'InsertStmt': case 'UpdateStmt': case 'DeleteStmt': case 'MergeStmt':
      return results(analyzeDml(type, b, null, ctx), ctx);
    case 'ExplainStmt':
      // The plan is the result, not the rows; the statement is checked as if it ran (EXPLAIN ANALYZE runs it).
      statement(b.query, ctx);
      return false;
    case 'DeclareCursorStmt': case 'PrepareStmt':
      return statement(b.query, ctx);
    case 'CopyStmt':
      return copy(b, ctx);
    case 'ExecuteStmt':
      inClause(ctx, 'EXECUTE', () => derive(ctx, value(b.params, newLevel(null), ctx), 'an EXECUTE parameter'));
      return true;
    case 'FetchStmt':
      // A cursor's rows carry the origins of its query, which was checked at DECLARE.
      return b.ismove !== true;
    case 'CallStmt':
    case 'DoStmt':
      return refuseStatement(ctx, type === 'CallStmt' ? 'CALL' : 'DO', 'runs code of the database (or given inline) that could read masked columns and return or store them unmasked');
  }
  if (PLAIN.has(type)) return false;
  return refuseStatement(ctx, verbOf(type), 'changes the schema or the server, which could move a masked column out of reach of its rule (renaming it, copying it into a new table or view) or run code that reads it; an admin can make the change');
}

function isBuiltin(name: string): boolean {
  return NON_VOLATILE_BUILTINS.has(name) || VOLATILE_BUILTINS.has(name);
}

/** True when no statement in the text can reach a masked column: no sensitive or unknown relation, no user code. */
function fastPath(stmts: readonly unknown[], catalog: PgMaskCatalog): boolean {
  for (const s of stmts) {
    const n = nodeOf(s);
    if (n === null) continue;
    if (!PLAIN.has(n[0]) && !CHECKED.has(n[0])) return false;
    if (n[0] === 'SelectStmt' && isObj(n[1].intoClause)) return false;
    if (n[0] === 'CopyStmt' && isServerCopy(n[1])) return false;
  }
  const found = walkTree(stmts);
  // EXPLAIN ANALYZE can run a CREATE TABLE AS or a SELECT … INTO: DDL, which the full check refuses.
  if (found.selectInto || found.createTableAs) return false;
  const refs = found.refs;
  for (const r of refs.relations) if (!catalog.isClearRelation(r)) return false;
  for (const c of refs.calls) {
    const dot = c.lastIndexOf('.');
    const schema = dot > 0 ? c.slice(0, dot) : null;
    const name = dot > 0 ? c.slice(dot + 1) : c;
    if (!isBuiltin(name) || refusedBuiltin(name)) return false;
    if (schema === null ? catalog.userFunctions.has(name) : schema !== 'pg_catalog') return false;
  }
  for (const a of refs.attributes) if (catalog.userFunctions.has(a)) return false;
  for (const o of refs.operators) if (o.includes('.') ? !o.startsWith('pg_catalog.') : catalog.userOperators.has(o)) return false;
  return true;
}

const OK_CLEAR: MaskVerdict = Object.freeze({ ok: true, masked: false });
const OK_MASKED: MaskVerdict = Object.freeze({ ok: true, masked: true });

function errorText(e: unknown): string {
  const raw = e instanceof RangeError ? 'the statement is nested too deeply to check' : e instanceof Error ? e.message : String(e);
  const line = raw.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** The verdict for one SQL text, without the cache. */
export function checkText(sql: string, catalog: PgMaskCatalog, opts: MaskCheckOptions): MaskVerdict {
  if (!isInspectReady()) throw new Error('inspect: the SQL parser is not loaded; await initInspect() before checking statements');
  const ctx: Ctx = { src: catalog, strict: true, predicates: opts.predicates, role: catalog.role, copy: false, clause: 'select list' };
  try {
    if (sql.includes('\0')) refuseUnparsed('the statement contains a NUL character');
    let stmts: unknown[];
    try {
      stmts = (parseSync(sql).stmts ?? []).map((s) => s.stmt);
    } catch (e) {
      return refuseUnparsed(errorText(e));
    }
    if (fastPath(stmts, catalog)) return OK_CLEAR;
    let masked = false;
    for (const s of stmts) masked = statement(s, ctx) || masked;
    return masked ? OK_MASKED : OK_CLEAR;
  } catch (e) {
    if (e instanceof MaskRefusal) return Object.freeze({ ok: false, column: e.column, message: e.message });
    // Fail closed: a statement the check could not finish (too deep for the stack, or a tree shape it trips on) is refused.
    const why = e instanceof RangeError ? errorText(e) : `the gateway could not check it (${errorText(e)})`;
    return Object.freeze({ ok: false, column: '', message: `airlock: statement refused by rule masking: ${why} for masked columns` });
  }
}
