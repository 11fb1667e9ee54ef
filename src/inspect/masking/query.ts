// One query level: its WITH, FROM items, result columns and clauses, and what each result column carries, so an outer
// query, a view or the statement's result knows which columns are masked ones passed through plainly.
import { isObj, type Obj } from '../tree-walk.js';
import { derive, nodeOf, operand, predicate, usePlain, value, windowClause, checkCall, checkOperator, isComparison, STATISTICS_RELATIONS } from './expr.js';
import { refuseCopy, refuseNewer, refuseStatistics, refuseToast, refuseUse, refuseUsingJoin } from './messages.js';
import { inClause, sourceOf, worse, type CatRelation, type Ctx, type Prov } from './model.js';
import {
  appendStar, emptyStar, findCte, newLevel, relationCols, renamed, resolveRef, stringList,
  type CteDef, type Item, type ItemCol, type Level, type StarCols,
} from './scope.js';
import { analyzeDml } from './dml.js';

export interface OutCol {
  name: string;
  prov: Prov;
}

/** A query's result columns; open: it may have more (a function's); positional: their order is known. */
export interface QueryOut {
  cols: OutCol[];
  open: boolean;
  openProv: Prov;
  positional: boolean;
}

/** A stored derived value is used: refused in a check. */
function consume(ctx: Ctx, p: Prov): void {
  if (p === null || !ctx.strict) return;
  if (ctx.copy) refuseCopy(sourceOf(p));
  if (p.kind === 'derived') refuseUse(ctx, p, '');
}

/** Result names as PostgreSQL gives them: the alias, a column's or function's name, else ?column?. */
function defaultName(node: unknown): string {
  const n = nodeOf(node);
  if (n === null) return '?column?';
  const [type, b] = n;
  if (type === 'ColumnRef') return stringList(b.fields).pop() ?? '?column?';
  if (type === 'FuncCall') return stringList(b.funcname).pop() ?? '?column?';
  if (type === 'TypeCast') return defaultName(b.arg) === '?column?' ? stringList(isObj(b.typeName) ? b.typeName.names : null).pop() ?? '?column?' : defaultName(b.arg);
  return '?column?';
}

/** A target list (SELECT list, RETURNING): each entry's provenance; `*` expands; derived values are consumed. */
export function targets(list: unknown, level: Level, ctx: Ctx): QueryOut {
  const out: QueryOut = { cols: [], open: false, openProv: null, positional: true };
  if (!Array.isArray(list)) return out;
  for (const t of list) {
    const rt = nodeOf(t)?.[1];
    if (rt === undefined) continue;
    const v = nodeOf(rt.val);
    if (v !== null && v[0] === 'ColumnRef') {
      const r = resolveRef(v[1], level);
      if (r.kind === 'star') {
        if (!r.positional || (out.open && r.cols.length > 0)) out.positional = false;
        for (const c of r.cols) {
          consume(ctx, c.prov);
          out.cols.push({ name: c.name, prov: c.prov });
        }
        if (r.open) {
          consume(ctx, r.openProv);
          out.open = true;
          out.openProv = worse(out.openProv, r.openProv);
        }
        continue;
      }
    }
    const p = value(rt.val, level, ctx);
    consume(ctx, p);
    if (out.open) out.positional = false;
    out.cols.push({ name: typeof rt.name === 'string' ? rt.name : defaultName(rt.val), prov: p });
  }
  return out;
}

/** `alias(a, b)` over a query's result. */
function renameOut(out: QueryOut, names: readonly string[]): ItemCol[] {
  return renamed(out.cols, names, out.positional, out.openProv);
}

function aliasOf(b: Obj): { name: string | null; cols: string[] } {
  const a = isObj(b.alias) ? b.alias : null;
  return { name: a !== null && typeof a.aliasname === 'string' ? a.aliasname : null, cols: stringList(a?.colnames) };
}

interface FromOut {
  items: Item[];
  star: StarCols;
}

function single(item: Item): FromOut {
  return { items: [item], star: { cols: item.cols, open: item.open, openProv: item.openProv, positional: !item.open && item.unordered !== true } };
}

