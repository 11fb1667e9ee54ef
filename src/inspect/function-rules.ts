// Which functions, operators and views a read-only role may reach: built-ins known to be free of side effects,
// database objects verified from the catalog, and whatever the role lists; everything else is refused.

import { NON_VOLATILE_BUILTINS, VOLATILE_BUILTINS } from './pg-builtin-functions.js';
import { sideEffectOf } from './side-effects.js';
import type { NameRefs } from './tree-walk.js';

/**
 * Built-ins that run SQL they are given as text, or query relations named only at run time: the gateway never sees
 * that SQL, so it is refused under every guardrail (rule hidden_sql), not only read_only. Compared in lower case.
 */
const HIDDEN_SQL: ReadonlyMap<string, string> = new Map([
  ['query_to_xml', 'runs the SQL text it is given'],
  ['query_to_xmlschema', 'runs the SQL text it is given'],
  ['query_to_xml_and_xmlschema', 'runs the SQL text it is given'],
  ['cursor_to_xml', 'reads a cursor whose query the gateway may not have seen'],
  ['cursor_to_xmlschema', 'reads a cursor whose query the gateway may not have seen'],
  ['ts_stat', 'runs the SQL text it is given'],
  ['ts_rewrite', 'runs the SQL text it is given (in its two-argument form)'],
  ['table_to_xml', 'reads a relation named at run time, which may be a view the gateway refuses'],
  ['table_to_xmlschema', 'reads a relation named at run time'],
  ['table_to_xml_and_xmlschema', 'reads a relation named at run time, which may be a view the gateway refuses'],
  ['schema_to_xml', 'reads every relation of a schema, views the gateway refuses included'],
  ['schema_to_xmlschema', 'reads every relation of a schema'],
  ['schema_to_xml_and_xmlschema', 'reads every relation of a schema, views the gateway refuses included'],
  ['database_to_xml', 'reads every relation of the database, views the gateway refuses included'],
  ['database_to_xmlschema', 'reads every relation of the database'],
  ['database_to_xml_and_xmlschema', 'reads every relation of the database, views the gateway refuses included'],
]);

/** Why name runs SQL the gateway cannot see, or null. dblink* (an extension) sends SQL to another connection. */
export function hiddenSqlOf(name: string): string | null {
  const n = name.toLowerCase();
  if (n.startsWith('dblink')) return 'sends SQL text to another connection';
  return HIDDEN_SQL.get(n) ?? null;
}

/**
 * VOLATILE built-ins that only read, measure or wait, each checked against its implementation: randomness and
 * clocks, sleeping, the session's own sequence and lock state, sizes, WAL positions, statistics and server state
 * readers, and reading large objects. Every other VOLATILE built-in is refused.
 */
const VOLATILE_READERS: ReadonlySet<string> = new Set([
  'random', 'random_normal', 'setseed', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'array_sample', 'array_shuffle',
  'clock_timestamp', 'timeofday', 'pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'bernoulli', 'system',
  'currval', 'lastval', 'pg_advisory_unlock', 'pg_advisory_unlock_shared', 'pg_advisory_unlock_all', 'current_query',
  'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids', 'pg_lock_status', 'pg_notification_queue_usage', 'pg_jit_available',
  'pg_database_size', 'pg_relation_size', 'pg_table_size', 'pg_indexes_size', 'pg_total_relation_size', 'pg_tablespace_size',
  'pg_partition_tree', 'pg_partition_ancestors', 'pg_sequence_last_value', 'pg_get_sequence_data',
  'pg_is_in_recovery', 'pg_is_wal_replay_paused', 'pg_get_wal_replay_pause_state', 'pg_last_wal_receive_lsn',
  'pg_last_wal_replay_lsn', 'pg_last_xact_replay_timestamp', 'pg_current_wal_lsn', 'pg_current_wal_flush_lsn',
  'pg_current_wal_insert_lsn', 'pg_xact_commit_timestamp', 'pg_xact_commit_timestamp_origin', 'pg_last_committed_xact',
  'pg_xact_status', 'txid_status', 'pg_prepared_xact', 'pg_collation_actual_version', 'pg_database_collation_actual_version',
  'pg_control_checkpoint', 'pg_control_init', 'pg_control_recovery', 'pg_control_system', 'pg_get_backend_memory_contexts',
  'pg_get_shmem_allocations', 'pg_get_shmem_allocations_numa', 'pg_get_multixact_members', 'pg_get_wal_resource_managers',
  'pg_get_wait_events', 'pg_get_loaded_modules', 'pg_get_aios', 'pg_get_wal_summarizer_state', 'pg_available_wal_summaries',
  'pg_wal_summary_contents', 'pg_show_replication_origin_status', 'pg_stat_have_stats', 'pg_stat_clear_snapshot',
  'pg_stat_get_io', 'pg_stat_get_backend_io', 'pg_stat_get_backend_wal', 'pg_stat_get_recovery_prefetch',
  'lo_get', 'loread', 'lo_open', 'lo_close', 'lo_lseek', 'lo_lseek64', 'lo_tell', 'lo_tell64',
]);

