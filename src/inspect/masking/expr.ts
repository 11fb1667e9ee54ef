// Where a masked value may go inside one expression: a plain operand of a comparison in a condition, a sort or group
// key, the argument of count(); anything that computes with it derives a value the gateway could not mask.
import { hiddenSqlOf } from '../function-rules.js';
import { NON_VOLATILE_BUILTINS, VOLATILE_BUILTINS } from '../pg-builtin-functions.js';
import { funcName, isObj, qualifiedName, type Obj } from '../tree-walk.js';
import { refuseAttribute, refuseCopy, refuseHiddenSql, refusePredicate, refuseStatistics, refuseUse, refuseUserFunction } from './messages.js';
import { inClause, sourceOf, worse, type Ctx, type Derived, type Prov } from './model.js';
import { resolveRef, wholeRow, type Level } from './scope.js';
import { analyzeSelect, type OutCol } from './query.js';

/** The node's type and body: libpg-query wraps every node in a one-key object named after its type. */
export function nodeOf(v: unknown): [string, Obj] | null {
  if (!isObj(v) || Array.isArray(v)) return null;
  const keys = Object.keys(v);
  if (keys.length !== 1) return null;
  const type = keys[0]!;
  const body = v[type];
  if (!/^[A-Z]/.test(type) || !isObj(body)) return null;
  return [type, body];
}

export function isComparison(op: string): boolean {
  return COMPARISONS.has(op);
}

/** Comparison operators whose plain operands a condition may be (LIKE is ~~, SIMILAR TO is ~ with an escape call, ^@ starts with). */
const COMPARISONS: ReadonlySet<string> = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '~~', '~~*', '!~~', '!~~*', '~', '~*', '!~', '!~*', '^@']);

const CONDITION_KINDS: ReadonlySet<string> = new Set([
  'AEXPR_OP', 'AEXPR_OP_ANY', 'AEXPR_OP_ALL', 'AEXPR_DISTINCT', 'AEXPR_NOT_DISTINCT', 'AEXPR_IN', 'AEXPR_LIKE',
  'AEXPR_ILIKE', 'AEXPR_SIMILAR',
]);

/** Relations that hold sample values of every analyzed column. */
export const STATISTICS_RELATIONS: ReadonlySet<string> = new Set(['pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_statistic', 'pg_statistic_ext_data']);

/** Built-ins that read table data past the executor: server files (the tables' own files) and decoded WAL. */
const DATA_READERS: ReadonlyMap<string, string> = new Map([
  ['pg_read_file', 'reads server files, tables\' data files included'],
  ['pg_read_binary_file', 'reads server files, tables\' data files included'],
  ['lo_import', 'reads a server file (a table\'s data file included) into a large object'],
  ['lo_export', 'writes a large object to a server file, where COPY or lo_import could read it back'],
  ['pg_logical_slot_get_changes', 'decodes WAL, which holds the written values of every column'],
  ['pg_logical_slot_peek_changes', 'decodes WAL, which holds the written values of every column'],
  ['pg_logical_slot_get_binary_changes', 'decodes WAL, which holds the written values of every column'],
  ['pg_logical_slot_peek_binary_changes', 'decodes WAL, which holds the written values of every column'],
]);

/** A built-in a masked session may not call at all (it reads data the check cannot follow). */
export function refusedBuiltin(name: string): boolean {
  return hiddenSqlOf(name) !== null || name === 'pg_mcv_list_items' || DATA_READERS.has(name);
}

function isBuiltin(name: string): boolean {
  return NON_VOLATILE_BUILTINS.has(name) || VOLATILE_BUILTINS.has(name);
}

/** A value computed from p: refused at once in a check, recorded as derived in a view definition. */
export function derive(ctx: Ctx, p: Prov, how: string): Derived | null {
  if (p === null) return null;
  if (ctx.strict) refuseUse(ctx, p, how);
  return p.kind === 'derived' ? p : { kind: 'derived', source: p.info.name, how };
}

/** A plain reference used as an operand, key or count() argument. */
export function usePlain(ctx: Ctx, p: Prov, where: string): void {
  if (p === null || !ctx.strict) return;
  if (ctx.copy) refuseCopy(sourceOf(p));
  if (p.kind === 'derived') refuseUse(ctx, p, '');
  if (ctx.predicates === 'refuse') refusePredicate(ctx, p, where);
}