/** A table, view or CTE named in FROM (or as the target of a write). */
export function relationItem(rv: Obj, level: Level, ctx: Ctx): Item {
  const relname = String(rv.relname ?? '');
  const schema = typeof rv.schemaname === 'string' ? rv.schemaname : null;
  const alias = aliasOf(rv);
  const name = alias.name ?? relname;
  const shown = `${schema === null ? '' : `${schema}.`}${relname}${alias.name === null ? '' : ` (${alias.name})`}`;
  if (schema === null) {
    const cte = findCte(relname, level);
    if (cte !== null) {
      return { alias: name, schemas: null, cols: renamed(cte.cols, alias.cols, cte.positional, cte.openProv), open: cte.open, openProv: cte.openProv, label: shown, unordered: !cte.positional };
    }
  }
  if (ctx.strict) {
    if ((schema === null || schema === 'pg_catalog') && STATISTICS_RELATIONS.has(relname)) refuseStatistics(shown);
    if (schema === 'pg_toast') refuseToast(shown);
  }
  const rels = ctx.src.relations(schema, relname);
  if (rels.length === 0) {
    if (ctx.strict) refuseNewer(ctx, shown);
    return { alias: name, schemas: null, cols: [], open: true, openProv: null, label: shown };
  }
  const schemas = alias.name !== null ? null : rels.map((r) => r.schema);
  const order = (r: CatRelation) => r.columns.map((c) => c.name).join('\0');
  const unordered = rels.some((r) => order(r) !== order(rels[0]!));
  return { alias: name, schemas, cols: relationCols(rels, alias.cols), open: false, openProv: null, label: shown, unordered };
}

function fromItem(node: unknown, level: Level, lateral: Level, ctx: Ctx): FromOut {
  const n = nodeOf(node);
  if (n === null) return { items: [], star: emptyStar() };
  const [type, b] = n;
  switch (type) {
    case 'RangeVar': return single(relationItem(b, level, ctx));
    case 'RangeSubselect': {
      const sub = nodeOf(b.subquery);
      const parent = b.lateral === true ? lateral : newLevel(level.parent, level.ctes);
      const out = sub === null ? { cols: [], open: true, openProv: null, positional: false } : analyzeSelect(sub[1], parent, ctx);
      const alias = aliasOf(b);
      return single({ alias: alias.name, schemas: null, cols: renameOut(out, alias.cols), open: out.open, openProv: out.openProv, label: alias.name ?? 'a subquery', unordered: !out.positional });
    }
    case 'RangeFunction': return functionItem(b, lateral, ctx);
    case 'JoinExpr': return joinItem(b, level, lateral, ctx);
    case 'RangeTableSample': {
      if (ctx.strict) checkCall(ctx, b.method);
      inClause(ctx, 'FROM', () => derive(ctx, worse(value(b.args, lateral, ctx), value(b.repeatable, lateral, ctx)), 'TABLESAMPLE'));
      return fromItem(b.relation, level, lateral, ctx);
    }
    default: {
      // XMLTABLE, JSON_TABLE and whatever comes next: every expression in it is a value.
      const p = inClause(ctx, 'FROM', () => value({ [type]: b }, lateral, ctx));
      const alias = aliasOf(b);
      return single({ alias: alias.name, schemas: null, cols: alias.cols.map((c) => ({ name: c, prov: p })), open: true, openProv: p, label: alias.name ?? type });
    }
  }
}

/** Functions in FROM: their result columns carry whatever their arguments do; their width is unknown. */
function functionItem(b: Obj, lateral: Level, ctx: Ctx): FromOut {
  let p: Prov = null;
  const names: string[] = [];
  let fname: string | null = null;
  for (const f of Array.isArray(b.functions) ? b.functions : []) {
    const items = nodeOf(f)?.[1].items;
    if (!Array.isArray(items)) continue;
    p = worse(p, inClause(ctx, 'FROM', () => value(items[0], lateral, ctx)));
    fname ??= stringList(nodeOf(items[0])?.[1].funcname).pop() ?? null;
    const defs = nodeOf(items[1])?.[1].items;
    if (Array.isArray(defs)) for (const d of defs) names.push(String(nodeOf(d)?.[1].colname ?? ''));
  }
  if (Array.isArray(b.coldeflist)) for (const d of b.coldeflist) names.push(String(nodeOf(d)?.[1].colname ?? ''));
  const alias = aliasOf(b);
  const name = alias.name ?? fname;
  const cols = [...alias.cols, ...names, ...(name === null ? [] : [name])].map((c) => ({ name: c, prov: p }));
  return single({ alias: name, schemas: null, cols, open: true, openProv: p, label: name ?? 'a function' });
}

