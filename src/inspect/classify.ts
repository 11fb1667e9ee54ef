// Classifies one parsed statement: its kind, whether it can write, why, and whether it updates or deletes every row.

import { IDENTITY_SETTINGS, READ_ONLY_SETTINGS, isTrueSetting } from './side-effects.js';
import { walkTree, isObj, type Obj, type TreeFindings } from './tree-walk.js';
import { textSettingRisk } from './text-settings.js';
import type { CursorOp } from './cursors.js';
import { functionFacts, type FunctionFacts } from './function-rules.js';

export interface StatementInfo {
  kind: string;
  writes: boolean;
  /** DECLARE, FETCH, MOVE and CLOSE of a SQL cursor: max_rows counts a cursor's rows over all its FETCHes. */
  cursor?: CursorOp;
  /**
   * It may write though its kind acts only on the session: it calls a function the inspector cannot show to only
   * read (MySQL's SET and SHOW … WHERE take expressions), or a server that skips a version comment reads it as a
   * statement that writes. Statement review holds it.
   */
  calls?: boolean;
}

/** What the guardrails need to know about one statement; plain data so it can cross a worker boundary and sit in the cache. */
export interface StatementFacts {
  info: StatementInfo;
  /** Completes "this role is read-only and …" when writes is true. */
  reason: string | null;
  /** An UPDATE or DELETE without WHERE that would run (not one under plain EXPLAIN). */
  unqualified: 'UPDATE' | 'DELETE' | null;
  /** Set when the statement changes how the server reads statement text (refused under any guardrail). */
  textRisk?: string | null;
  /** Its decision depends on a constant's value (a set_config() call): never reuse it for a text of the same shape. */
  constantSensitive?: boolean;
  /** The functions, operators and relations it reaches, for the read-only function rule and hidden_sql. */
  functions?: FunctionFacts;
}


/** Statement types that can neither write nor change the session's identity, by their fixed kind word. */
const PLAIN_KINDS: Readonly<Record<string, string>> = {
  VariableShowStmt: 'show',
  ListenStmt: 'listen',
  UnlistenStmt: 'unlisten',
  FetchStmt: 'fetch',
  ClosePortalStmt: 'close',
  DeallocateStmt: 'deallocate',
  ConstraintsSetStmt: 'set',
};

/** Statement types that always write or act on the server, with their kind word and the reason. */
const WRITING_KINDS: Readonly<Record<string, readonly [string, string]>> = {
  TruncateStmt: ['truncate', 'TRUNCATE deletes every row'],
  DoStmt: ['do', 'a DO block can run any code, including writes'],
  CallStmt: ['call', 'CALL runs a procedure, which can write'],
  ExecuteStmt: ['execute', 'EXECUTE runs a prepared statement whose text the gateway cannot see; send the statement itself instead'],
  NotifyStmt: ['notify', 'NOTIFY sends a notification to other sessions'],
  CommentStmt: ['comment', 'COMMENT ON changes the catalog'],
  SecLabelStmt: ['security_label', 'SECURITY LABEL changes the catalog'],
  ReindexStmt: ['reindex', 'REINDEX rebuilds indexes'],
  ClusterStmt: ['cluster', 'CLUSTER rewrites a table'],
  RefreshMatViewStmt: ['refresh', 'REFRESH MATERIALIZED VIEW rewrites a view\'s data'],
  CheckPointStmt: ['checkpoint', 'CHECKPOINT acts on the whole server'],
  LoadStmt: ['load', 'LOAD loads a library into the server'],
  ReassignOwnedStmt: ['alter', 'REASSIGN OWNED changes object ownership'],
  RenameStmt: ['alter', 'ALTER ... RENAME changes the schema'],
  IndexStmt: ['create', 'CREATE INDEX changes the schema'],
  ViewStmt: ['create', 'CREATE VIEW changes the schema'],
  RuleStmt: ['create', 'CREATE RULE changes the schema'],
  DefineStmt: ['create', 'CREATE changes the schema'],
  CompositeTypeStmt: ['create', 'CREATE TYPE changes the schema'],
  ImportForeignSchemaStmt: ['create', 'IMPORT FOREIGN SCHEMA changes the schema'],
  CreateTableAsStmt: ['create', 'CREATE TABLE AS creates a table'],
};

