// How to reach a resource through the gateway: the psql line and the `airlock connect` command. Neither holds a
// secret: the password is one of the user's own access tokens, which the console never has.
import type { PostgresGateway } from '../api/models.js';

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

export function connectionInfo(gw: PostgresGateway, principal: string, resource: string): ConnectionInfo {
  const conninfo = [`host=${pqValue(gw.host)}`, `port=${gw.port}`, `user=${pqValue(principal)}`, `dbname=${pqValue(resource)}`, 'sslmode=verify-full', `sslrootcert=${CA_FILE}`].join(' ');
  const shellArg = /^[A-Za-z0-9._\-]+$/.test(resource) ? resource : `'${resource.replace(/'/g, `'\\''`)}'`;
  return { psql: `psql "${conninfo}"`, command: `airlock connect ${shellArg} --exec psql` };
}
