// Sets a new password on a resource's own upstream account (PostgreSQL role, MySQL/MariaDB user), connected as that
// account, then proves a new connection logs in with it; any failure puts the previous password back.
import mysql from 'mysql2/promise';
import type { ResourceDef } from '../policy/schema.js';
import { defaultDatabase } from '../policy/databases.js';
import { pgAdminConnection, pgUpstreamSecurity } from '../credentials/pg-upstream-security.js';
import { scramVerifier } from '../credentials/pg-sql.js';
import { mysqlNativePasswordHash, quoteMysqlString } from '../credentials/mysql-sql.js';
import { splitAddress } from './pg-credentials.js';
import { mysqlSchemas } from './mysql-credentials.js';

/** A failed step of a password change: which one, and the server's reason (never a password). */
export class PasswordChangeError extends Error {
  /**
   * `mayHoldNext`: the account may now have the new password (a failed revert, or a connection lost during the
   * change), so the caller must keep it. `loggedInWith`: which candidate logged in, when one did.
   */
  constructor(readonly step: 'connect' | 'change' | 'verify' | 'revert', reason: string, readonly mayHoldNext = false, readonly loggedInWith = -1) {
    super(reason);
  }
}

/** Whether the server answered the statement with an error (so it did not apply), rather than the connection failing. */
function refusedByServer(e: unknown): boolean {
  const x = e as { sqlState?: unknown; code?: unknown; fatal?: unknown };
  if (x.fatal) return false;
  return typeof x.sqlState === 'string' || (typeof x.code === 'string' && /^[0-9A-Z]{5}$/.test(x.code));
}

/** The index of the first candidate the account logs in with, or -1 (an interrupted rotation left two to try). */
export async function firstLogin(resource: ResourceDef, username: string, candidates: string[]): Promise<number> {
  const open = resource.kind === 'postgres' ? openPg : openMysql;
  for (const [i, password] of candidates.entries()) {
    try {
      await (await open(resource, username, password)).end();
      return i;
    } catch {
      // The next candidate, then -1.
    }
  }
  return -1;
}

/** A change that succeeded upstream: the caller stores the new password, or reverts if it cannot; then closes. */
export interface PasswordChange {
  /** Which candidate password the account logged in with (0: the stored one, 1: a pending one from an interrupted rotation). */
  loggedInWith: number;
  revert(): Promise<void>;
  close(): Promise<void>;
}

interface AccountSession {
  setPassword(password: string): Promise<void>;
  end(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects as `username` with the first of `candidates` that logs in, sets `next` as its password, and logs in anew
 * with `next`. The first connection stays open until close(), so revert() can put the previous password back.
 */
export async function changeUpstreamPassword(resource: ResourceDef, username: string, candidates: string[], next: string): Promise<PasswordChange> {
  const open = resource.kind === 'postgres' ? openPg : openMysql;
  let session: AccountSession | undefined;
  let loggedInWith = -1;
  let lastError = 'no password to log in with';
  for (const [i, password] of candidates.entries()) {
    try {
      session = await open(resource, username, password);
      loggedInWith = i;
      break;
    } catch (e) {
      lastError = (e as Error).message;
    }
  }
  if (!session) throw new PasswordChangeError('connect', `could not log in to ${resource.address} as ${username}: ${lastError}`);
  const previous = candidates[loggedInWith]!;
  const revert = async () => {
    try {
      await session.setPassword(previous);
    } catch (e) {
      throw new PasswordChangeError('revert', `could not put the previous password back: ${(e as Error).message}`, true, loggedInWith);
    }
  };
  try {
    await session.setPassword(next);
  } catch (e) {
    await session.end();
    const refused = refusedByServer(e);
    throw new PasswordChangeError('change', `${username} could not change its password: ${(e as Error).message}`, !refused, loggedInWith);
  }
  try {
    const probe = await open(resource, username, next);
    await probe.end();
  } catch (e) {
    const why = `a new connection with the new password failed: ${(e as Error).message}`;
    try {
      await revert();
    } catch (r) {
      await session.end();
      throw new PasswordChangeError('revert', `${why}; and ${(r as Error).message}`, true, loggedInWith);
    }
    await session.end();
    throw new PasswordChangeError('verify', `${why}; the previous password was put back`, false, loggedInWith);
  }
  return { loggedInWith, revert, close: () => session.end() };
}

async function openPg(resource: ResourceDef, user: string, password: string): Promise<AccountSession> {
  const { host, port } = splitAddress(resource.address, 5432);
  const conn = pgAdminConnection(pgUpstreamSecurity(resource, host), host, port);
  const client = new conn.Client({ host, port, user, password, database: defaultDatabase(resource), ssl: conn.ssl, enableChannelBinding: conn.enableChannelBinding, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  return {
    // The verifier, computed here, is all the server (and its log, with log_statement = 'ddl') ever sees.
    async setPassword(p) {
      await client.query(`ALTER ROLE CURRENT_USER PASSWORD '${await scramVerifier(p)}'`);
    },
    end: () => client.end().catch(() => {}),
  };
}

async function openMysql(resource: ResourceDef, user: string, password: string): Promise<AccountSession> {
  const { host, port } = splitAddress(resource.address, 3306);
  const c = await mysql.createConnection({ host, port, user, password, database: mysqlSchemas(resource)[0], connectTimeout: CONNECT_TIMEOUT_MS });
  c.on('error', () => {});
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    const mariadb = String(rows[0]?.v ?? '').includes('MariaDB');
    return {
      async setPassword(p) {
        // MariaDB: SET PASSWORD for one's own account needs no privilege and carries only the hash. MySQL 8 lets an
        // account change its own password with ALTER USER USER(); it hides the literal in its logs.
        if (mariadb) await c.query(`SET PASSWORD = ${quoteMysqlString(mysqlNativePasswordHash(p))}`);
        else await c.query(`ALTER USER USER() IDENTIFIED WITH mysql_native_password BY ${quoteMysqlString(p)}`);
      },
      end: () => c.end().catch(() => {}),
    };
  } catch (e) {
    await c.end().catch(() => {});
    throw e;
  }
}