/** A function the check cannot see into, or one that reads what it must not, refuses the statement. */
export function checkCall(ctx: Ctx, nameList: unknown): void {
  const q = qualifiedName(nameList);
  if (q === null) return;
  const dot = q.lastIndexOf('.');
  const schema = dot > 0 ? q.slice(0, dot) : null;
  const name = dot > 0 ? q.slice(dot + 1) : q;
  const hidden = hiddenSqlOf(name);
  if (hidden !== null) refuseHiddenSql(name, hidden);
  if (name === 'pg_mcv_list_items') refuseStatistics(`${name}()`);
  const reads = DATA_READERS.get(name);
  if (reads !== undefined && (schema === null || schema === 'pg_catalog')) refuseHiddenSql(name, reads);
  if ((schema !== null && schema !== 'pg_catalog') || !isBuiltin(name)) {
    refuseUserFunction(ctx, q, 'the function %s is not a PostgreSQL built-in: its body could read masked columns and return or store them unmasked');
  }
  if (schema === null && ctx.src.userFunctions.has(name)) {
    refuseUserFunction(ctx, name, 'the database defines its own function %s, which a call of that name may reach instead of the built-in; its body could read masked columns');
  }
}

export function checkOperator(ctx: Ctx, nameList: unknown): string {
  const q = qualifiedName(nameList) ?? '?';
  if (!ctx.strict) return q;
  const dot = q.lastIndexOf('.');
  if (dot > 0 && q.slice(0, dot) !== 'pg_catalog') {
    refuseUserFunction(ctx, q, 'the operator %s is not a PostgreSQL built-in: its function could read masked columns');
  }
  const op = dot > 0 ? q.slice(dot + 1) : q;
  if (dot < 0 && ctx.src.userOperators.has(op) && !COMPARISONS.has(op)) {
    refuseUserFunction(ctx, op, 'the database defines its own operator %s, whose function could read masked columns');
  }
  return op;
}

/** Which column a ColumnRef reads, as a value; whole rows and attribute notation derive. */
function columnRef(ref: Obj, level: Level, ctx: Ctx): Prov {
  const r = resolveRef(ref, level);
  let p: Prov;
  switch (r.kind) {
    case 'column': p = r.prov; break;
    case 'whole': p = r.prov; break;
    case 'field': p = r.prov === null ? null : derive(ctx, r.prov, `the field selection ${r.ref}`); break;
    case 'star': {
      let s: Prov = r.open ? r.openProv : null;
      for (const c of r.cols) s = worse(s, c.prov);
      p = s === null ? null : { kind: 'derived', source: sourceOf(s), how: 'a whole row (.*)' };
      break;
    }
    case 'attribute': {
      if (ctx.strict && ctx.src.userFunctions.has(r.name)) {
        refuseUserFunction(ctx, `${r.item.alias ?? ''}.${r.name}`, 'the attribute notation %s calls a function of the database on the whole row; its body could read masked columns');
      }
      const w = wholeRow(r.item);
      if (w !== null && ctx.strict) refuseAttribute(ctx, w, `${r.item.alias ?? ''}.${r.name}`, r.name);
      p = w;
      break;
    }
  }
  if (p !== null && ctx.strict && ctx.copy) refuseCopy(sourceOf(p));
  return p;
}

const DESCRIBED: Readonly<Record<string, string>> = {
  CaseExpr: 'a CASE expression',
  CoalesceExpr: 'COALESCE',
  MinMaxExpr: 'GREATEST/LEAST',
  A_ArrayExpr: 'an ARRAY[…] constructor',
  RowExpr: 'a ROW(…) constructor',
  A_Indirection: 'a subscript or field selection (write t.column instead of (t).column)',
  BoolExpr: 'a boolean expression used as a value',
  NullTest: 'IS NULL used as a value',
  BooleanTest: 'IS TRUE/FALSE used as a value',
  CollateClause: 'a COLLATE clause',
  XmlExpr: 'an XML constructor',
  XmlSerialize: 'XMLSERIALIZE',
  GroupingFunc: 'GROUPING()',
  List: 'a list of values',
};

