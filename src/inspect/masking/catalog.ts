// A session's masked columns, built from catalog rows: columns matched by the role's rules, inherited by partitions and
// inheritance children, and passed through (or computed, "tainted") by views and materialized views.
import type { MaskValueKind, SessionMasking } from '../../domain/masking.js';
import { parseSync } from '../pg-parser.js';
import { isInspectReady } from '../analysis.js';
import { nodeOf } from './expr.js';
import { worse, type CatColumn, type CatRelation, type Ctx, type Prov, type RelationSource } from './model.js';
import { analyzeSelect, type QueryOut } from './query.js';
import { compileRules, firstMatch, type CompiledRule } from './rules.js';
import { VerdictCache } from './verdict-cache.js';
import type { MaskCatalog, MaskedColumnInfo } from './types.js';
import { STATISTICS_RELATIONS } from './expr.js';

type Rows = Record<string, Record<string, unknown>[]>;

const KINDS: ReadonlySet<string> = new Set(['text', 'json', 'jsonb', 'other']);

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** The relation and column ids a RowDescription names, as one number (attnum < 2048 in PostgreSQL: at most 1600). */
function key(relid: number, attnum: number): number {
  return relid * 2048 + attnum;
}

function readRelations(rows: Rows): Map<number, CatRelation> {
  const rels = new Map<number, CatRelation>();
  for (const r of rows.relations ?? []) {
    const oid = num(r.oid);
    rels.set(oid, { oid, schema: String(r.schema), name: String(r.name), kind: String(r.kind), columns: [], definition: str(r.definition) });
  }
  for (const c of rows.columns ?? []) {
    const rel = rels.get(num(c.relid));
    if (rel === undefined) continue;
    const kind = String(c.type_kind);
    rel.columns.push({
      name: String(c.name), attnum: num(c.attnum), typeKind: (KINDS.has(kind) ? kind : 'other') as MaskValueKind,
      comment: str(c.comment), generated: str(c.generated), prov: null,
    });
  }
  for (const rel of rels.values()) rel.columns.sort((a, b) => a.attnum - b.attnum);
  return rels;
}

function masked(rel: CatRelation, col: CatColumn, mask: MaskedColumnInfo['mask']): Prov {
  return { kind: 'masked', info: { relid: rel.oid, attnum: col.attnum, name: `${rel.schema}.${rel.name}.${col.name}`, mask, kind: col.typeKind } };
}

/** Rules first; then a child or partition takes its ancestors' masked columns by name. */
function applyRules(rels: Map<number, CatRelation>, rules: readonly CompiledRule[], rows: Rows): void {
  for (const rel of rels.values()) {
    for (const col of rel.columns) {
      const mask = firstMatch(rules, { schema: rel.schema, table: rel.name, column: col.name, comment: col.comment });
      if (mask !== null) col.prov = masked(rel, col, mask);
    }
  }
  const parents = new Map<number, number[]>();
  for (const r of rows.inherits ?? []) {
    const child = num(r.child);
    const list = parents.get(child) ?? [];
    list.push(num(r.parent));
    parents.set(child, list);
  }
  const done = new Set<number>();
  const inherit = (oid: number, seen: Set<number>): void => {
    if (done.has(oid) || seen.has(oid)) return;
    seen.add(oid);
    const rel = rels.get(oid);
    for (const p of parents.get(oid) ?? []) {
      inherit(p, seen);
      const parent = rels.get(p);
      if (rel === undefined || parent === undefined) continue;
      for (const col of rel.columns) {
        if (col.prov !== null) continue;
        const from = parent.columns.find((c) => c.name === col.name && c.prov?.kind === 'masked');
        if (from?.prov?.kind === 'masked') col.prov = masked(rel, col, from.prov.info.mask);
      }
    }
    done.add(oid);
  };
  for (const oid of parents.keys()) inherit(oid, new Set());
}

