// What a role's privileges mean on a MySQL/MariaDB resource: the privilege names a per-grant user may be given on the
// resource's schemas, checked when the policy loads.
import type { PolicyDoc, ResourceDef, RoleDef } from './schema.js';

/**
 * Privileges MySQL and MariaDB accept at the schema level (`GRANT … ON \`schema\`.*`): the only level a per-grant user
 * is given anything at. DELETE HISTORY is MariaDB's (system-versioned tables).
 */
export const MYSQL_SCHEMA_PRIVILEGES: readonly string[] = [
  'ALL PRIVILEGES', 'ALTER', 'ALTER ROUTINE', 'CREATE', 'CREATE ROUTINE', 'CREATE TEMPORARY TABLES', 'CREATE VIEW', 'DELETE', 'DELETE HISTORY',
  'DROP', 'EVENT', 'EXECUTE', 'INDEX', 'INSERT', 'LOCK TABLES', 'REFERENCES', 'SELECT', 'SHOW VIEW', 'TRIGGER', 'UPDATE', 'USAGE',
];

/** Server-wide privileges: MySQL refuses them on a schema, and a per-grant user must never hold them. */
const GLOBAL_ONLY = new Set([
  'BINLOG ADMIN', 'BINLOG MONITOR', 'BINLOG REPLAY', 'CONNECTION ADMIN', 'CREATE ROLE', 'CREATE TABLESPACE', 'CREATE USER', 'DROP ROLE', 'FEDERATED ADMIN',
  'FILE', 'PROCESS', 'READ_ONLY ADMIN', 'RELOAD', 'REPLICA MONITOR', 'REPLICATION CLIENT', 'REPLICATION MASTER ADMIN', 'REPLICATION SLAVE',
  'REPLICATION SLAVE ADMIN', 'SET USER', 'SHOW DATABASES', 'SHUTDOWN', 'SLAVE MONITOR', 'SUPER',
]);

/**
 * Never given to a per-grant user: EVENT would let it drop its own expiry event (which lives in the resource's first
 * schema) and outlive its grant when Airlock is down; ALL PRIVILEGES includes EVENT.
 */
const NEVER_GIVEN: Readonly<Record<string, string>> = {
  EVENT: 'EVENT would let the per-grant user drop its own expiry event and outlive its grant; it is never given',
  'ALL PRIVILEGES': 'ALL PRIVILEGES includes EVENT, which would let the per-grant user drop its own expiry event; use sql: admin (everything on the schemas but EVENT) or list the privileges',
};

/** The schema privileges a role's `grants` may list. */
const GRANTABLE: readonly string[] = MYSQL_SCHEMA_PRIVILEGES.filter((p) => NEVER_GIVEN[p] === undefined);

/** What a read-only role's user may hold: nothing that can change data or state, so the server refuses what a guardrail misses. */
export const MYSQL_READ_PRIVILEGES: readonly string[] = ['SELECT', 'SHOW VIEW'];
export const MYSQL_WRITE_PRIVILEGES: readonly string[] = [...MYSQL_READ_PRIVILEGES, 'INSERT', 'UPDATE', 'DELETE'];
/**
 * Everything on the resource's schemas (DDL included) spelled out, for MySQL and MariaDB alike: never EVENT (see
 * NEVER_GIVEN), GRANT OPTION nor a server-wide privilege; not MariaDB's DELETE HISTORY, which MySQL does not know.
 */
export const MYSQL_ADMIN_PRIVILEGES: readonly string[] = [
  'SELECT', 'SHOW VIEW', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'REFERENCES', 'CREATE TEMPORARY TABLES',
  'LOCK TABLES', 'CREATE VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EXECUTE', 'TRIGGER',
];

/** A privilege as MySQL spells it: upper case, single spaces; `ALL` is `ALL PRIVILEGES`. */
export function normalizeMysqlPrivilege(s: string): string {
  const n = s.trim().replace(/\s+/g, ' ').toUpperCase();
  return n === 'ALL' ? 'ALL PRIVILEGES' : n;
}

