// One pass over a whole parse tree that finds everything able to write, wherever it hides (CTE, subquery, LATERAL, argument).

import { sideEffectOf } from './side-effects.js';

export interface TreeFindings {
  /** First data-modifying statement met anywhere, as an SQL verb. */
  dml: 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE' | null;
  /** How many data-modifying statements were met (the top-level one counts). */
  dmlCount: number;
  /** First row-locking clause, e.g. 'FOR UPDATE'. */
  locking: string | null;
  /** A SELECT ... INTO anywhere (it creates a table). */
  selectInto: boolean;
  /** A CREATE TABLE AS anywhere (only EXPLAIN can nest one). */
  createTableAs: boolean;
  /** First side-effect function called, with why it is refused. */
  sideEffect: { name: string; why: string } | null;
  /** First UPDATE or DELETE without a WHERE clause. */
  unqualified: 'UPDATE' | 'DELETE' | null;
  /** Every name the statement may call or read through, for the function rule (see function-rules.ts). */
  refs: NameRefs;
}

/**
 * Names whose meaning depends on the database: functions in call syntax (`schema.name` when qualified), names
 * in attribute position (`t.name`, `(expr).name`), which PostgreSQL calls as functions when no column matches,
 * explicit operators, and relations read.
 */
export interface NameRefs {
  calls: string[];
  attributes: string[];
  operators: string[];
  relations: string[];
}

const DML: Readonly<Record<string, 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE'>> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
};

const STRENGTH: Readonly<Record<string, string>> = {
  LCS_FORUPDATE: 'FOR UPDATE',
  LCS_FORNOKEYUPDATE: 'FOR NO KEY UPDATE',
  LCS_FORSHARE: 'FOR SHARE',
  LCS_FORKEYSHARE: 'FOR KEY SHARE',
};

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null;
}

/** The unqualified name of a FuncCall: the parser already lower-cased unquoted identifiers. */
export function funcName(call: unknown): string | null {
  if (!isObj(call) || !Array.isArray(call.funcname) || call.funcname.length === 0) return null;
  const last: unknown = call.funcname[call.funcname.length - 1];
  if (!isObj(last) || !isObj(last.String)) return null;
  const sval = last.String.sval;
  return typeof sval === 'string' ? sval : null;
}

/**
 * Visits every object and array below root with an explicit stack, so a deeply nested tree cannot overflow the
 * JS stack. The tree is libpg-query's JSON: each node is a one-key object named after its type, which is why
 * looking at keys is enough to recognise InsertStmt, FuncCall, LockingClause, ... at any depth.
 */
export function walkTree(root: unknown): TreeFindings {
  const f: TreeFindings = {
    dml: null, dmlCount: 0, locking: null, selectInto: false, createTableAs: false, sideEffect: null, unqualified: null,
    refs: { calls: [], attributes: [], operators: [], relations: [] },
  };
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (isObj(v[i])) stack.push(v[i]);
      continue;
    }
    if (!isObj(v)) continue;
    for (const key in v) {
      const child = v[key];
      if (!isObj(child)) continue;
      const verb = DML[key];
      if (verb !== undefined) noteDml(f, verb, child);
      else if (key === 'FuncCall') noteFunc(f, child, child.funcname);
      else if (key === 'RangeTableSample') noteFunc(f, child, child.method);
      else if (key === 'ColumnRef') noteFields(f, child.fields, 1);
      else if (key === 'A_Indirection') noteFields(f, child.indirection, 0);
      else if (key === 'A_Expr') noteOperator(f, child);
      else if (key === 'SubLink' && Array.isArray(child.operName)) addRef(f.refs.operators, qualifiedName(child.operName));
      else if (key === 'RangeVar') addRef(f.refs.relations, relationName(child));
      // Typed RangeVar fields carry no wrapper key (COPY t TO applies t's row policies).
      else if ((key === 'relation' || key === 'rel') && typeof child.relname === 'string') addRef(f.refs.relations, relationName(child));
      else if (key === 'LockingClause') f.locking ??= STRENGTH[String(child.strength)] ?? 'FOR UPDATE';
      else if (key === 'SelectStmt' && isObj(child.intoClause)) f.selectInto = true;
      else if (key === 'CreateTableAsStmt') f.createTableAs = true;
      stack.push(child);
    }
  }
  return f;
}

function noteDml(f: TreeFindings, verb: 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE', body: Obj): void {
  f.dml ??= verb;
  f.dmlCount++;
  if ((verb === 'UPDATE' || verb === 'DELETE') && !isObj(body.whereClause)) f.unqualified ??= verb;
}

function noteFunc(f: TreeFindings, call: Obj, nameList: unknown): void {
  const qualified = qualifiedName(nameList);
  if (qualified === null) return;
  addRef(f.refs.calls, qualified);
  if (f.sideEffect !== null) return;
  const name = funcName(call) ?? qualified.slice(qualified.lastIndexOf('.') + 1);
  const why = sideEffectOf(name);
  if (why !== null) f.sideEffect = { name, why };
}

/** Every String field from `from` on: `t.fn` and `(x).fn` call fn(t) and fn(x) when no column is named fn. */
function noteFields(f: TreeFindings, fields: unknown, from: number): void {
  if (!Array.isArray(fields)) return;
  for (let i = from; i < fields.length; i++) {
    const v: unknown = fields[i];
    if (isObj(v) && isObj(v.String) && typeof v.String.sval === 'string') {
      const name = v.String.sval;
      addRef(f.refs.attributes, name);
      if (f.sideEffect === null) {
        const why = sideEffectOf(name);
        if (why !== null) f.sideEffect = { name, why };
      }
    }
  }
}

/** A_Expr kinds whose name is an operator; BETWEEN is spelled with >= and <=. */
const OPERATOR_KINDS = new Set(['AEXPR_OP', 'AEXPR_OP_ANY', 'AEXPR_OP_ALL', 'AEXPR_DISTINCT', 'AEXPR_NOT_DISTINCT', 'AEXPR_NULLIF', 'AEXPR_IN', 'AEXPR_LIKE', 'AEXPR_ILIKE', 'AEXPR_SIMILAR']);

function noteOperator(f: TreeFindings, e: Obj): void {
  const kind = String(e.kind);
  if (OPERATOR_KINDS.has(kind)) addRef(f.refs.operators, qualifiedName(e.name));
  else if (kind.startsWith('AEXPR_BETWEEN') || kind.startsWith('AEXPR_NOT_BETWEEN')) {
    addRef(f.refs.operators, '>=');
    addRef(f.refs.operators, '<=');
  }
}

/** `name` or `schema.name` from a list of String nodes; null when the list holds anything else. */
export function qualifiedName(list: unknown): string | null {
  if (!Array.isArray(list) || list.length === 0) return null;
  const parts: string[] = [];
  for (const v of list) {
    if (!isObj(v) || !isObj(v.String) || typeof v.String.sval !== 'string') return null;
    parts.push(v.String.sval);
  }
  // A catalog-qualified name (db.schema.name) names the current database or fails; the last two parts decide.
  return parts.slice(-2).join('.');
}

function relationName(rv: Obj): string | null {
  if (typeof rv.relname !== 'string') return null;
  return typeof rv.schemaname === 'string' ? `${rv.schemaname}.${rv.relname}` : rv.relname;
}

function addRef(list: string[], name: string | null): void {
  if (name !== null && !list.includes(name)) list.push(name);
}