/** Classifies the statement wrapped in a RawStmt's `stmt` (a one-key object named after the statement type). */
export function classifyStatement(node: unknown): StatementFacts {
  let facts = classifyKind(node);
  const risk = textSettingRisk(node);
  if (risk !== null) facts = { ...facts, textRisk: risk };
  const functions = functionFacts(walkTree(node).refs);
  if (functions.unsafe !== null && !facts.info.writes) {
    facts = { ...facts, info: { kind: facts.info.kind, writes: true }, reason: `the function ${functions.unsafe.name} ${functions.unsafe.why}` };
  }
  return { ...facts, functions };
}

function classifyKind(node: unknown): StatementFacts {
  if (!isObj(node)) return other('an empty statement node');
  const type = Object.keys(node)[0] ?? '';
  const body = node[type];
  const b: Obj = isObj(body) ? body : {};
  switch (type) {
    case 'SelectStmt': return classifySelect(node, b);
    case 'InsertStmt': return dml(node, 'insert', 'INSERT');
    case 'UpdateStmt': return dml(node, 'update', 'UPDATE');
    case 'DeleteStmt': return dml(node, 'delete', 'DELETE');
    case 'MergeStmt': return dml(node, 'merge', 'MERGE');
    case 'ExplainStmt': return classifyExplain(b);
    case 'PrepareStmt': return classifyPrepare(b);
    case 'DeclareCursorStmt': return fromTree('declare', walkTree(b.query));
    case 'CopyStmt': return classifyCopy(node, b);
    case 'TransactionStmt': return classifyTransaction(b);
    case 'VariableSetStmt': return classifySet(b);
    case 'DiscardStmt':
      // DISCARD ALL runs SET SESSION AUTHORIZATION DEFAULT and RESET ALL, the same escape as RESET ROLE.
      return b.target === 'DISCARD_ALL'
        ? writes('discard', 'DISCARD ALL resets the session\'s role and settings, which the gateway may rely on')
        : reads('discard');
    case 'LockStmt':
      // Mode 1 is ACCESS SHARE, what a plain SELECT takes; anything stronger blocks other sessions' work.
      return b.mode === 1 ? reads('lock') : writes('lock', 'LOCK in a mode stronger than ACCESS SHARE blocks other sessions');
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return b.is_grant === true ? writes('grant', 'GRANT changes privileges') : writes('revoke', 'REVOKE changes privileges');
    case 'VacuumStmt':
      return b.is_vacuumcmd === true ? writes('vacuum', 'VACUUM acts on tables') : writes('analyze', 'ANALYZE writes table statistics');
  }
  const plain = PLAIN_KINDS[type];
  if (plain !== undefined) return reads(plain);
  const fixed = WRITING_KINDS[type];
  if (fixed !== undefined) return { info: { kind: fixed[0], writes: true }, reason: fixed[1], unqualified: null };
  if (type.startsWith('Create')) return writes('create', 'CREATE changes the schema');
  if (type.startsWith('Drop')) return writes('drop', 'DROP removes database objects');
  if (type.startsWith('Alter')) return writes('alter', 'ALTER changes the schema or the server');
  return other(`${type.replace(/Stmt$/, '')} statements are not known to be read-only`);
}

function reads(kind: string): StatementFacts {
  return { info: { kind, writes: false }, reason: null, unqualified: null };
}

function writes(kind: string, reason: string): StatementFacts {
  return { info: { kind, writes: true }, reason, unqualified: null };
}