/** Why this entry of `grants:` cannot be given to a per-grant MySQL user, or undefined when it can. */
export function mysqlPrivilegeProblem(entry: string, readOnly: boolean): string | undefined {
  const p = normalizeMysqlPrivilege(entry);
  if (p === 'GRANT OPTION') return 'GRANT OPTION would let the per-grant user hand its privileges on to others; it is never given';
  if (NEVER_GIVEN[p] !== undefined) return NEVER_GIVEN[p];
  if (GLOBAL_ONLY.has(p)) return `${p} is a server-wide privilege; a per-grant MySQL user gets privileges on the resource's schemas only (one of ${GRANTABLE.join(', ')})`;
  if (/\bON\b|[`'"(.*]/.test(p)) return `"${entry}" is not a privilege name; for a mysql resource, grants lists MySQL privileges (e.g. SELECT, SHOW VIEW), given on each schema the resource covers`;
  if (!MYSQL_SCHEMA_PRIVILEGES.includes(p)) return `"${entry}" is not a MySQL privilege; use one of ${GRANTABLE.join(', ')}`;
  if (readOnly && !MYSQL_READ_PRIVILEGES.includes(p)) return `the role has sql: read, and ${p} can change data or state; a read-only role may list only ${MYSQL_READ_PRIVILEGES.join(', ')} (or use sql: write)`;
  return undefined;
}

/**
 * The privileges a per-grant MySQL user of this role gets on each schema the resource covers: the role's `grants`
 * (normalized), or by `sql`: read → SELECT, SHOW VIEW; write → those and INSERT, UPDATE, DELETE; admin →
 * MYSQL_ADMIN_PRIVILEGES (everything on a schema but EVENT and GRANT OPTION).
 */
export function mysqlPrivilegesFor(role: RoleDef): { read_only: boolean; privileges: string[] } {
  const p = role.privileges;
  const readOnly = p.sql === 'read';
  if (p.grants) return { read_only: readOnly, privileges: [...new Set(p.grants.map(normalizeMysqlPrivilege))] };
  return { read_only: readOnly, privileges: [...(readOnly ? MYSQL_READ_PRIVILEGES : p.sql === 'write' ? MYSQL_WRITE_PRIVILEGES : MYSQL_ADMIN_PRIVILEGES)] };
}

/** The role covers the resource: listed by name, or carrying every label the role selects by. */
function covers(role: RoleDef, r: ResourceDef): boolean {
  if (role.resources.names.includes(r.name)) return true;
  const labels = role.resources.labels;
  return labels !== undefined && Object.entries(labels).every(([k, v]) => r.labels[k] === v);
}

/**
 * What a role's privileges cannot mean on the mysql resources it covers: `grants` that are not schema privileges,
 * `member_of` (PostgreSQL's), and `grants` shared with postgres resources (where they
 * are GRANT bodies, not privilege names).
 */
export function mysqlRoleProblems(doc: PolicyDoc): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  doc.roles.forEach((role, i) => {
    const covered = doc.resources.filter((r) => covers(role, r));
    const mysql = covered.filter((r) => r.kind === 'mysql');
    if (mysql.length === 0) return;
    const at = (...rest: (string | number)[]) => ['roles', i, 'privileges', ...rest];
    const names = mysql.map((r) => r.name).join(', ');
    const p = role.privileges;
    const postgres = covered.filter((r) => r.kind === 'postgres');
    if (p.grants && postgres.length > 0) {
      out.push({ path: at('grants'), message: `the role covers mysql (${names}) and postgres (${postgres.map((r) => r.name).join(', ')}) resources, where grants mean MySQL privilege names and GRANT bodies respectively; make one role per kind` });
      return;
    }
    if (p.member_of) out.push({ path: at('member_of'), message: `member_of names PostgreSQL roles; on mysql resources (${names}) list MySQL privileges in grants instead` });
    p.grants?.forEach((g, j) => {
      const why = mysqlPrivilegeProblem(g, p.sql === 'read');
      if (why) out.push({ path: at('grants', j), message: why });
    });
  });
  return out;
}