function joinItem(b: Obj, level: Level, lateral: Level, ctx: Ctx): FromOut {
  const left = fromItem(b.larg, level, lateral, ctx);
  const lateral2: Level = { ...lateral, items: [...lateral.items, ...left.items] };
  const right = fromItem(b.rarg, level, lateral2, ctx);
  const names = b.isNatural === true
    ? left.star.cols.map((c) => c.name).filter((c, i, all) => all.indexOf(c) === i && right.star.cols.some((r) => r.name === c))
    : stringList(b.usingClause);
  const merged: ItemCol[] = [];
  for (const name of names) {
    let p: Prov = null;
    for (const c of [...left.star.cols, ...right.star.cols]) if (c.name === name) p = worse(p, c.prov);
    if (p !== null && ctx.strict) refuseUsingJoin(ctx, sourceOf(p), name);
    merged.push({ name, prov: p === null ? null : { kind: 'derived', source: sourceOf(p), how: `the JOIN … USING (${name}) merge` } });
  }
  const rest = (cols: readonly ItemCol[]) => cols.filter((c) => !names.includes(c.name));
  const star: StarCols = {
    cols: [...merged, ...rest(left.star.cols), ...rest(right.star.cols)],
    open: left.star.open || right.star.open,
    openProv: worse(left.star.openProv, right.star.openProv),
    positional: left.star.positional && right.star.positional && !(left.star.open && right.star.cols.length > 0),
  };
  const usingAlias = isObj(b.join_using_alias) && typeof b.join_using_alias.aliasname === 'string' ? b.join_using_alias.aliasname : null;
  const items = [...left.items, ...right.items];
  if (merged.length > 0) items.push({ alias: usingAlias, schemas: null, cols: merged, open: false, openProv: null, label: 'the join' });
  if (b.quals !== undefined) {
    const on: Level = { items, star: emptyStar(), parent: level.parent, ctes: level.ctes };
    inClause(ctx, 'JOIN ON', () => predicate(b.quals, on, ctx));
  }
  const alias = aliasOf(b);
  if (alias.name !== null) {
    items.push({ alias: alias.name, schemas: null, cols: renamed(star.cols, alias.cols, star.positional, star.openProv), open: star.open, openProv: star.openProv, label: alias.name, unordered: !star.positional });
  }
  return { items, star };
}

function fromList(list: unknown, level: Level, ctx: Ctx): void {
  if (!Array.isArray(list)) return;
  for (const node of list) {
    const lateral: Level = { items: level.items.slice(), star: emptyStar(), parent: level.parent, ctes: level.ctes };
    const r = fromItem(node, level, lateral, ctx);
    level.items.push(...r.items);
    appendStar(level.star, r.star);
  }
}

/** Adds FROM-style items (a write's target, USING, MERGE's source) to a level. */
export function addFrom(list: unknown, level: Level, ctx: Ctx): void {
  fromList(list, level, ctx);
}

function cteDef(out: QueryOut, names: readonly string[]): CteDef {
  return { cols: renameOut(out, names), open: out.open, openProv: out.openProv, positional: out.positional };
}

function signature(d: CteDef): string {
  const s = (p: Prov) => (p === null ? '0' : p.kind === 'masked' ? `m${p.info.name}` : `d${p.source}`);
  return `${d.cols.map((c) => `${c.name}:${s(c.prov)}`).join(',')}|${d.open ? s(d.openProv) : '-'}`;
}

