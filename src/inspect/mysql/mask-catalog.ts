// Which columns a MySQL/MariaDB session sees masked (docs/masking.md, "MySQL and MariaDB"): the role's rules matched
// against information_schema.COLUMNS (names and comments), generated columns computed from masked ones, views'
// pass-through columns of masked columns (from VIEW_DEFINITION, read with the lexer), views that compute values from
// masked columns (reading them is refused), and tables whose triggers read masked columns (writing them is refused).
// Pure: the gateway runs MYSQL_MASK_CATALOG_QUERIES and hands the rows in.
import type { MaskRule, MaskValueKind, ResolvedMask, SessionMasking } from '../../domain/masking.js';
import { lexMysqlSafely, type Token } from './lexer.js';
import { readViewDefinition } from './masking.js';

/** One column whose values a session sees masked. Names are as the server stores them. */
export interface MysqlMaskedColumn {
  schema: string;
  table: string;
  column: string;
  /** db.table.column, as messages name it. */
  name: string;
  mask: ResolvedMask;
  kind: MaskValueKind;
}

/** What the statement check knows about every relation of one name (all schemas together: fail closed). */
export interface MaskedRelation {
  /** db.table of the first one, for messages. */
  name: string;
  /** Its masked columns by lower-case name. */
  columns: Map<string, MysqlMaskedColumn>;
  /** Set when a statement naming it is refused (a view computing values from masked columns), with the reason. */
  refused: string | null;
  /** Set when a write naming it is refused (a trigger on it reads masked columns), with the reason. */
  writeRefused: string | null;
}

export interface MysqlMaskCatalog {
  /** No column is masked for the session's role: nothing is decoded, no statement is checked. */
  readonly empty: boolean;
  readonly columns: readonly MysqlMaskedColumn[];
  /**
   * The mask of a result column as its ColumnDefinition41 names its origin (schema, org_table, org_name); null: in
   * clear. The server leaves the schema empty for columns read through a materialized derived table or view: those
   * match a masked column of that table and name in any schema.
   */
  maskOf(schema: string, orgTable: string, orgName: string): MysqlMaskedColumn | null;
  /** The relation(s) of this lower-case name that hold masked columns, or are refused; undefined: none. */
  relation(lowerName: string): MaskedRelation | undefined;
}

export type MysqlCatalogRow = Record<string, string | null>;
export interface MysqlMaskCatalogRows {
  columns: MysqlCatalogRow[];
  views: MysqlCatalogRow[];
  triggers: MysqlCatalogRow[];
}

const SYSTEM_SCHEMAS = "('mysql', 'information_schema', 'performance_schema', 'sys')";
const PLAIN_NAME = /^[A-Za-z0-9_$\u0080-\uffff]+$/;

/**
 * The catalog queries for a session's rules, run with its own upstream login. Columns are narrowed to the names the
 * rules give (when every rule names its column), plus every commented column (labels) and generated column.
 */
