// Built-in functions and session settings that a read-only role must not touch, with the reason each is refused.

/**
 * Functions refused under read_only wherever they appear in a statement. Names are compared lower-cased and
 * without their schema, so pg_catalog.SET_CONFIG and "Set_Config" are caught too: refusing a user function
 * that happens to share a name is the cheap side of that trade.
 */
const EXACT: ReadonlyMap<string, string> = new Map<string, string>([
  // Session and server state.
  ['set_config', 'changes session settings, including ones that turn read-only off'],
  ['pg_reload_conf', 'reloads the server configuration'],
  ['pg_rotate_logfile', 'rotates the server log'],
  ['pg_rotate_logfile_old', 'rotates the server log'],
  ['pg_terminate_backend', 'ends other sessions'],
  ['pg_cancel_backend', 'cancels other sessions\' queries'],
  ['pg_signal_backend', 'signals other sessions'],
  ['pg_log_backend_memory_contexts', 'signals another session'],
  ['pg_promote', 'promotes a standby server'],
  ['pg_switch_wal', 'forces a WAL switch'],
  ['pg_switch_xlog', 'forces a WAL switch'],
  ['pg_create_restore_point', 'writes a WAL restore point'],
  ['pg_log_standby_snapshot', 'writes to the WAL'],
  ['pg_backup_start', 'starts a server backup'],
  ['pg_backup_stop', 'stops a server backup'],
  ['pg_start_backup', 'starts a server backup'],
  ['pg_stop_backup', 'stops a server backup'],
  ['pg_wal_replay_pause', 'pauses WAL replay'],
  ['pg_wal_replay_resume', 'resumes WAL replay'],
  ['pg_drop_replication_slot', 'drops a replication slot'],
  ['pg_replication_slot_advance', 'advances a replication slot'],
  ['pg_sync_replication_slots', 'changes replication slots'],
  ['pg_import_system_collations', 'writes to the system catalog'],
  ['pg_restore_relation_stats', 'writes planner statistics'],
  ['pg_restore_attribute_stats', 'writes planner statistics'],
  ['pg_clear_relation_stats', 'writes planner statistics'],
  ['pg_clear_attribute_stats', 'writes planner statistics'],
  ['pg_set_relation_stats', 'writes planner statistics'],
  ['pg_set_attribute_stats', 'writes planner statistics'],
  ['pg_stat_statements_reset', 'resets statistics'],
  // Notifications and logical messages reach other sessions.
  ['pg_notify', 'sends a notification to other sessions'],
  ['pg_logical_emit_message', 'writes a message into the WAL'],
  // Sequences and transaction ids: each call is a write that is never rolled back.
  ['nextval', 'advances a sequence'],
  ['setval', 'sets a sequence'],
  ['txid_current', 'assigns a transaction id (a write that burns ids)'],
  ['pg_current_xact_id', 'assigns a transaction id (a write that burns ids)'],
  // Large objects.
  ['lo_import', 'reads a server file into a large object'],
  ['lo_export', 'writes a large object to a server file'],
  ['lo_unlink', 'deletes a large object'],
  ['lo_create', 'creates a large object'],
  ['lo_creat', 'creates a large object'],
  ['lo_from_bytea', 'creates a large object'],
  ['lo_put', 'writes a large object'],
  ['lo_truncate', 'writes a large object'],
  ['lo_truncate64', 'writes a large object'],
  ['lowrite', 'writes a large object'],
  // The server's file system.
  ['pg_read_file', 'reads files on the database server'],
  ['pg_read_binary_file', 'reads files on the database server'],
  ['pg_stat_file', 'inspects files on the database server'],
  ['pg_logdir_ls', 'lists server log files'],
  // These run SQL text the gateway never sees.
  ['query_to_xml', 'runs SQL text given as a string, which the gateway cannot check'],
  ['query_to_xmlschema', 'runs SQL text given as a string, which the gateway cannot check'],
  ['query_to_xml_and_xmlschema', 'runs SQL text given as a string, which the gateway cannot check'],
  ['cursor_to_xml', 'reads a cursor the gateway cannot check'],
  ['cursor_to_xmlschema', 'reads a cursor the gateway cannot check'],
  ['ts_stat', 'runs SQL text given as a string, which the gateway cannot check'],
]);

/** Families refused by prefix: every member acts outside the statement (files, slots, remote SQL, locks). */
const PREFIXES: ReadonlyArray<readonly [string, string]> = [
  ['dblink', 'runs SQL on another connection, which the gateway cannot check'],
  ['pg_ls_', 'lists directories on the database server'],
  ['pg_file_', 'writes files on the database server'],
  ['pg_replication_origin_', 'changes replication origins'],
  ['pg_logical_slot_', 'reads or consumes a logical replication slot'],
  ['pg_stat_reset', 'resets statistics'],
  // Advisory locks take no row, but an application may coordinate jobs or migrations with them;
  // unlock functions stay allowed because they can only release the session's own locks.
  ['pg_advisory_lock', 'takes an advisory lock that can block the application'],
  ['pg_advisory_xact_lock', 'takes an advisory lock that can block the application'],
  ['pg_try_advisory_', 'takes an advisory lock that can block the application'],
  ['binary_upgrade_', 'changes server internals'],
];

/** Why calling the function is refused under read_only, or null when it is allowed. */
export function sideEffectOf(name: string): string | null {
  const n = name.toLowerCase();
  const exact = EXACT.get(n);
  if (exact !== undefined) return exact;
  for (const [prefix, why] of PREFIXES) if (n.startsWith(prefix)) return why;
  if (n.startsWith('pg_create_') && n.endsWith('_replication_slot')) return 'creates a replication slot';
  if (n.startsWith('pg_copy_') && n.endsWith('_replication_slot')) return 'creates a replication slot';
  return null;
}

/** Settings that change who the session acts as; any SET, RESET or DEFAULT of them is refused. */
export const IDENTITY_SETTINGS: ReadonlySet<string> = new Set(['role', 'session_authorization']);

/** Settings that may turn read-only transactions off; only a true value is allowed. */
export const READ_ONLY_SETTINGS: ReadonlySet<string> = new Set(['default_transaction_read_only', 'transaction_read_only']);

/**
 * PostgreSQL's parse_bool accepts unique prefixes of true/yes and on, and 1. Anything else (off, false, 0,
 * DEFAULT, junk the server will reject anyway) counts as "not on", because failing closed costs nothing here.
 */
const TRUE_WORDS: ReadonlySet<string> = new Set(['t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on', '1']);

export function isTrueSetting(word: string): boolean {
  return TRUE_WORDS.has(word.trim().toLowerCase());
}