/** Analyzes a CTE's statement (a SELECT, or INSERT/UPDATE/DELETE/MERGE with RETURNING). */
function cteQuery(q: unknown, level: Level, ctx: Ctx): QueryOut {
  const n = nodeOf(q);
  if (n === null) return { cols: [], open: true, openProv: null, positional: false };
  if (n[0] === 'SelectStmt') return analyzeSelect(n[1], level, ctx);
  return analyzeDml(n[0], n[1], level, ctx);
}

export function withClause(w: Obj, level: Level, ctx: Ctx): void {
  const ctes = new Map<string, CteDef>();
  level.ctes = ctes;
  const list = (Array.isArray(w.ctes) ? w.ctes : []).map((c) => nodeOf(c)?.[1]).filter((c): c is Obj => c !== undefined);
  if (w.recursive !== true) {
    for (const c of list) ctes.set(String(c.ctename), cteDef(cteQuery(c.ctequery, level, ctx), stringList(c.aliascolnames)));
    return;
  }
  // WITH RECURSIVE: CTEs may read themselves and each other; provenance only grows, so iterate until it is stable.
  for (const c of list) ctes.set(String(c.ctename), { cols: stringList(c.aliascolnames).map((name) => ({ name, prov: null })), open: true, openProv: null, positional: false });
  for (let round = 0; round < 16; round++) {
    let changed = false;
    for (const c of list) {
      const name = String(c.ctename);
      const next = cteDef(cteQuery(c.ctequery, level, ctx), stringList(c.aliascolnames));
      if (isObj(c.search_clause) || isObj(c.cycle_clause)) next.open = true;
      if (signature(next) !== signature(ctes.get(name)!)) changed = true;
      ctes.set(name, next);
    }
    if (!changed) return;
  }
  for (const c of list) {
    const d = ctes.get(String(c.ctename))!;
    const any = worse(d.cols.reduce<Prov>((p, col) => worse(p, col.prov), null), d.openProv);
    if (any !== null) ctes.set(String(c.ctename), { cols: d.cols.map((col) => ({ name: col.name, prov: { kind: 'derived', source: sourceOf(any), how: 'a recursive WITH' } })), open: true, openProv: null, positional: false });
  }
}

function sortKeys(list: unknown, out: QueryOut, level: Level, ctx: Ctx, clause: 'ORDER BY' | 'GROUP BY' | 'DISTINCT ON'): void {
  if (!Array.isArray(list)) return;
  inClause(ctx, clause, () => {
    for (const item of list) {
      const n = nodeOf(item);
      if (n === null) continue;
      const node = n[0] === 'SortBy' ? n[1].node : item;
      // ORDER BY x USING op calls op on the values; only comparison operators of pg_catalog qualify.
      if (n[0] === 'SortBy' && Array.isArray(n[1].useOp) && !isComparison(checkOperator(ctx, n[1].useOp))) derive(ctx, value(node, level, ctx), 'ORDER BY … USING');
      const k = nodeOf(node);
      if (k === null) continue;
      if (k[0] === 'GroupingSet') {
        sortKeys(k[1].content, out, level, ctx, clause);
        continue;
      }
      // `ORDER BY 2` and `ORDER BY alias` name result columns.
      const ival = k[0] === 'A_Const' && isObj(k[1].ival) ? Number(k[1].ival.ival ?? 0) : null;
      if (ival !== null) {
        usePlain(ctx, out.cols[ival - 1]?.prov ?? null, `the ${clause} clause`);
        continue;
      }
      if (k[0] === 'ColumnRef') {
        const f = stringList(k[1].fields);
        const named = f.length === 1 && !('A_Star' in (k[1].fields as Obj[]).at(-1)!) ? out.cols.filter((c) => c.name === f[0]) : [];
        for (const c of named) usePlain(ctx, c.prov, `the ${clause} clause`);
        // ORDER BY and DISTINCT ON take a result column's name first; GROUP BY an input column's (either may apply).
        if (named.length > 0 && (clause !== 'GROUP BY' || resolveRef(k[1], level).kind !== 'column')) continue;
      }
      operand(node, level, ctx);
    }
  });
}

