// Name resolution the way PostgreSQL's analyzer does it, enough to know which column a reference reads: FROM items per
// query level, outer levels for correlated subqueries, CTEs, and column references in every spelling.
import { isObj, type Obj } from '../tree-walk.js';
import { worse, type CatRelation, type Derived, type Prov } from './model.js';

export interface ItemCol {
  name: string;
  prov: Prov;
}

/** One FROM item as a query sees it. */
export interface Item {
  /** The name it is referred to by: its alias, else the relation's, CTE's or function's name; null: none. */
  alias: string | null;
  /** An unaliased relation: the schemas its name may be in, for `schema.table.column`. */
  schemas: readonly string[] | null;
  cols: ItemCol[];
  /** It may have columns not listed (a function's result): a name may resolve to one of them, with openProv. */
  open: boolean;
  openProv: Prov;
  /** For messages: `public.customers (c)`. */
  label: string;
  /** Same-named relations of several schemas whose columns differ: positions in `*` are not known. */
  unordered?: boolean;
}

export interface CteDef {
  cols: ItemCol[];
  open: boolean;
  openProv: Prov;
  positional: boolean;
}

/** What `*` expands to, in PostgreSQL's order; `positional` false once an item of unknown width came first. */
export interface StarCols {
  cols: ItemCol[];
  open: boolean;
  openProv: Prov;
  positional: boolean;
}

/** One query level: its FROM items, what `*` expands to, the enclosing level, and the CTEs its WITH declares. */
export interface Level {
  items: Item[];
  star: StarCols;
  parent: Level | null;
  ctes: Map<string, CteDef> | null;
}

export function emptyStar(): StarCols {
  return { cols: [], open: false, openProv: null, positional: true };
}

export function newLevel(parent: Level | null, ctes: Map<string, CteDef> | null = null): Level {
  return { items: [], star: emptyStar(), parent, ctes };
}

/** Appends one FROM element's expansion to a level's. */
export function appendStar(to: StarCols, more: StarCols): void {
  if (to.open && more.cols.length > 0) to.positional = false;
  to.cols.push(...more.cols);
  to.open ||= more.open;
  to.openProv = worse(to.openProv, more.openProv);
  to.positional &&= more.positional;
}

export function findCte(name: string, level: Level | null): CteDef | null {
  for (let l = level; l !== null; l = l.parent) {
    const c = l.ctes?.get(name);
    if (c !== undefined) return c;
  }
  return null;
}

/** Names from a list of String nodes (alias column names, USING lists). */
export function stringList(list: unknown): string[] {
  const out: string[] = [];
  if (!Array.isArray(list)) return out;
  for (const v of list) if (isObj(v) && isObj(v.String) && typeof v.String.sval === 'string') out.push(v.String.sval);
  return out;
}

/**
 * Applies `alias(a, b, …)`: the first columns take the new names, in order. When the order is not known (a `*` over a
 * function's result came first), each renamed column may be any of them: it takes the worst provenance of all.
 */
export function renamed(cols: readonly ItemCol[], names: readonly string[], positional = true, openProv: Prov = null): ItemCol[] {
  let any: Prov = openProv;
  if (!positional) for (const c of cols) any = worse(any, c.prov);
  return cols.map((c, i) => (i < names.length ? { name: names[i]!, prov: positional ? c.prov : any } : c));
}

/** Columns of one or more same-named relations (several schemas), merged by name, most restrictive provenance. */
export function relationCols(rels: readonly CatRelation[], names: readonly string[]): ItemCol[] {
  if (rels.length === 1) return renamed(rels[0]!.columns, names);
  const out: ItemCol[] = [];
  const at = new Map<string, number>();
  for (const r of rels) {
    for (const c of renamed(r.columns, names)) {
      const i = at.get(c.name);
      if (i === undefined) {
        at.set(c.name, out.length);
        out.push({ name: c.name, prov: c.prov });
      } else out[i] = { name: c.name, prov: worse(out[i]!.prov, c.prov) };
    }
  }
  return out;
}

/** What a whole-row reference to the item carries: derived when any column of it is masked or derived. */
export function wholeRow(item: Item): Derived | null {
  let p: Prov = null;
  for (const c of item.cols) p = worse(p, c.prov);
  if (item.open) p = worse(p, item.openProv);
  if (p === null) return null;
  const how = `the whole row of ${item.label}`;
  return p.kind === 'derived' ? { kind: 'derived', source: p.source, how: `${how} (which carries ${p.how})` } : { kind: 'derived', source: p.info.name, how };
}

export type Resolved =
  | { kind: 'column'; prov: Prov }
  | { kind: 'whole'; item: Item; prov: Derived | null }
  | { kind: 'attribute'; item: Item; name: string }
  | { kind: 'field'; prov: Prov; ref: string }
  | ({ kind: 'star' } & StarCols);

