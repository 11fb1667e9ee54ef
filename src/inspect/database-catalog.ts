// Builds a read-only session's view of one database's own functions, operators, views and row policies from
// catalog rows: which of them can be verified free of side effects, and which only a role's allow list can admit.

import { analyze } from './analysis.js';
import { functionFacts, type CatalogVerdict, type FunctionCatalog, type FunctionFacts } from './function-rules.js';

/** The rows CATALOG_QUERIES return; plain data so a test can build a catalog without a server. */
export interface CatalogRows {
  functions: { schema: string; name: string; language: string; volatility: string; security_definer: boolean; kind: string; body: string | null }[];
  operators: { schema: string; name: string; function_schema: string; function_name: string }[];
  views: { schema: string; name: string; definition: string | null }[];
  policies: { schema: string; name: string; qual: string | null }[];
}

const OWN = `not in ('pg_catalog', 'information_schema')`;

/** Read with the session's own credential: every catalog here is readable by PUBLIC. */
export const CATALOG_QUERIES = {
  functions: `select n.nspname as schema, p.proname as name, l.lanname as language, p.provolatile::text as volatility,
      p.prosecdef as security_definer, p.prokind::text as kind, case when l.lanname = 'sql' then p.prosrc end as body
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
    where n.nspname ${OWN}`,
  operators: `select n.nspname as schema, o.oprname as name, fn.nspname as function_schema, p.proname as function_name
    from pg_operator o join pg_namespace n on n.oid = o.oprnamespace
      join pg_proc p on p.oid = o.oprcode join pg_namespace fn on fn.oid = p.pronamespace
    where n.nspname ${OWN}`,
  views: `select n.nspname as schema, c.relname as name, pg_get_viewdef(c.oid) as definition
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'v' and n.nspname ${OWN}`,
  policies: `select n.nspname as schema, c.relname as name, pg_get_expr(p.polqual, p.polrelid) as qual
    from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
    where c.relrowsecurity and n.nspname ${OWN}`,
} as const;

interface Raw {
  /** Set for functions no text check can clear (PL/pgSQL, SECURITY DEFINER, volatile C, aggregates): listing admits them. */
  opaque: string | null;
  unsafe: string | null;
  facts: FunctionFacts[];
}

/** The facts of SQL text (a function body, a view's SELECT, a policy's condition), or why it cannot count as reading. */
function textFacts(sql: string | null): { unsafe: string | null; facts: FunctionFacts[] } | null {
  if (sql === null || sql.trim() === '') return null;
  const a = analyze(sql);
  if (!a.ok) return null;
  const facts: FunctionFacts[] = [];
  for (const s of a.statements) {
    if (s.info.writes) return { unsafe: `writes (${s.reason ?? s.info.kind})`, facts };
    if (s.functions) facts.push(s.functions);
  }
  return { unsafe: null, facts };
}

function add(map: Map<string, Raw[]>, key: string, raw: Raw): void {
  const list = map.get(key);
  if (list) list.push(raw);
  else map.set(key, [raw]);
}

export function buildCatalog(rows: CatalogRows): FunctionCatalog {
  const fns = new Map<string, Raw[]>();
  for (const r of rows.functions) {
    const qualified = `${r.schema}.${r.name}`;
    let raw: Raw;
    const native = r.language === 'c' || r.language === 'internal';
    if (r.security_definer || r.kind !== 'f') raw = { opaque: qualified, unsafe: null, facts: [] };
    else if (native) raw = { opaque: r.volatility === 'v' ? qualified : null, unsafe: null, facts: [] };
    else if (r.language === 'sql') {
      const t = textFacts(r.body);
      raw = t === null ? { opaque: qualified, unsafe: null, facts: [] } : { opaque: null, ...t };
    } else raw = { opaque: qualified, unsafe: null, facts: [] };
    add(fns, qualified, raw);
    add(fns, r.name, raw);
  }
  const ops = new Map<string, Raw[]>();
  for (const r of rows.operators) {
    const call = `${r.function_schema}.${r.function_name}`;
    const raw: Raw = { opaque: null, unsafe: null, facts: [functionFacts({ calls: [call], attributes: [], operators: [], relations: [] })] };
    add(ops, `${r.schema}.${r.name}`, raw);
    add(ops, r.name, raw);
  }
  const rels = new Map<string, Raw[]>();
  const relation = (schema: string, name: string, sql: string | null) => {
    const t = textFacts(sql);
    // A definition the gateway cannot parse cannot be cleared; only listing the relation's name admits it.
    const raw: Raw = t === null ? { opaque: `${schema}.${name}`, unsafe: null, facts: [] } : { opaque: null, ...t };
    add(rels, `${schema}.${name}`, raw);
    add(rels, name, raw);
  };
  for (const v of rows.views) relation(v.schema, v.name, v.definition);
  for (const p of rows.policies) relation(p.schema, p.name, p.qual === null ? null : `SELECT ${p.qual}`);
  return resolveAll(fns, ops, rels);
}

/** Turns every entry into a verdict, following calls between the database's own objects (cycles add nothing). */
function resolveAll(fns: Map<string, Raw[]>, ops: Map<string, Raw[]>, rels: Map<string, Raw[]>): FunctionCatalog {
  const memo = new Map<Raw, CatalogVerdict>();
  const active = new Set<Raw>();
  const EMPTY: CatalogVerdict = { unsafe: null, needs: [] };

  function merge(list: readonly Raw[] | undefined): CatalogVerdict | null {
    if (list === undefined) return null;
    let unsafe: string | null = null;
    const needs = new Set<string>();
    for (const raw of list) {
      const v = verdict(raw);
      unsafe ??= v.unsafe;
      for (const n of v.needs) needs.add(n);
    }
    return { unsafe, needs: [...needs] };
  }

  function verdict(raw: Raw): CatalogVerdict {
    const known = memo.get(raw);
    if (known) return known;
    if (active.has(raw)) return EMPTY;
    if (raw.opaque !== null) return remember(raw, { unsafe: null, needs: [raw.opaque] });
    if (raw.unsafe !== null) return remember(raw, { unsafe: raw.unsafe, needs: [] });
    active.add(raw);
    let unsafe: string | null = null;
    const needs = new Set<string>();
    const take = (v: CatalogVerdict | null) => {
      if (v === null) return false;
      unsafe ??= v.unsafe;
      for (const n of v.needs) needs.add(n);
      return true;
    };
    for (const f of raw.facts) {
      if (f.unsafe) unsafe ??= `calls the function ${f.unsafe.name}, which ${f.unsafe.why}`;
      if (f.hiddenSql) unsafe ??= `calls the function ${f.hiddenSql.name}, which ${f.hiddenSql.why}`;
      for (const u of f.unknown) if (!take(merge(fns.get(u)))) needs.add(u);
      for (const s of f.shadowable) take(merge(fns.get(s)));
      for (const o of f.operators) take(merge(ops.get(o)));
      for (const r of f.relations) take(merge(rels.get(r)));
    }
    active.delete(raw);
    return remember(raw, { unsafe, needs: [...needs] });
  }

  function remember(raw: Raw, v: CatalogVerdict): CatalogVerdict {
    memo.set(raw, v);
    return v;
  }

  const finish = (m: Map<string, Raw[]>) => {
    const out = new Map<string, CatalogVerdict>();
    for (const [k, list] of m) out.set(k, merge(list)!);
    return out;
  };
  return { functions: finish(fns), operators: finish(ops), relations: finish(rels) };
}