function other(reason: string): StatementFacts {
  // Unknown statement types fail closed: they count as writes.
  return writes('other', reason);
}

/** Reason text for what the tree walk found, in order of how plainly it writes. */
function treeReason(f: TreeFindings): string | null {
  if (f.dml !== null) return `the statement contains a data-modifying ${f.dml} (in a WITH clause or subquery)`;
  if (f.selectInto) return 'SELECT INTO creates a table';
  if (f.createTableAs) return 'CREATE TABLE AS creates a table';
  if (f.locking !== null) return `SELECT ... ${f.locking} locks rows the way a write does`;
  if (f.sideEffect !== null) return `the function ${f.sideEffect.name} ${f.sideEffect.why}`;
  return null;
}

function fromTree(kind: string, f: TreeFindings): StatementFacts {
  const reason = treeReason(f);
  return { info: { kind, writes: reason !== null }, reason, unqualified: f.unqualified };
}

function classifySelect(node: Obj, b: Obj): StatementFacts {
  const f = walkTree(node);
  // SELECT INTO is CREATE TABLE AS in another spelling; deny_kinds ['create'] must catch it too.
  return fromTree(isObj(b.intoClause) ? 'create' : 'select', f);
}

function dml(node: Obj, kind: string, verb: string): StatementFacts {
  const f = walkTree(node);
  return { info: { kind, writes: true }, reason: `${verb} writes data`, unqualified: f.unqualified };
}

function analyzeIsOn(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  for (const o of options) {
    const d: unknown = isObj(o) ? o.DefElem : undefined;
    if (!isObj(d) || d.defname !== 'analyze') continue;
    // EXPLAIN (ANALYZE) and ANALYZE on/true/1 all run the statement; only an explicit false turns it off.
    const arg = d.arg;
    if (!isObj(arg)) return true;
    if (isObj(arg.String)) return isTrueSetting(String(arg.String.sval ?? ''));
    if (isObj(arg.Integer)) return (arg.Integer.ival ?? 0) !== 0;
    if (isObj(arg.Boolean)) return arg.Boolean.boolval === true;
    return true;
  }
  return false;
}

function classifyExplain(b: Obj): StatementFacts {
  if (analyzeIsOn(b.options)) {
    const inner = classifyStatement(b.query);
    const reason = inner.reason === null ? null : `EXPLAIN ANALYZE runs the statement it explains, and ${inner.reason}`;
    return { info: { kind: 'explain', writes: inner.info.writes }, reason, unqualified: inner.unqualified };
  }
  // Plain EXPLAIN only plans. Side-effect functions stay refused anyway: the planner folds functions it
  // believes constant, and nobody needs to EXPLAIN pg_terminate_backend badly enough to take that risk.
  const f = walkTree(b.query);
  const reason = f.sideEffect === null ? null : `the function ${f.sideEffect.name} ${f.sideEffect.why}`;
  return { info: { kind: 'explain', writes: reason !== null }, reason, unqualified: null };
}

function classifyPrepare(b: Obj): StatementFacts {
  const inner = classifyStatement(b.query);
  const reason = inner.reason === null ? null : `PREPARE defines a statement in which ${inner.reason}`;
  return { info: { kind: 'prepare', writes: inner.info.writes }, reason, unqualified: inner.unqualified };
}

function classifyCopy(node: Obj, b: Obj): StatementFacts {
  if (b.is_from === true) return writes('copy', 'COPY FROM loads data into a table');
  if (b.is_program === true) return writes('copy', 'COPY TO PROGRAM runs a program on the database server');
  if (typeof b.filename === 'string') return writes('copy', 'COPY TO a file writes on the database server; use COPY ... TO STDOUT');
  // COPY (DELETE ... RETURNING *) TO STDOUT is legal, so the query is walked like any other.
  return fromTree('copy', walkTree(node));
}