function sensitive(rel: CatRelation): boolean {
  return rel.columns.some((c) => c.prov !== null);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Names as a view definition may spell them: plain, or quoted with inner quotes doubled. */
function spellings(name: string): string[] {
  return name.includes('"') ? [name, name.replace(/"/g, '""')] : [name];
}

/** Resolves views on demand while the catalog is built, so a view over a view sees the inner one's columns. */
class Builder implements RelationSource {
  readonly byName = new Map<string, CatRelation[]>();
  private readonly state = new Map<number, 'busy' | 'done'>();

  constructor(readonly rels: Map<number, CatRelation>, readonly userFunctions: ReadonlySet<string>, readonly userOperators: ReadonlySet<string>, private readonly role: string) {
    for (const rel of rels.values()) {
      const list = this.byName.get(rel.name) ?? [];
      list.push(rel);
      this.byName.set(rel.name, list);
    }
  }

  relations(schema: string | null, name: string): readonly CatRelation[] {
    const all = this.byName.get(name) ?? [];
    const list = schema === null ? all : all.filter((r) => r.schema === schema);
    for (const r of list) this.resolve(r);
    return list;
  }

  /**
   * A generated column computed from a masked one holds its value: it is masked too (PostgreSQL names the generated
   * column as the origin), with the mask of the column it is computed from.
   */
  resolveGenerated(): void {
    const masks = new Map<string, MaskedColumnInfo['mask']>();
    for (const rel of this.rels.values()) for (const c of rel.columns) if (c.prov?.kind === 'masked') masks.set(c.prov.info.name, c.prov.info.mask);
    for (const rel of this.rels.values()) {
      if (!sensitive(rel)) continue;
      for (const col of rel.columns) {
        if (col.prov !== null || col.generated == null) continue;
        const out = this.analyze(`SELECT (${col.generated}) FROM ${quoteIdent(rel.schema)}.${quoteIdent(rel.name)}`);
        const p = out === null ? { kind: 'derived' as const, source: '', how: '' } : out.cols[0]?.prov ?? null;
        if (p === null) continue;
        const source = p.kind === 'masked' ? p.info.name : p.source;
        const first = rel.columns.find((c) => c.prov?.kind === 'masked');
        const mask = masks.get(source) ?? (first?.prov?.kind === 'masked' ? first.prov.info.mask : null);
        if (mask !== null) col.prov = masked(rel, col, mask);
      }
    }
  }

  /** Every view whose definition names a relation with masked columns, until no more become sensitive. */
  resolveAll(): void {
    const names = new Set<string>();
    for (const rel of this.rels.values()) if (sensitive(rel)) names.add(rel.name);
    const views = [...this.rels.values()].filter((r) => r.definition !== null);
    let grew = true;
    while (grew) {
      grew = false;
      for (const v of views) {
        if (this.state.has(v.oid) || ![...names].some((n) => spellings(n).some((s) => v.definition!.includes(s)))) continue;
        this.resolve(v);
        for (const r of views) {
          if (this.state.get(r.oid) === 'done' && sensitive(r) && !names.has(r.name)) {
            names.add(r.name);
            grew = true;
          }
        }
      }
    }
  }

  private resolve(rel: CatRelation): void {
    if (rel.definition === null || this.state.has(rel.oid)) return;
    this.state.set(rel.oid, 'busy');
    const out = this.analyze(rel.definition);
    // A definition the check cannot read may carry anything it names: every column is tainted.
    const any = out === null ? this.unreadable(rel.definition) : worse(out.cols.reduce<Prov>((p, c) => worse(p, c.prov), null), out.openProv);
    rel.columns.forEach((col, i) => {
      if (col.prov !== null) return; // a rule names this column itself
      const full = `${rel.schema}.${rel.name}.${col.name}`;
      // Positions are only trusted when the definition's result has exactly the view's columns.
      const p = out === null ? any : out.cols.length === rel.columns.length && out.positional && !out.open ? out.cols[i]!.prov : any;
      if (p === null) return;
      if (p.kind === 'masked' && out!.cols.length === rel.columns.length && out!.positional) {
        col.prov = masked(rel, col, p.info.mask);
      } else {
        const how = p.kind === 'masked' ? 'may carry it' : `is computed from it (through ${p.how})`;
        col.prov = { kind: 'derived', source: p.kind === 'masked' ? p.info.name : p.source, how: `the view column ${full}, which ${how}`, view: full };
      }
    });
    this.state.set(rel.oid, 'done');
  }

  private unreadable(definition: string): Prov {
    for (const rel of this.rels.values()) {
      if (!sensitive(rel) || !spellings(rel.name).some((n) => definition.includes(n))) continue;
      const col = rel.columns.find((c) => c.prov !== null)!;
      return { kind: 'derived', source: col.prov!.kind === 'masked' ? col.prov!.info.name : col.prov!.source, how: 'a definition the gateway could not analyze' };
    }
    return null;
  }

  private analyze(definition: string): QueryOut | null {
    const ctx: Ctx = { src: this, strict: false, predicates: 'allow', role: this.role, copy: false, clause: 'select list' };
    try {
      const stmt = nodeOf(parseSync(definition).stmts?.[0]?.stmt);
      if (stmt === null || stmt[0] !== 'SelectStmt') return null;
      return analyzeSelect(stmt[1], null, ctx);
    } catch {
      return null;
    }
  }
}

export class PgMaskCatalog implements MaskCatalog, RelationSource {
  readonly empty: boolean;
  readonly columns: readonly MaskedColumnInfo[];
  /** Verdicts of checkPgMasking for this catalog by SQL text, one cache per predicates mode. */
  readonly verdicts: Readonly<Record<'allow' | 'refuse', VerdictCache>> = { allow: new VerdictCache(), refuse: new VerdictCache() };
  private readonly masks = new Map<number, MaskedColumnInfo>();
  private readonly byName: ReadonlyMap<string, CatRelation[]>;
  private readonly byOid: ReadonlyMap<number, CatRelation>;
  /** Relation names (`name`, `schema.name`) of which no relation has a masked or tainted column. */
  private readonly clear = new Set<string>();

  constructor(
    rels: Map<number, CatRelation>, byName: Map<string, CatRelation[]>,
    readonly userFunctions: ReadonlySet<string>, readonly userOperators: ReadonlySet<string>,
    readonly role: string, readonly predicates: 'allow' | 'refuse',
  ) {
    this.byOid = rels;
    this.byName = byName;
    const columns: MaskedColumnInfo[] = [];
    for (const rel of rels.values()) {
      for (const c of rel.columns) {
        if (c.prov?.kind !== 'masked' || c.prov.info.relid !== rel.oid) continue;
        columns.push(c.prov.info);
        this.masks.set(key(rel.oid, c.attnum), c.prov.info);
      }
    }
    this.columns = Object.freeze(columns);
    this.empty = columns.length === 0;
    for (const [name, list] of byName) {
      if (STATISTICS_RELATIONS.has(name)) continue;
      if (list.every((r) => !sensitive(r))) this.clear.add(name);
      for (const r of list) if (!sensitive(r)) this.clear.add(`${r.schema}.${r.name}`);
    }
  }

  maskOf(relid: number, attnum: number): MaskedColumnInfo | null {
    return this.masks.get(key(relid, attnum)) ?? null;
  }

  relations(schema: string | null, name: string): readonly CatRelation[] {
    const all = this.byName.get(name) ?? [];
    return schema === null ? all : all.filter((r) => r.schema === schema);
  }

  relation(oid: number): CatRelation | null {
    return this.byOid.get(oid) ?? null;
  }

  /** A relation reference as tree-walk spells it (`name` or `schema.name`) that reaches nothing masked. */
  isClearRelation(ref: string): boolean {
    return this.clear.has(ref);
  }

  /** View columns computed from masked columns: any statement that reads them is refused. */
  taintedColumns(): { column: string; source: string; how: string }[] {
    const out: { column: string; source: string; how: string }[] = [];
    for (const rel of this.byOid.values()) {
      for (const c of rel.columns) {
        if (c.prov?.kind === 'derived') out.push({ column: `${rel.schema}.${rel.name}.${c.name}`, source: c.prov.source, how: c.prov.how });
      }
    }
    return out;
  }
}

export function buildPgMaskCatalog(rows: Rows, masking: SessionMasking): PgMaskCatalog {
  const rels = readRelations(rows);
  applyRules(rels, compileRules(masking), rows);
  const names = (list: Record<string, unknown>[] | undefined) => new Set((list ?? []).map((r) => String(r.name)));
  const fns = names(rows.functions);
  const ops = names(rows.operators);
  const b = new Builder(rels, fns, ops, masking.role);
  if ([...rels.values()].some(sensitive)) {
    if (!isInspectReady()) throw new Error('inspect: the SQL parser is not loaded; await initInspect() before building a mask catalog');
    b.resolveGenerated();
    b.resolveAll();
  }
  return new PgMaskCatalog(rels, b.byName, fns, ops, masking.role, masking.predicates);
}
