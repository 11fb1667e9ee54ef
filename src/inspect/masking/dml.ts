// INSERT, UPDATE, DELETE and MERGE: a masked value may be filtered on but never written into a table; RETURNING is a
// result like a SELECT list.
import { isObj, type Obj } from '../tree-walk.js';
import { nodeOf, predicate, value } from './expr.js';
import { refuseUse } from './messages.js';
import { inClause, type Clause, type Ctx, type Prov } from './model.js';
import { addFrom, analyzeSelect, relationItem, targets, withClause, type QueryOut } from './query.js';
import { newLevel, type Item, type Level } from './scope.js';

/** A value stored by the statement: anything masked in it is refused. */
function written(ctx: Ctx, p: Prov): void {
  if (p !== null && ctx.strict) refuseUse(ctx, p, '');
}

function returning(b: Obj, level: Level, ctx: Ctx): QueryOut {
  const list = isObj(b.returningClause) ? b.returningClause.exprs : b.returningList;
  return inClause(ctx, 'RETURNING', () => targets(list, level, ctx));
}

function addTarget(level: Level, item: Item): void {
  level.items.push(item);
  level.star.cols.push(...item.cols);
}

/** SET lists of UPDATE, ON CONFLICT DO UPDATE and MERGE … UPDATE: every assigned value is written. */
function setList(list: unknown, level: Level, ctx: Ctx, clause: Clause): void {
  if (!Array.isArray(list)) return;
  inClause(ctx, clause, () => {
    const sources = new Map<string, QueryOut>();
    for (const t of list) {
      const rt = nodeOf(t)?.[1];
      if (rt === undefined) continue;
      written(ctx, value(rt.indirection, level, ctx));
      const m = nodeOf(rt.val);
      if (m !== null && m[0] === 'MultiAssignRef') {
        const src = nodeOf(m[1].source);
        const sub = src !== null && src[0] === 'SubLink' ? nodeOf(src[1].subselect) : null;
        if (sub !== null) {
          // (a, b) = (SELECT …): every column of the subquery is written once.
          const key = JSON.stringify(src);
          if (!sources.has(key)) {
            const out = analyzeSelect(sub[1], level, ctx);
            sources.set(key, out);
            for (const c of out.cols) written(ctx, c.prov);
          }
          continue;
        }
        written(ctx, value(m[1].source, level, ctx));
        continue;
      }
      written(ctx, value(rt.val, level, ctx));
    }
  });
}

function insert(b: Obj, level: Level, ctx: Ctx): QueryOut {
  const target = relationItem(isObj(b.relation) ? b.relation : {}, level, ctx);
  const src = nodeOf(b.selectStmt);
  inClause(ctx, 'INSERT', () => {
    // Subscripts and field names of the target columns (INSERT INTO t (a[i]) …) are values too.
    for (const c of Array.isArray(b.cols) ? b.cols : []) written(ctx, value(nodeOf(c)?.[1].indirection, level, ctx));
  });
  if (src !== null) {
    inClause(ctx, 'INSERT', () => {
      const out = analyzeSelect(src[1], level, ctx);
      for (const c of out.cols) written(ctx, c.prov);
      if (out.open) written(ctx, out.openProv);
    });
  }
  const oc = isObj(b.onConflictClause) ? b.onConflictClause : null;
  if (oc !== null) {
    // EXCLUDED holds the row this statement proposed, whose values were checked as written above.
    const excluded: Item = { alias: 'excluded', schemas: null, cols: target.cols.map((c) => ({ name: c.name, prov: null })), open: false, openProv: null, label: 'excluded' };
    const lv = newLevel(level);
    addTarget(lv, target);
    lv.items.push(excluded);
    if (isObj(oc.infer)) inClause(ctx, 'WHERE', () => predicate((oc.infer as Obj).whereClause, lv, ctx));
    setList(oc.targetList, lv, ctx, 'UPDATE SET');
    inClause(ctx, 'WHERE', () => predicate(oc.whereClause, lv, ctx));
  }
  const rl = newLevel(level);
  addTarget(rl, target);
  return returning(b, rl, ctx);
}

function update(b: Obj, level: Level, ctx: Ctx): QueryOut {
  addTarget(level, relationItem(isObj(b.relation) ? b.relation : {}, level, ctx));
  addFrom(b.fromClause, level, ctx);
  setList(b.targetList, level, ctx, 'UPDATE SET');
  inClause(ctx, 'WHERE', () => predicate(b.whereClause, level, ctx));
  return returning(b, level, ctx);
}

function remove(b: Obj, level: Level, ctx: Ctx): QueryOut {
  addTarget(level, relationItem(isObj(b.relation) ? b.relation : {}, level, ctx));
  addFrom(b.usingClause, level, ctx);
  inClause(ctx, 'WHERE', () => predicate(b.whereClause, level, ctx));
  return returning(b, level, ctx);
}

function merge(b: Obj, level: Level, ctx: Ctx): QueryOut {
  addTarget(level, relationItem(isObj(b.relation) ? b.relation : {}, level, ctx));
  addFrom([b.sourceRelation], level, ctx);
  inClause(ctx, 'JOIN ON', () => predicate(b.joinCondition, level, ctx));
  for (const w of Array.isArray(b.mergeWhenClauses) ? b.mergeWhenClauses : []) {
    const c = nodeOf(w)?.[1];
    if (c === undefined) continue;
    inClause(ctx, 'WHERE', () => predicate(c.condition, level, ctx));
    if (c.commandType === 'CMD_UPDATE') setList(c.targetList, level, ctx, 'MERGE');
    if (Array.isArray(c.values)) inClause(ctx, 'MERGE', () => { for (const v of c.values as unknown[]) written(ctx, value(v, level, ctx)); });
  }
  return returning(b, level, ctx);
}

/** A data-modifying statement (top level or in WITH); returns its RETURNING columns. */
export function analyzeDml(type: string, b: Obj, parent: Level | null, ctx: Ctx): QueryOut {
  const level = newLevel(parent);
  if (isObj(b.withClause)) withClause(b.withClause, level, ctx);
  switch (type) {
    case 'InsertStmt': return insert(b, level, ctx);
    case 'UpdateStmt': return update(b, level, ctx);
    case 'DeleteStmt': return remove(b, level, ctx);
    case 'MergeStmt': return merge(b, level, ctx);
  }
  return { cols: [], open: true, openProv: null, positional: false };
}
