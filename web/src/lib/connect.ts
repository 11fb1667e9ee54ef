// How to reach a resource through the gateway for its kind: the psql or mariadb line and the `airlock connect`
// command. None holds a secret: the password is one of the user's own access tokens, which the console never has.
import type { Gateways, PostgresGateway } from '../api/models.js';

export const CA_FILE = 'airlock-ca.crt';

/** libpq quoting for a keyword=value connection string: single quotes around values with spaces or quotes. */
function pqValue(v: string): string {
  return /^[A-Za-z0-9._\-/]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface ConnectionInfo {
  /** `psql "host=… port=… user=… dbname=… sslmode=verify-full sslrootcert=airlock-ca.crt"` */
  psql: string;
  /** `airlock connect RESOURCE --exec psql` */
  command: string;
}

/** A POSIX shell word: quoted only when it has to be. */
function shellWord(v: string): string {
  return /^[A-Za-z0-9._\-/=@:]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

export interface ClientLine {
  /** What the line is for, shown next to it: "psql" or "mariadb". */
  client: string;
  line: string;
  /** `airlock connect RESOURCE --exec …` */
  command: string;
  /** The line's test id in the page. */
  testId: string;
}

/**
 * `mariadb -h … -P … -u … --ssl-ca=airlock-ca.crt --ssl-verify-server-cert RESOURCE`: the password comes from
 * MYSQL_PWD (an access token), so it is never on a command line; the certificate and host name are checked.
 */
export function mysqlLine(gw: PostgresGateway, principal: string, resource: string): string {
  // The client takes host "localhost" to mean the local server's Unix socket, which would skip the gateway.
  const tcp = gw.host === 'localhost' ? ['--protocol=TCP'] : [];
  return ['mariadb', '-h', gw.host, '-P', String(gw.port), ...tcp, '-u', principal, `--ssl-ca=${CA_FILE}`, '--ssl-verify-server-cert', resource].map(shellWord).join(' ');
}

/** The line for the resource's kind, or null when the server runs no gateway for it (or it has none, e.g. ssh). */
export function clientLine(gateways: Gateways, kind: string | undefined, principal: string, resource: string): ClientLine | null {
  if ((kind === undefined || kind === 'postgres') && gateways.postgres) {
    const c = connectionInfo(gateways.postgres, principal, resource);
    return { client: 'psql', line: c.psql, command: c.command, testId: 'psql-string' };
  }
  if (kind === 'mysql' && gateways.mysql) {
    return { client: 'mariadb', line: mysqlLine(gateways.mysql, principal, resource), command: `airlock connect ${shellWord(resource)} --exec mariadb`, testId: 'mysql-command' };
  }
  return null;
}

export function connectionInfo(gw: PostgresGateway, principal: string, resource: string): ConnectionInfo {
  const conninfo = [`host=${pqValue(gw.host)}`, `port=${gw.port}`, `user=${pqValue(principal)}`, `dbname=${pqValue(resource)}`, 'sslmode=verify-full', `sslrootcert=${CA_FILE}`].join(' ');
  const shellArg = /^[A-Za-z0-9._\-]+$/.test(resource) ? resource : `'${resource.replace(/'/g, `'\\''`)}'`;
  return { psql: `psql "${conninfo}"`, command: `airlock connect ${shellArg} --exec psql` };
}