/** IMMUTABLE or STABLE built-ins that still act: they assign a transaction id (a write to the commit log). */
const NON_VOLATILE_ACTORS: ReadonlyMap<string, string> = new Map([
  ['txid_current', 'assigns a transaction id (a write that burns ids)'],
  ['pg_current_xact_id', 'assigns a transaction id (a write that burns ids)'],
]);

/** A built-in function name a read-only role may call. Exact, case-sensitive: "LOWER" is not lower. */
export function isSafeBuiltin(name: string): boolean {
  if (NON_VOLATILE_BUILTINS.has(name)) return !NON_VOLATILE_ACTORS.has(name) && hiddenSqlOf(name) === null;
  return VOLATILE_READERS.has(name) || name.startsWith('pg_stat_get_xact_');
}

function isBuiltin(name: string): boolean {
  return NON_VOLATILE_BUILTINS.has(name) || VOLATILE_BUILTINS.has(name);
}

/** Why a built-in is refused under read_only (it is one, and not a safe one), or null. */
function builtinRefusal(name: string): string | null {
  if (!isBuiltin(name) || isSafeBuiltin(name)) return null;
  return sideEffectOf(name) ?? NON_VOLATILE_ACTORS.get(name) ?? hiddenSqlOf(name) ?? 'is a built-in that is not known to be free of side effects';
}

/** Role-independent facts about a statement's names, cached with its analysis. */
export interface FunctionFacts {
  /** First built-in reached that read_only refuses, with the clause that says why. */
  unsafe: { name: string; why: string } | null;
  /** First function that runs SQL the gateway cannot see (refused under any guardrail). */
  hiddenSql: { name: string; why: string } | null;
  /** Functions that are no built-in: allowed only when the database shows them safe or the role lists them. */
  unknown: string[];
  /** Safe built-ins called without a schema, and attribute names: a database function of that name may be called instead. */
  shadowable: string[];
  /** Operators without pg_catalog qualification, and relations read. */
  operators: string[];
  relations: string[];
}

function split(ref: string): [string | null, string] {
  const dot = ref.lastIndexOf('.');
  // Operators may contain no dot, function names may (quoted): a name with a dot is only ever schema.name here
  // when it came from a qualified list, which is how tree-walk builds it.
  return dot > 0 ? [ref.slice(0, dot), ref.slice(dot + 1)] : [null, ref];
}

