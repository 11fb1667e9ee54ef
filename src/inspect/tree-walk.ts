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
      else if (key === 'FuncCall') noteFunc(f, child);
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

function noteFunc(f: TreeFindings, call: Obj): void {
  if (f.sideEffect !== null) return;
  const name = funcName(call);
  if (name === null) return;
  const why = sideEffectOf(name);
  if (why !== null) f.sideEffect = { name, why };
}