function limits(b: Obj, level: Level, ctx: Ctx): void {
  inClause(ctx, 'LIMIT', () => {
    derive(ctx, worse(value(b.limitCount, level, ctx), value(b.limitOffset, level, ctx)), 'LIMIT/OFFSET');
  });
}

const SETOP_WORD: Readonly<Record<string, string>> = { SETOP_UNION: 'UNION', SETOP_INTERSECT: 'INTERSECT', SETOP_EXCEPT: 'EXCEPT' };

function setOperation(b: Obj, level: Level, ctx: Ctx): QueryOut {
  const l = analyzeSelect(isObj(b.larg) ? b.larg : {}, level, ctx);
  const r = analyzeSelect(isObj(b.rarg) ? b.rarg : {}, level, ctx);
  const word = SETOP_WORD[String(b.op)] ?? 'a set operation';
  const through = (p: Prov): Prov => (p === null ? null : { kind: 'derived', source: sourceOf(p), how: `${word} (which loses the column's origin)` });
  const cols: OutCol[] = [];
  for (let i = 0; i < Math.max(l.cols.length, r.cols.length); i++) {
    cols.push({ name: l.cols[i]?.name ?? r.cols[i]?.name ?? '?column?', prov: through(worse(l.cols[i]?.prov ?? l.openProv, r.cols[i]?.prov ?? r.openProv)) });
  }
  const out: QueryOut = { cols, open: l.open || r.open, openProv: through(worse(l.openProv, r.openProv)), positional: l.positional && r.positional };
  // ORDER BY of a set operation reads its result columns (by name, also inside expressions).
  const own = newLevel(level);
  own.items.push({ alias: null, schemas: null, cols, open: out.open, openProv: out.openProv, label: `the ${word}` });
  sortKeys(b.sortClause, out, own, ctx, 'ORDER BY');
  limits(b, own, ctx);
  return out;
}

function valuesList(b: Obj, level: Level, ctx: Ctx): QueryOut {
  const cols: OutCol[] = [];
  const run = () => {
    for (const row of b.valuesLists as unknown[]) {
      const items = nodeOf(row)?.[1].items;
      if (!Array.isArray(items)) continue;
      items.forEach((item, i) => {
        const p = derive(ctx, value(item, level, ctx), 'a VALUES list');
        cols[i] = { name: `column${i + 1}`, prov: worse(cols[i]?.prov ?? null, p) };
      });
    }
  };
  if (ctx.clause === 'INSERT') run();
  else inClause(ctx, 'VALUES', run);
  return { cols, open: false, openProv: null, positional: true };
}

/** One SELECT (body of a SelectStmt node) whose outer level is parent. */
export function analyzeSelect(b: Obj, parent: Level | null, ctx: Ctx): QueryOut {
  const level = newLevel(parent);
  if (isObj(b.withClause)) withClause(b.withClause, level, ctx);
  const op = String(b.op ?? 'SETOP_NONE');
  if (op !== 'SETOP_NONE') return setOperation(b, level, ctx);
  if (Array.isArray(b.valuesLists)) return valuesList(b, level, ctx);
  fromList(b.fromClause, level, ctx);
  const out = inClause(ctx, ctx.clause === 'INSERT' || ctx.clause === 'UPDATE SET' || ctx.clause === 'MERGE' ? ctx.clause : 'select list', () => targets(b.targetList, level, ctx));
  if (b.whereClause !== undefined) inClause(ctx, 'WHERE', () => predicate(b.whereClause, level, ctx));
  sortKeys(b.groupClause, out, level, ctx, 'GROUP BY');
  if (b.havingClause !== undefined) inClause(ctx, 'HAVING', () => predicate(b.havingClause, level, ctx));
  windowClause(b.windowClause, level, ctx);
  if (Array.isArray(b.distinctClause)) sortKeys(b.distinctClause.filter((d) => nodeOf(d) !== null), out, level, ctx, 'DISTINCT ON');
  sortKeys(b.sortClause, out, level, ctx, 'ORDER BY');
  limits(b, level, ctx);
  return out;
}