export function functionFacts(refs: NameRefs): FunctionFacts {
  const f: FunctionFacts = { unsafe: null, hiddenSql: null, unknown: [], shadowable: [], operators: [], relations: refs.relations };
  const note = (name: string, why: string | null) => {
    if (why !== null) f.unsafe ??= { name, why };
  };
  for (const ref of [...refs.calls, ...refs.attributes.map((a) => `\0${a}`)]) {
    const attribute = ref.startsWith('\0');
    const [schema, name] = attribute ? [null, ref.slice(1)] : split(ref);
    const hidden = hiddenSqlOf(name);
    if (hidden !== null) f.hiddenSql ??= { name, why: hidden };
    if (schema !== null && schema !== 'pg_catalog') {
      f.unknown.push(ref);
      continue;
    }
    if (isSafeBuiltin(name)) {
      if (schema === null) f.shadowable.push(name);
    } else if (isBuiltin(name)) {
      note(name, builtinRefusal(name));
    } else if (attribute) {
      f.shadowable.push(name); // a column, unless the database has a function of that name
    } else if (schema === 'pg_catalog') {
      note(name, 'is not a built-in function of this server');
    } else {
      f.unknown.push(name);
    }
  }
  for (const op of refs.operators) {
    const [schema] = split(op);
    if (schema !== 'pg_catalog') f.operators.push(op);
  }
  return f;
}

/** What the database says about one name: safe to call, refused outright, or safe only if the role lists these functions. */
export interface CatalogVerdict {
  unsafe: string | null;
  needs: readonly string[];
}

/** The database objects a read-only session may reach by name; see database-catalog.ts. */
export interface FunctionCatalog {
  functions: ReadonlyMap<string, CatalogVerdict>;
  operators: ReadonlyMap<string, CatalogVerdict>;
  relations: ReadonlyMap<string, CatalogVerdict>;
}

/** Lower-cased role allow list entries, `name` or `schema.name`. */
export type AllowList = ReadonlySet<string>;

function listed(ref: string, allow: AllowList): boolean {
  if (allow.size === 0) return false;
  const lower = ref.toLowerCase();
  return allow.has(lower) || allow.has(lower.slice(lower.lastIndexOf('.') + 1));
}

const LIST_HINT = "(an admin can list it in the role's guardrails.allow_functions if it only reads)";

function verdictRefusal(what: string, v: CatalogVerdict, allow: AllowList, self: string | null = null): string | null {
  if (v.unsafe !== null) return `${what} ${v.unsafe}`;
  const missing = v.needs.find((n) => !listed(n, allow));
  if (missing === undefined) return null;
  // An opaque function needs only itself: say what it is rather than that it "calls" itself.
  if (self !== null && (missing === self || missing.endsWith(`.${self}`))) {
    return `${what} (${missing}) cannot be shown to only read: it is PL/pgSQL or another procedural language, SECURITY DEFINER, an aggregate, or volatile C ${LIST_HINT}`;
  }
  return `${what} calls the function ${missing}, which the gateway cannot show to only read ${LIST_HINT}`;
}

/**
 * Completes "this role is read-only and …" for the first name the role may not reach, or null. Without a catalog
 * (inspection outside a gateway session) nothing is known about database objects, so only unknown functions count.
 */
export function functionRefusal(f: FunctionFacts, allow: AllowList, catalog: FunctionCatalog | null): string | null {
  for (const ref of f.unknown) {
    if (listed(ref, allow)) continue;
    const v = catalog?.functions.get(ref);
    if (v !== undefined) {
      const why = verdictRefusal(`the function ${ref}`, v, allow, ref);
      if (why === null) continue;
      return why;
    }
    return `the function ${ref} is not a built-in known to be free of side effects ${LIST_HINT}`;
  }
  if (catalog === null) return null;
  for (const name of f.shadowable) {
    const v = catalog.functions.get(name);
    if (v === undefined || listed(name, allow)) continue;
    const why = verdictRefusal(`the database's own function ${name}`, v, allow, name);
    if (why !== null) return `${why}; it may be called here instead of a built-in or a column`;
  }
  for (const op of f.operators) {
    const v = catalog.operators.get(op);
    if (v === undefined) continue;
    const why = verdictRefusal(`the database's operator ${op}`, v, allow);
    if (why !== null) return why;
  }
  for (const rel of f.relations) {
    const v = catalog.relations.get(rel);
    if (v === undefined) continue;
    const why = verdictRefusal(`reading ${rel} runs its definition, which`, v, allow);
    if (why !== null) return why;
  }
  return null;
}