/** The provenance of a value expression; any computation over a masked value derives (refused in a check). */
export function value(node: unknown, level: Level, ctx: Ctx): Prov {
  const n = nodeOf(node);
  if (n === null) return Array.isArray(node) ? children(node, level, ctx) : null;
  const [type, b] = n;
  switch (type) {
    case 'ColumnRef': return columnRef(b, level, ctx);
    case 'A_Const': case 'ParamRef': case 'SQLValueFunction': case 'SetToDefault': case 'CurrentOfExpr':
    case 'String': case 'Integer': case 'Float': case 'Boolean': case 'BitString': case 'A_Star': case 'TypeName':
      return null;
    case 'FuncCall': return funcCall(b, level, ctx);
    case 'SubLink': return subLinkValue(b, level, ctx);
    case 'SelectStmt': return derive(ctx, outputsProv(analyzeSelect(b, level, ctx).cols), 'a subquery');
    case 'NamedArgExpr': return value(b.arg, level, ctx);
    case 'A_Expr': {
      const op = checkOperator(ctx, b.name);
      const p = worse(value(b.lexpr, level, ctx), value(b.rexpr, level, ctx));
      return derive(ctx, p, String(b.kind) === 'AEXPR_NULLIF' ? 'NULLIF' : `the operator ${op}`);
    }
    case 'TypeCast': {
      const t = qualifiedName(isObj(b.typeName) ? b.typeName.names : null) ?? 'a type';
      return derive(ctx, value(b.arg, level, ctx), `a cast to ${t.replace(/^pg_catalog\./, '')}`);
    }
    case 'RangeVar': return null;
    default: return derive(ctx, children(b, level, ctx), DESCRIBED[type] ?? `an expression (${type})`);
  }
}

/** Every child node of an expression the check has no rule for, as values. */
function children(body: unknown, level: Level, ctx: Ctx): Prov {
  let p: Prov = null;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    if (!isObj(v)) return;
    if (nodeOf(v) !== null) {
      p = worse(p, value(v, level, ctx));
      return;
    }
    for (const k in v) visit(v[k]);
  };
  visit(body);
  return p;
}

export function outputsProv(cols: readonly OutCol[]): Prov {
  let p: Prov = null;
  for (const c of cols) p = worse(p, c.prov);
  return p;
}

function funcCall(b: Obj, level: Level, ctx: Ctx): Prov {
  if (ctx.strict) checkCall(ctx, b.funcname);
  const name = funcName(b) ?? '?';
  const q = qualifiedName(b.funcname);
  if (isObj(b.agg_filter)) inClause(ctx, 'FILTER', () => predicate(b.agg_filter, level, ctx));
  if (isObj(b.over)) windowDef(b.over, level, ctx);
  let p: Prov = null;
  if (Array.isArray(b.agg_order)) {
    for (const s of b.agg_order) {
      const node = nodeOf(s)?.[1].node;
      // WITHIN GROUP orders the values the aggregate returns one of (percentile_disc, mode): they are its input.
      if (b.agg_within_group === true) p = worse(p, value(node, level, ctx));
      else inClause(ctx, 'ORDER BY', () => operand(node, level, ctx));
    }
  }
  const args = Array.isArray(b.args) ? b.args : [];
  if (name === 'count' && (q === 'count' || q === 'pg_catalog.count') && b.agg_within_group !== true) {
    for (const a of args) {
      if (nodeOf(a)?.[0] === 'ColumnRef') usePlain(ctx, value(a, level, ctx), 'count()');
      else derive(ctx, value(a, level, ctx), 'count() of an expression');
    }
    return null;
  }
  for (const a of args) p = worse(p, value(a, level, ctx));
  return derive(ctx, p, `the function ${name}()`);
}

function windowDef(w: Obj, level: Level, ctx: Ctx): void {
  inClause(ctx, 'PARTITION BY', () => {
    if (Array.isArray(w.partitionClause)) for (const k of w.partitionClause) operand(k, level, ctx);
  });
  inClause(ctx, 'ORDER BY', () => {
    if (Array.isArray(w.orderClause)) for (const s of w.orderClause) operand(nodeOf(s)?.[1].node, level, ctx);
  });
  // Frame offsets (ROWS BETWEEN n PRECEDING …) are values.
  derive(ctx, worse(value(w.startOffset, level, ctx), value(w.endOffset, level, ctx)), 'a window frame offset');
}