/** The value of a transaction_read_only DefElem: 1 means READ ONLY; anything else is treated as READ WRITE. */
function asksReadWrite(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  for (const o of options) {
    const d: unknown = isObj(o) ? o.DefElem : undefined;
    if (!isObj(d) || d.defname !== 'transaction_read_only') continue;
    const c: unknown = isObj(d.arg) ? d.arg.A_Const : undefined;
    const ival: unknown = isObj(c) && isObj(c.ival) ? c.ival.ival ?? 0 : undefined;
    if (ival !== 1) return true;
  }
  return false;
}

function classifyTransaction(b: Obj): StatementFacts {
  switch (b.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return asksReadWrite(b.options) ? writes('begin', 'the statement asks for a read-write transaction') : reads('begin');
    case 'TRANS_STMT_COMMIT': return reads('commit');
    case 'TRANS_STMT_ROLLBACK':
    case 'TRANS_STMT_ROLLBACK_TO': return reads('rollback');
    case 'TRANS_STMT_SAVEPOINT': return reads('savepoint');
    case 'TRANS_STMT_RELEASE': return reads('release');
    // Prepared transactions outlive the session, and COMMIT PREPARED can commit another session's writes.
    case 'TRANS_STMT_PREPARE': return writes('prepare', 'PREPARE TRANSACTION keeps a transaction open after the session');
    case 'TRANS_STMT_COMMIT_PREPARED': return writes('commit', 'COMMIT PREPARED commits a prepared transaction, which may hold writes');
    case 'TRANS_STMT_ROLLBACK_PREPARED': return writes('rollback', 'ROLLBACK PREPARED ends a prepared transaction of another session');
  }
  return other('this transaction statement is not known to be read-only');
}

/** Session settings a read-only role keeps as it logged in with, and why. */
const PINNED_SETTINGS: Readonly<Record<string, string>> = {
  search_path: 'changes which schema\'s functions and tables unqualified names mean, and the gateway checks them as pg_catalog first; qualify names instead',
};

/** True when the single value of SET x = value reads as on/true for PostgreSQL's bool parser. */
function setValueIsTrue(args: unknown): boolean {
  if (!Array.isArray(args) || args.length !== 1) return false;
  const c: unknown = isObj(args[0]) ? args[0].A_Const : undefined;
  if (!isObj(c)) return false;
  if (isObj(c.sval)) return isTrueSetting(String(c.sval.sval ?? ''));
  if (isObj(c.ival)) return (c.ival.ival ?? 0) === 1;
  if (isObj(c.boolval)) return c.boolval.boolval === true;
  return false;
}

function classifySet(b: Obj): StatementFacts {
  const setKind = String(b.kind);
  if (setKind === 'VAR_RESET_ALL') {
    return writes('set', 'RESET ALL can undo read-only settings the gateway applied to the session');
  }
  if (setKind === 'VAR_SET_MULTI') {
    // SET TRANSACTION ... / SET SESSION CHARACTERISTICS AS TRANSACTION ...
    return asksReadWrite(b.args) ? writes('set', 'the statement asks for read-write transactions') : reads('set');
  }
  const name = String(b.name ?? '').toLowerCase();
  const verb = setKind === 'VAR_RESET' ? 'RESET' : 'SET';
  if (IDENTITY_SETTINGS.has(name)) {
    const shown = name === 'role' ? 'ROLE' : 'SESSION AUTHORIZATION';
    return writes('set', `${verb} ${shown} changes the database role the session acts as`);
  }
  if (READ_ONLY_SETTINGS.has(name) && !(setKind === 'VAR_SET_VALUE' && setValueIsTrue(b.args))) {
    return writes('set', `${verb} ${name} can turn read-only transactions off`);
  }
  // RESET returns to the value the gateway checked at login; any other change lasts past the statement.
  if (setKind !== 'VAR_RESET' && PINNED_SETTINGS[name] !== undefined) return writes('set', `${verb} ${name} ${PINNED_SETTINGS[name]}`);
  return reads('set');
}
