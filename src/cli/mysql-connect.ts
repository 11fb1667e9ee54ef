// What `airlock connect` gives for a MySQL/MariaDB resource: the settings, a ready client command line, a mysql2 URL,
// and the argv/environment that `--exec mariadb|mysql` runs the client with.
import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';

export interface MysqlSettings {
  host: string;
  port: number;
  /** The principal: the gateway maps it to the grant's upstream user, which the person never sees. */
  user: string;
  /** A grant-bound access token; the gateway checks it (mysql_native_password against a per-token verifier, or over TLS). */
  password: string;
  /** The resource, or resource/schema for another schema the resource covers. */
  database: string;
  /** The gateway CA, saved where `airlock ca` saves it. */
  ssl_ca: string;
}

/** Clients that speak MySQL's protocol, refused on a postgres resource with a pointer to psql. */
export const MYSQL_CLIENTS = new Set(['mariadb', 'mysql', 'mariadb-dump', 'mysqldump', 'mysqlsh', 'mycli']);
/** Clients that speak PostgreSQL's protocol, refused on a mysql resource with a pointer to mariadb/mysql. */
export const POSTGRES_CLIENTS = new Set(['psql', 'pg_dump', 'pg_dumpall', 'pg_restore', 'pgcli', 'pgbench']);

/** Quoted for a POSIX shell only where needed, so the printed line stays readable and still pastes safely. */
function sh(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The client's flags. MariaDB's client (also `mysql` on Debian) verifies with --ssl-verify-server-cert; Oracle
 * MySQL 8 dropped that flag for --ssl-mode=VERIFY_IDENTITY. Either way the certificate and host name are checked.
 */
export function mysqlClientArgs(s: MysqlSettings, flavor: 'mariadb' | 'oracle'): string[] {
  // Both clients take host "localhost" to mean the local server's Unix socket, which would skip the gateway.
  const tcp = s.host === 'localhost' ? ['--protocol=TCP'] : [];
  return ['-h', s.host, '-P', String(s.port), ...tcp, '-u', s.user, `--ssl-ca=${s.ssl_ca}`, flavor === 'mariadb' ? '--ssl-verify-server-cert' : '--ssl-mode=VERIFY_IDENTITY'];
}

/** `mariadb -h … -P … -u … --ssl-ca=… --ssl-verify-server-cert dbname`: the password comes from MYSQL_PWD, never argv. */
export function mysqlCommandLine(s: MysqlSettings, program = 'mariadb', flavor: 'mariadb' | 'oracle' = 'mariadb'): string {
  return [program, ...mysqlClientArgs(s, flavor), s.database].map(sh).join(' ');
}

/** For mysql2 (and the mariadb connector): no password in the URL; it goes in `password`, the CA in `ssl.ca`. */
export function mysqlUrl(s: MysqlSettings): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  return `mysql://${encodeURIComponent(s.user)}@${host}:${s.port}/${encodeURIComponent(s.database)}`;
}

/** Whether the `mysql` (or `mariadb`) program on PATH is MariaDB's client, which Debian ships as both names. */
export function clientFlavor(program: string): 'mariadb' | 'oracle' {
  if (basename(program).startsWith('mariadb')) return 'mariadb';
  try {
    const v = execFileSync(program, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    return /mariadb/i.test(v) ? 'mariadb' : 'oracle';
  } catch {
    // It cannot even print its version: run it anyway so that its own error reaches the user.
    return 'mariadb';
  }
}

/** argv and environment for `--exec mariadb|mysql`: settings as flags, the password only in MYSQL_PWD. */
export function mysqlExec(s: MysqlSettings, program: string, extra: string[]): { args: string[]; env: Record<string, string> } {
  const args = [...mysqlClientArgs(s, clientFlavor(program)), `--database=${s.database}`, ...extra];
  return { args, env: { MYSQL_PWD: s.password } };
}
