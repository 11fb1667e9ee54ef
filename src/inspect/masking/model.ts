// The data the masking catalog and the statement check share: where a value came from (its provenance), the
// relations of the catalog, the refusal a check throws, and the context one check runs in.
import type { MaskValueKind } from '../../domain/masking.js';
import type { MaskedColumnInfo } from './types.js';

/** A plain reference to a masked column: PostgreSQL names its origin in the RowDescription, so the gateway masks it. */
export interface Masked {
  kind: 'masked';
  info: MaskedColumnInfo;
}

/**
 * A value computed from a masked column (an expression, a whole row, a set operation, a view column that computes
 * it): PostgreSQL names no origin for it, so the gateway could not mask it. `source` is the masked column, `how` a
 * phrase that completes "the statement uses it through …".
 */
export interface Derived {
  kind: 'derived';
  source: string;
  how: string;
  /** Set on a view column computed from a masked column (tainted): the view column, schema.view.column. */
  view?: string;
}

/** null: nothing masked reaches this value. */
export type Prov = Masked | Derived | null;

export function sourceOf(p: Masked | Derived): string {
  return p.kind === 'masked' ? p.info.name : p.source;
}

/** The more restrictive of two provenances: derived over masked over clear; the first of two equals. */
export function worse(a: Prov, b: Prov): Prov {
  if (a === null) return b;
  if (b === null) return a;
  if (a.kind === 'derived') return a;
  return b.kind === 'derived' ? b : a;
}

export interface CatColumn {
  name: string;
  attnum: number;
  typeKind: MaskValueKind;
  comment: string | null;
  /** A generated column's expression (pg_get_expr), else null. */
  generated?: string | null;
  prov: Prov;
}

export interface CatRelation {
  oid: number;
  schema: string;
  name: string;
  /** pg_class.relkind: r, p, v, m, f, S. */
  kind: string;
  columns: CatColumn[];
  /** A view's or materialized view's SELECT (pg_get_viewdef), when it was loaded. */
  definition: string | null;
}

/** What a check looks relations and names up in: the built catalog, or the builder while it resolves views. */
export interface RelationSource {
  /** Every relation of that name; with schema null, in every schema (the session may change its search_path). */
  relations(schema: string | null, name: string): readonly CatRelation[];
  /** Names of functions defined outside pg_catalog (a call of that name may reach one of them). */
  readonly userFunctions: ReadonlySet<string>;
  /** Names of operators defined outside pg_catalog. */
  readonly userOperators: ReadonlySet<string>;
}

/** A statement may not run; `column` is the masked column concerned ('' when the refusal is about the statement). */
export class MaskRefusal extends Error {
  constructor(readonly column: string, message: string) {
    super(message);
    this.name = 'MaskRefusal';
  }
}

/** Where in a statement a value is used: decides the wording of a refusal. */
export type Clause =
  | 'select list' | 'RETURNING' | 'WHERE' | 'JOIN ON' | 'HAVING' | 'ORDER BY' | 'GROUP BY' | 'DISTINCT ON'
  | 'PARTITION BY' | 'FILTER' | 'LIMIT' | 'FROM' | 'VALUES' | 'INSERT' | 'UPDATE SET' | 'MERGE' | 'EXECUTE';

/** Clauses whose values end up in a table. */
export const WRITE_CLAUSES: ReadonlySet<Clause> = new Set<Clause>(['INSERT', 'UPDATE SET', 'MERGE']);

/** Clauses that filter, join, group or order: a masked column may be a plain operand there when predicates allow. */
export const PREDICATE_CLAUSES: ReadonlySet<Clause> = new Set<Clause>([
  'WHERE', 'JOIN ON', 'HAVING', 'ORDER BY', 'GROUP BY', 'DISTINCT ON', 'PARTITION BY', 'FILTER',
]);

export interface Ctx {
  src: RelationSource;
  /** true: a statement check (refuse at the first unsafe use); false: a view definition (record what flows out). */
  strict: boolean;
  predicates: 'allow' | 'refuse';
  role: string;
  /** Inside COPY (query) TO: any reference to a masked column refuses the statement. */
  copy: boolean;
  clause: Clause;
}

/** Runs fn with ctx.clause set to clause, restoring it afterwards (also when fn throws a refusal). */
export function inClause<T>(ctx: Ctx, clause: Clause, fn: () => T): T {
  const saved = ctx.clause;
  ctx.clause = clause;
  try {
    return fn();
  } finally {
    ctx.clause = saved;
  }
}