export function windowClause(list: unknown, level: Level, ctx: Ctx): void {
  if (!Array.isArray(list)) return;
  for (const w of list) {
    const n = nodeOf(w);
    if (n !== null) windowDef(n[1], level, ctx);
  }
}

function subquery(b: Obj, level: Level, ctx: Ctx): OutCol[] {
  const sel = nodeOf(b.subselect);
  return sel === null ? [] : analyzeSelect(sel[1], level, ctx).cols;
}

function subLinkValue(b: Obj, level: Level, ctx: Ctx): Prov {
  switch (String(b.subLinkType)) {
    case 'EXISTS_SUBLINK':
      subquery(b, level, ctx);
      return null;
    case 'EXPR_SUBLINK':
      return derive(ctx, outputsProv(subquery(b, level, ctx)), 'a scalar subquery');
    case 'ARRAY_SUBLINK':
      return derive(ctx, outputsProv(subquery(b, level, ctx)), 'an ARRAY(subquery)');
    default: {
      if (Array.isArray(b.operName)) checkOperator(ctx, b.operName);
      const p = worse(value(b.testexpr, level, ctx), outputsProv(subquery(b, level, ctx)));
      return derive(ctx, p, 'a comparison with a subquery used as a value');
    }
  }
}

/** A plain operand of a comparison in a condition, or a sort/group key: a masked column is allowed as it is. */
export function operand(node: unknown, level: Level, ctx: Ctx): void {
  const n = nodeOf(node);
  if (n === null) return;
  const [type, b] = n;
  const where = `the ${ctx.clause} clause`;
  if (type === 'ColumnRef') {
    const r = resolveRef(b, level);
    if (r.kind === 'column' || r.kind === 'whole') {
      if (r.prov !== null && ctx.strict && ctx.copy) refuseCopy(sourceOf(r.prov));
      usePlain(ctx, r.prov, where);
      return;
    }
  } else if (type === 'SubLink' && String(b.subLinkType) === 'EXPR_SUBLINK') {
    for (const c of subquery(b, level, ctx)) usePlain(ctx, c.prov, where);
    return;
  } else if (type === 'CollateClause') {
    operand(b.arg, level, ctx);
    return;
  } else if (type === 'List') {
    if (Array.isArray(b.items)) for (const x of b.items) operand(x, level, ctx);
    return;
  }
  derive(ctx, value(node, level, ctx), 'an expression');
}

/** A condition (WHERE, ON, HAVING, FILTER, WHEN): comparisons of plain operands, combined with AND/OR/NOT. */
export function predicate(node: unknown, level: Level, ctx: Ctx): void {
  const n = nodeOf(node);
  if (n === null) return;
  const [type, b] = n;
  switch (type) {
    case 'BoolExpr':
      if (Array.isArray(b.args)) for (const a of b.args) predicate(a, level, ctx);
      return;
    case 'A_Expr': {
      const op = checkOperator(ctx, b.name);
      const kind = String(b.kind);
      const between = kind.startsWith('AEXPR_BETWEEN') || kind.startsWith('AEXPR_NOT_BETWEEN');
      if (b.lexpr !== undefined && (between || (CONDITION_KINDS.has(kind) && COMPARISONS.has(op)))) {
        operand(b.lexpr, level, ctx);
        operand(b.rexpr, level, ctx);
        return;
      }
      break;
    }
    case 'NullTest':
    case 'BooleanTest':
      operand(b.arg, level, ctx);
      return;
    case 'ColumnRef':
      operand(node, level, ctx);
      return;
    case 'SubLink': {
      const kind = String(b.subLinkType);
      if (kind === 'EXISTS_SUBLINK') {
        subquery(b, level, ctx);
        return;
      }
      if (kind === 'ANY_SUBLINK' || kind === 'ALL_SUBLINK') {
        const op = Array.isArray(b.operName) ? checkOperator(ctx, b.operName) : '=';
        if (COMPARISONS.has(op)) {
          operand(b.testexpr, level, ctx);
          for (const c of subquery(b, level, ctx)) usePlain(ctx, c.prov, `the ${ctx.clause} clause`);
          return;
        }
      }
      break;
    }
  }
  derive(ctx, value(node, level, ctx), 'an expression');
}