/**
 * Finds an unqualified column: the nearest level with a listed column of that name decides, made worse by any open
 * item of an inner level (PostgreSQL may find the name there first). `found` is false when no listed column has it.
 */
function findColumn(name: string, level: Level | null): { found: boolean; prov: Prov; openProv: Prov } {
  let openProv: Prov = null;
  for (let l = level; l !== null; l = l.parent) {
    let found = false;
    let prov: Prov = null;
    for (const item of l.items) {
      for (const c of item.cols) {
        if (c.name === name) {
          found = true;
          prov = worse(prov, c.prov);
        }
      }
      if (item.open) openProv = worse(openProv, item.openProv);
    }
    if (found) return { found, prov: worse(prov, openProv), openProv };
  }
  return { found: false, prov: openProv, openProv };
}

function findItem(name: string, schema: string | null, level: Level | null): Item | null {
  for (let l = level; l !== null; l = l.parent) {
    for (const item of l.items) {
      if (item.alias !== name) continue;
      if (schema === null || (item.schemas?.includes(schema) ?? false)) return item;
    }
  }
  return null;
}

function colOf(item: Item, name: string): { found: boolean; prov: Prov } {
  let found = false;
  let prov: Prov = null;
  for (const c of item.cols) {
    if (c.name === name) {
      found = true;
      prov = worse(prov, c.prov);
    }
  }
  return { found, prov };
}

function star(item: Item): Resolved {
  return { kind: 'star', cols: item.cols, open: item.open, openProv: item.openProv, positional: !item.open && item.unordered !== true };
}

/** Resolves a ColumnRef's fields (String nodes, A_Star last) against the levels, as PostgreSQL's transformColumnRef. */
export function resolveRef(ref: Obj, level: Level): Resolved {
  const raw = Array.isArray(ref.fields) ? ref.fields : [];
  const isStar = raw.length > 0 && isObj(raw[raw.length - 1]) && 'A_Star' in (raw[raw.length - 1] as Obj);
  const f = stringList(isStar ? raw.slice(0, -1) : raw);
  if (isStar) {
    if (f.length === 0) return { kind: 'star', ...level.star };
    if (f.length === 1) {
      const item = findItem(f[0]!, null, level);
      return item === null ? fieldOf(f, level) : star(item);
    }
    const named = findItem(f[f.length - 1]!, f[f.length - 2]!, level);
    if (named !== null) return star(named);
    // `t.col.*` expands a composite column's fields: a computation on that column.
    const item = findItem(f[0]!, null, level);
    if (item === null) return fieldOf(f, level);
    const c = colOf(item, f[1]!);
    return { kind: 'field', prov: c.found ? c.prov : wholeRow(item), ref: f.join('.') };
  }
  if (f.length === 1) {
    const c = findColumn(f[0]!, level);
    if (c.found) return { kind: 'column', prov: c.prov };
    // A FROM item of that name: its whole row, even when an open item (a function's result) might own a column of
    // that name instead; failing closed costs nothing a person would write on purpose.
    const item = findItem(f[0]!, null, level);
    if (item !== null) {
      const w = wholeRow(item);
      return { kind: 'whole', item, prov: w ?? (c.openProv === null ? null : { kind: 'derived', source: c.openProv.kind === 'masked' ? c.openProv.info.name : c.openProv.source, how: 'a function\'s result' }) };
    }
    return { kind: 'column', prov: c.openProv };
  }
  // schema.table.column (and db.schema.table.column) before table.column.field.
  if (f.length >= 3) {
    const item = findItem(f[f.length - 2]!, f[f.length - 3]!, level);
    if (item !== null) return columnOrAttribute(item, f[f.length - 1]!);
  }
  const item = findItem(f[0]!, null, level);
  if (item !== null) {
    if (f.length === 2) return columnOrAttribute(item, f[1]!);
    const c = colOf(item, f[1]!);
    return { kind: 'field', prov: c.found ? c.prov : wholeRow(item), ref: f.join('.') };
  }
  return fieldOf(f, level);
}

function columnOrAttribute(item: Item, name: string): Resolved {
  const c = colOf(item, name);
  if (c.found) return { kind: 'column', prov: c.prov };
  if (item.open) return { kind: 'column', prov: item.openProv };
  return { kind: 'attribute', item, name };
}

/** `col.field…`: the first name is a column, the rest select fields of its composite value. */
function fieldOf(f: readonly string[], level: Level | null): Resolved {
  const c = findColumn(f[0]!, level);
  return { kind: 'field', prov: c.prov, ref: f.join('.') };
}