export function mysqlMaskCatalogQueries(masking: SessionMasking): Record<keyof MysqlMaskCatalogRows, string> {
  const names = new Set<string>();
  let all = false;
  for (const r of masking.rules) {
    if (r.column === undefined) continue;
    const col = r.column.split('.').pop()!.toLowerCase();
    if (col === '*' || !PLAIN_NAME.test(col)) all = true;
    else names.add(col);
  }
  const byName = all ? 'TRUE' : names.size === 0 ? 'FALSE' : `LOWER(COLUMN_NAME) IN (${[...names].map((n) => `'${n}'`).join(', ')})`;
  return {
    columns:
      'SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_COMMENT, GENERATION_EXPRESSION FROM information_schema.COLUMNS' +
      ` WHERE TABLE_SCHEMA NOT IN ${SYSTEM_SCHEMAS} AND (${byName} OR COLUMN_COMMENT <> '' OR GENERATION_EXPRESSION <> '')`,
    views: `SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
    triggers: `SELECT TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA NOT IN ${SYSTEM_SCHEMAS}`,
  };
}

const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);

/** How a column's values travel: text types as text, JSON as json, everything else (numbers, dates, blobs) other. */
export function mysqlValueKind(dataType: string): MaskValueKind {
  const t = dataType.toLowerCase();
  if (t === 'json') return 'json';
  return TEXT_TYPES.has(t) ? 'text' : 'other';
}

/** Whether a policy rule names this column: `table.column` (any schema), `db.table.column`, `*` per position, or a label. */
export function mysqlRuleMatches(rule: MaskRule, schema: string, table: string, column: string, comment: string): boolean {
  if (rule.label !== undefined) {
    const c = comment.trim();
    return c !== '' && (c === rule.label || c.split(/\s+/)[0] === rule.label);
  }
  if (rule.column === undefined) return false;
  const parts = rule.column.split('.');
  const want = parts.length === 3 ? parts : parts.length === 2 ? ['*', parts[0]!, parts[1]!] : ['*', '*', parts[0]!];
  const have = [schema, table, column];
  return want.every((w, k) => w === '*' || w.toLowerCase() === have[k]!.toLowerCase());
}

const key3 = (s: string, t: string, c: string) => `${s.toLowerCase()}\u0000${t.toLowerCase()}\u0000${c.toLowerCase()}`;
const key2 = (t: string, c: string) => `${t.toLowerCase()}\u0000${c.toLowerCase()}`;
const str = (row: MysqlCatalogRow, k: string) => row[k] ?? '';

function lexOrNull(sql: string): Token[] | null {
  try {
    return lexMysqlSafely(sql, false).flatMap((s) => s.tokens);
  } catch {
    return null;
  }
}

/** The session's masked columns and the relations the statement check must know about. */
export function buildMysqlMaskCatalog(rows: MysqlMaskCatalogRows, masking: SessionMasking, predicates: 'allow' | 'refuse' = masking.predicates): MysqlMaskCatalog {
  const exact = new Map<string, MysqlMaskedColumn>();
  const anySchema = new Map<string, MysqlMaskedColumn>();
  const relations = new Map<string, MaskedRelation>();
  const columns: MysqlMaskedColumn[] = [];
  const viewKeys = new Set(rows.views.map((v) => `${str(v, 'TABLE_SCHEMA').toLowerCase()}\u0000${str(v, 'TABLE_NAME').toLowerCase()}`));

  const relationOf = (schema: string, table: string): MaskedRelation => {
    const k = table.toLowerCase();
    let r = relations.get(k);
    if (r === undefined) relations.set(k, (r = { name: `${schema}.${table}`, columns: new Map(), refused: null, writeRefused: null }));
    return r;
  };
  const add = (c: MysqlMaskedColumn, materializedAs: { table: string; column: string } | null = null) => {
    if (exact.has(key3(c.schema, c.table, c.column))) return;
    exact.set(key3(c.schema, c.table, c.column), c);
    if (!anySchema.has(key2(c.table, c.column))) anySchema.set(key2(c.table, c.column), c);
    if (materializedAs && !anySchema.has(key2(materializedAs.table, materializedAs.column))) anySchema.set(key2(materializedAs.table, materializedAs.column), c);
    columns.push(c);
    const r = relationOf(c.schema, c.table);
    if (!r.columns.has(c.column.toLowerCase())) r.columns.set(c.column.toLowerCase(), c);
  };

  // 1. Columns a rule names (of tables, and of views named directly), the first matching rule winning.
  const generated: MysqlCatalogRow[] = [];
  const directViewColumns = new Map<string, MysqlMaskedColumn>();
  for (const row of rows.columns) {
    const [schema, table, column, comment] = [str(row, 'TABLE_SCHEMA'), str(row, 'TABLE_NAME'), str(row, 'COLUMN_NAME'), str(row, 'COLUMN_COMMENT')];
    const rule = masking.rules.find((r) => mysqlRuleMatches(r, schema, table, column, comment));
    if (rule === undefined) {
      if (str(row, 'GENERATION_EXPRESSION') !== '') generated.push(row);
      continue;
    }
    const c: MysqlMaskedColumn = { schema, table, column, name: `${schema}.${table}.${column}`, mask: rule.resolved, kind: mysqlValueKind(str(row, 'DATA_TYPE')) };
    if (viewKeys.has(`${schema.toLowerCase()}\u0000${table.toLowerCase()}`)) directViewColumns.set(key3(schema, table, column), c);
    add(c);
  }

  // 2. Generated columns computed from a masked column of their table carry its value: masked alike.
  for (let changed = true; changed; ) {
    changed = false;
    for (const row of generated) {
      const [schema, table, column] = [str(row, 'TABLE_SCHEMA'), str(row, 'TABLE_NAME'), str(row, 'COLUMN_NAME')];
      if (exact.has(key3(schema, table, column))) continue;
      const tokens = lexOrNull(str(row, 'GENERATION_EXPRESSION'));
      const own = [...exact.values()].filter((c) => c.schema.toLowerCase() === schema.toLowerCase() && c.table.toLowerCase() === table.toLowerCase());
      const source = tokens === null ? own[0] : own.find((c) => tokens.some((t) => (t.type === 'word' || t.type === 'qident') && t.value.toLowerCase() === c.column.toLowerCase()));
      if (source === undefined) continue;
      add({ schema, table, column, name: `${schema}.${table}.${column}`, mask: source.mask, kind: mysqlValueKind(str(row, 'DATA_TYPE')) });
      changed = true;
    }
  }

  // Tables a rule names that the upstream account cannot see (a view with SQL SECURITY DEFINER may read them): their
  // names still make statements checked, and views reading them pass-through masked.
  for (const r of masking.rules) {
    const parts = r.column?.split('.') ?? [];
    if (parts.length < 2) continue;
    const [column, table] = [parts[parts.length - 1]!, parts[parts.length - 2]!];
    if (column === '*' || table === '*') continue;
    const rel = relationOf(parts.length === 3 ? parts[0]! : '*', table);
    if (!rel.columns.has(column.toLowerCase())) rel.columns.set(column.toLowerCase(), { schema: parts.length === 3 ? parts[0]! : '*', table, column, name: r.column!, mask: r.resolved, kind: 'text' });
  }

  // 3. Views, each after the views it reads: pass-through columns of masked columns are masked with their mask; a
  // view computing values from masked columns, or whose definition cannot be read, is refused.
  const views = new Map<string, MysqlCatalogRow[]>();
  for (const v of rows.views) {
    const k = str(v, 'TABLE_NAME').toLowerCase();
    views.set(k, [...(views.get(k) ?? []), v]);
  }
  const state = new Map<MysqlCatalogRow, 'doing' | 'done'>();
  const catalogSoFar: MysqlMaskCatalog = { empty: false, columns, maskOf: () => null, relation: (n) => relations.get(n) };
  const resolve = (v: MysqlCatalogRow): void => {
    if (state.has(v)) {
      if (state.get(v) === 'doing') relationOf(str(v, 'TABLE_SCHEMA'), str(v, 'TABLE_NAME')).refused ??= `view ${str(v, 'TABLE_SCHEMA')}.${str(v, 'TABLE_NAME')} reads itself through other views, which the gateway cannot follow`;
      return;
    }
    state.set(v, 'doing');
    resolveView(v);
    state.set(v, 'done');
  };
  const resolveView = (v: MysqlCatalogRow): void => {
    const [schema, name, def] = [str(v, 'TABLE_SCHEMA'), str(v, 'TABLE_NAME'), str(v, 'VIEW_DEFINITION')];
    const tokens = lexOrNull(def);
    if (def.trim() === '' || tokens === null) {
      relationOf(schema, name).refused = `the gateway cannot read the definition of view ${schema}.${name} (the upstream account needs SHOW VIEW on it), so it cannot tell whether the view shows masked columns; read the tables it is built on`;
      return;
    }
    for (const t of tokens) {
      if (t.type !== 'word' && t.type !== 'qident') continue;
      for (const dep of views.get(t.value.toLowerCase()) ?? []) if (dep !== v) resolve(dep);
    }
    const read = readViewDefinition(def, catalogSoFar, { predicates, noBackslashEscapes: false });
    const direct = [...directViewColumns.values()].filter((c) => c.schema.toLowerCase() === schema.toLowerCase() && c.table.toLowerCase() === name.toLowerCase());
    if (!read.ok) {
      relationOf(schema, name).refused = `view ${schema}.${name} ${read.message}`;
      return;
    }
    for (const item of read.items) {
      const computed = direct.find((c) => c.column.toLowerCase() === item.alias.toLowerCase());
      const source = item.source === null ? null : sourceOf(item.source, read.refs, schema);
      if (computed !== undefined) {
        if (item.source === null) relationOf(schema, name).refused = `a rule masks ${computed.name}, a value view ${schema}.${name} computes, which the server reports without its origin; an admin can mask the columns it is computed from instead`;
        else if (source === null) anySchema.set(key2(item.source.table ?? name, item.source.column), computed);
        else anySchema.set(key2(source.table, source.column), computed);
        continue;
      }
      if (source !== null) add({ schema, table: name, column: item.alias, name: `${schema}.${name}.${item.alias}`, mask: source.mask, kind: source.kind }, { table: source.table, column: source.column });
    }
  };
  const sourceOf = (src: { schema: string | null; table: string | null; column: string }, refs: { schema: string | null; table: string; alias: string | null }[], viewSchema: string): MysqlMaskedColumn | null => {
    const candidates = refs.filter((r) => src.table === null || (r.alias ?? r.table).toLowerCase() === src.table.toLowerCase());
    for (const r of candidates) {
      const s = src.schema ?? r.schema ?? viewSchema;
      const hit = exact.get(key3(s, r.table, src.column));
      if (hit) return hit;
    }
    // A table the account cannot see but a rule names, or a qualifier the FROM clause does not explain: any relation
    // of that name (fail closed).
    const names = candidates.length > 0 ? candidates.map((r) => r.table) : src.table !== null ? [src.table] : [];
    for (const t of names) {
      const hit = relations.get(t.toLowerCase())?.columns.get(src.column.toLowerCase());
      if (hit) return hit;
    }
    return null;
  };
  for (const v of rows.views) resolve(v);

  // 4. Triggers that read masked columns (or could: unreadable bodies) make writes to their table refused.
  const maskedNames = new Set(columns.map((c) => c.column.toLowerCase()));
  for (const tr of rows.triggers) {
    const [schema, table, trigger, body] = [str(tr, 'EVENT_OBJECT_SCHEMA'), str(tr, 'EVENT_OBJECT_TABLE'), str(tr, 'TRIGGER_NAME'), str(tr, 'ACTION_STATEMENT')];
    const tokens = lexOrNull(body);
    const reads = tokens === null || tokens.some((t) => (t.type === 'word' || t.type === 'qident') && (maskedNames.has(t.value.toLowerCase()) || (relations.get(t.value.toLowerCase())?.columns.size ?? 0) > 0));
    if (reads) relationOf(schema, table).writeRefused ??= `trigger ${schema}.${trigger} on it reads masked columns, and a write would run it`;
  }

  return {
    empty: relations.size === 0,
    columns,
    maskOf(schema, orgTable, orgName) {
      if (orgTable === '' || orgName === '') return null;
      return (schema === '' ? anySchema.get(key2(orgTable, orgName)) : exact.get(key3(schema, orgTable, orgName))) ?? null;
    },
    relation: (n) => relations.get(n),
  };
}
