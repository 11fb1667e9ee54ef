// Per-grant MySQL/MariaDB users: created for one grant with exactly the role's privileges on the resource's schemas,
// ended by the server's own event at the grant's end, and locked, cut off and dropped by Airlock when the grant ends.
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { AirlockError } from '../domain/errors.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { silentLog, type Log } from '../domain/log.js';
import { checkDeploymentId, checkGrantId } from './pg-role-names.js';
import { checkMysqlGrantBody, checkMysqlHost, mysqlAccount, mysqlNativePasswordHash, quoteMysqlIdent, quoteMysqlString } from './mysql-sql.js';
import { isMysqlUserName, mysqlExpiryEventName, mysqlMarkerComment, mysqlMarkerRole, mysqlUserName, parseMysqlMarker } from './mysql-user-names.js';

export { mysqlUserName, mysqlPrincipalPart } from './mysql-user-names.js';

/** What a policy role grants on a MySQL resource: GRANT bodies, each '<privileges> ON <schema>.<table or *>'. */
export interface MysqlPrivileges {
  read_only: boolean;
  grants: string[];
}

export interface MysqlGrantUserSpec {
  grantId: string;
  principal: string;
  expiresAt: Date;
  /** The schemas the resource covers: every grant must target one of them; the first holds the expiry event. */
  schemas: string[];
  privileges: MysqlPrivileges;
}

export interface MysqlGrantUsersOptions {
  /** The server and an admin account (CREATE USER, GRANT OPTION on the schemas, EVENT, PROCESS, CONNECTION ADMIN or SUPER). */
  host: string;
  port: number;
  user: string;
  password: string;
  /** Which Airlock this is: in the marker role's name and every event comment; this instance acts only on its own users. */
  deploymentId?: string;
  /**
   * The host part of every account made, i.e. where the gateway connects from. Default: the address the server sees
   * the admin connection come from (USER()), which is the gateway's own when both run in one process.
   */
  userHost?: string;
  /**
   * Where expiry events live: a schema of Airlock's own that no resource covers (default `airlock_expiry`, created
   * when missing), so no per-grant user holds a privilege there and none can drop its own event — not even by
   * dropping a schema it administers.
   */
  eventSchema?: string;
  /** Told of each user made, dropped, or that could not be dropped (for the audit log); awaited, its errors logged. */
  onEvent?: (e: MysqlUserEvent) => void | Promise<void>;
  log?: Log;
  clock?: Clock;
  /** Further mysql2 connection options for the admin connection (e.g. ssl). */
  connect?: Omit<mysql.PoolOptions, 'host' | 'port' | 'user' | 'password' | 'database' | 'multipleStatements'>;
}

export interface MysqlUserCredentials {
  username: string;
  password: string;
  /** The account's host part. */
  host: string;
}

export type MysqlUserEvent =
  | { kind: 'created'; role: string; grantId: string; databases: string[]; validUntil: string; expiryEvent: string | null }
  | { kind: 'dropped'; role: string; grantId: string | null; reason: string | undefined; terminated: number }
  | { kind: 'drop_failed'; role: string; grantId: string | null; reason: string | undefined; error: string };

export interface ManagedMysqlUser {
  name: string;
  host: string;
  /** From the expiry event's comment; null when there is no event of this deployment for the user. */
  grantId: string | null;
  /** When the server's event ends the user; null without one. */
  expiresAt: Date | null;
  eventSchema: string | null;
}

export interface ServerExpiry {
  /** The server's @@GLOBAL.event_scheduler: ON, OFF or DISABLED; 'unknown' when it could not be read. */
  event_scheduler: string;
  /** Whether the server ends per-grant users on time by itself. */
  ok: boolean;
  message: string;
}

/** Airlock's own schema for the expiry events (see MysqlGrantUsersOptions.eventSchema). */
export const DEFAULT_EVENT_SCHEMA = 'airlock_expiry';

const ER_CANNOT_USER = 1396;
const ER_NO_SUCH_THREAD = 1094;

/** The server's words and error code, never the statement (CREATE USER carries a password hash). */
function mysqlReason(e: unknown): { text: string; errno: number | undefined } {
  const err = e as { sqlMessage?: unknown; message?: unknown; code?: unknown; errno?: unknown };
  const message = typeof err.sqlMessage === 'string' ? err.sqlMessage : typeof err.message === 'string' ? err.message : String(e);
  const errno = typeof err.errno === 'number' ? err.errno : undefined;
  return { text: typeof err.code === 'string' ? `${message} (${err.code}${errno ? ` ${errno}` : ''})` : message, errno };
}

/** The event's time: the first whole second at or after the grant's end, in UTC (the event is created with time_zone +00:00). */
function eventTime(at: Date): string {
  const d = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * The body of the expiry event: lock the account so nothing new logs in, kill every connection of the user (a KILL of
 * a connection that just ended is ignored), then drop it. IF EXISTS throughout: Airlock may have got there first.
 */
export function expiryEventBody(user: string, host: string): string {
  const account = mysqlAccount(user, host);
  return `BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE cid BIGINT UNSIGNED;
  DECLARE c CURSOR FOR SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ${quoteMysqlString(user)};
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  ALTER USER IF EXISTS ${account} ACCOUNT LOCK;
  OPEN c;
  kill_each: LOOP
    FETCH c INTO cid;
    IF done THEN LEAVE kill_each; END IF;
    BEGIN
      DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
      KILL CONNECTION cid;
    END;
  END LOOP;
  CLOSE c;
  DROP USER IF EXISTS ${account};
END`;
}

export function serverExpiryMessage(value: string): ServerExpiry {
  const v = value.toUpperCase();
  if (v === 'ON') return { event_scheduler: 'ON', ok: true, message: 'the event scheduler is ON: the server ends each per-grant user at its grant\'s end, even with Airlock stopped' };
  const how = v === 'DISABLED'
    ? 'it was disabled at server start; set event_scheduler=ON under [mysqld] in my.cnf and restart the server'
    : 'turn it on now with SET GLOBAL event_scheduler = ON, and for good with event_scheduler=ON under [mysqld] in my.cnf';
  return {
    event_scheduler: v || 'unknown',
    ok: false,
    message: `the event scheduler is ${v || 'unknown'}: per-grant users are ended only while Airlock runs (a grant that ends while it is stopped keeps its user until Airlock starts again); ${how}`,
  };
}

function checkSpec(spec: MysqlGrantUserSpec, now: Date): void {
  const bad = (m: string) => new AirlockError('AIRLOCK_BAD_INPUT', m, { grantId: spec.grantId });
  checkGrantId(spec.grantId);
  if (!spec.principal) throw bad('a per-grant user needs a principal');
  if (spec.schemas.length === 0) throw bad('a per-grant MySQL user needs at least one schema: list database or databases on the resource');
  if (!(spec.expiresAt instanceof Date) || Number.isNaN(spec.expiresAt.getTime())) throw bad('expiresAt is not a valid time');
  if (spec.expiresAt.getTime() <= now.getTime()) throw bad(`grant ${spec.grantId} expired at ${spec.expiresAt.toISOString()}; no user is created for it`);
  if (spec.privileges.grants.length === 0) throw bad('the role grants nothing on this resource');
  for (const g of spec.privileges.grants) {
    const checked = checkMysqlGrantBody(g, spec.schemas);
    // EVENT (ALL includes it) would let the user drop its own expiry event, kept in the resource's first schema.
    const names = checked.text.split(/\s+ON\s+/i)[0]!.replace(/\([^)]*\)/g, ' ');
    if (/\b(EVENT|ALL)\b/i.test(names)) throw bad(`EVENT, or ALL PRIVILEGES which includes it, would let the per-grant user drop its own expiry event; it is never given: ${checked.text}`);
    // A contradiction in the policy is refused, not resolved: read_only must mean the privileges cannot write either.
    if (spec.privileges.read_only && checked.writes) throw bad(`the role is read_only but grants writing: ${checked.text}`);
  }
}

/** 32 random bytes as base64url: nothing a connection option or a client's command line would need to escape. */
function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}

export function makeMysqlGrantUsers(opts: MysqlGrantUsersOptions) {
  const deployment = opts.deploymentId === undefined ? undefined : checkDeploymentId(opts.deploymentId);
  const marker = mysqlMarkerRole(deployment);
  const log = opts.log ?? silentLog;
  const clock = opts.clock ?? systemClock;
  if (opts.userHost !== undefined) checkMysqlHost(opts.userHost);
  if (opts.eventSchema !== undefined) quoteMysqlIdent(opts.eventSchema);
  const admin = mysql.createPool({
    connectTimeout: 10_000,
    ...opts.connect,
    host: opts.host,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    connectionLimit: 3,
    maxIdle: 1,
    idleTimeout: 10_000,
    multipleStatements: false,
    // DATETIME values (an event's EXECUTE_AT, in the UTC zone it was created with) are read as UTC.
    timezone: 'Z',
  });
  // An idle connection's error (e.g. the server restarting) would otherwise crash the process.
  admin.on('connection', (c) => {
    c.on('error', (e: unknown) => log.warn({ error: mysqlReason(e).text }, 'mysql admin connection error'));
  });

  interface Facts {
    mariadb: boolean;
    userHost: string;
  }
  let factsReady: Promise<Facts> | undefined;
  let markerReady: Promise<void> | undefined;

  async function emit(e: MysqlUserEvent): Promise<void> {
    try {
      await opts.onEvent?.(e);
    } catch (err) {
      log.error({ event: e.kind, user: e.role, error: (err as Error).message }, 'mysql user event not recorded');
    }
  }

  async function query<T = mysql.RowDataPacket[]>(sql: string, params: unknown[] = []): Promise<T> {
    const [rows] = await admin.query(sql, params);
    return rows as T;
  }

  function facts(): Promise<Facts> {
    factsReady ??= (async () => {
      const [row] = await query<Array<{ version: string; seen: string }>>("SELECT VERSION() AS version, SUBSTRING_INDEX(USER(), '@', -1) AS seen");
      return { mariadb: /mariadb/i.test(row!.version), userHost: opts.userHost ?? checkMysqlHost(row!.seen) };
    })().catch((e) => {
      factsReady = undefined;
      throw e;
    });
    return factsReady;
  }

  /** The marker role: holds no privileges; every per-grant user of this deployment is granted it, so it can be told apart. */
  function ensureMarker(): Promise<void> {
    markerReady ??= query(`CREATE ROLE IF NOT EXISTS ${quoteMysqlIdent(marker)}`).then(() => undefined).catch((e) => {
      markerReady = undefined;
      throw new AirlockError('AIRLOCK_INTERNAL', `cannot create the marker role ${marker}: ${mysqlReason(e).text}`);
    });
    return markerReady;
  }

  /** Accounts granted the marker role (not the admin, which holds it WITH ADMIN OPTION as its creator). */
  async function markedAccounts(name?: string): Promise<Array<{ name: string; host: string }>> {
    const f = await facts();
    const rows = f.mariadb
      ? await query<Array<{ name: string; host: string }>>(
        `SELECT User AS name, Host AS host FROM mysql.roles_mapping WHERE Role = ? AND Admin_option <> 'Y'${name ? ' AND User = ?' : ''} ORDER BY User, Host`,
        name ? [marker, name] : [marker])
      : await query<Array<{ name: string; host: string }>>(
        `SELECT TO_USER AS name, TO_HOST AS host FROM mysql.role_edges WHERE FROM_USER = ? AND WITH_ADMIN_OPTION <> 'Y'${name ? ' AND TO_USER = ?' : ''} ORDER BY TO_USER, TO_HOST`,
        name ? [marker, name] : [marker]);
    return rows.filter((r) => isMysqlUserName(r.name)).map((r) => ({ name: String(r.name), host: String(r.host) }));
  }

  interface OwnEvent {
    schema: string;
    name: string;
    grantId: string;
    at: Date | null;
  }

  /** This deployment's expiry events, by user name. */
  async function ownEvents(user?: string): Promise<Map<string, OwnEvent>> {
    const rows = await query<Array<{ s: string; n: string; c: string | null; at: Date | null }>>(
      `SELECT EVENT_SCHEMA AS s, EVENT_NAME AS n, EVENT_COMMENT AS c, EXECUTE_AT AS at FROM information_schema.EVENTS WHERE EVENT_NAME ${user ? '= ?' : "LIKE 'airlock\\_expire\\_%'"}`,
      user ? [mysqlExpiryEventName(user)] : [],
    );
    const own = new Map<string, OwnEvent>();
    for (const r of rows) {
      const m = parseMysqlMarker(r.c);
      if (!m || m.deployment !== (deployment ?? '')) continue;
      own.set(String(r.n).slice('airlock_expire_'.length), { schema: String(r.s), name: String(r.n), grantId: m.grantId, at: r.at });
    }
    return own;
  }

  async function serverExpiry(): Promise<ServerExpiry> {
    try {
      const [row] = await query<Array<{ v: string }>>('SELECT @@GLOBAL.event_scheduler AS v');
      return serverExpiryMessage(String(row?.v ?? ''));
    } catch (e) {
      return { event_scheduler: 'unknown', ok: false, message: `the event scheduler could not be read (${mysqlReason(e).text}); per-grant users may be ended only while Airlock runs` };
    }
  }

  async function create(spec: MysqlGrantUserSpec): Promise<MysqlUserCredentials> {
    checkSpec(spec, clock.now());
    await ensureMarker();
    const f = await facts();
    const { grantId } = spec;
    const username = mysqlUserName(spec.principal, grantId);
    const account = mysqlAccount(username, f.userHost);
    const password = generatePassword();
    const comment = mysqlMarkerComment(grantId, deployment);
    const eventSchema = opts.eventSchema ?? DEFAULT_EVENT_SCHEMA;
    if (spec.schemas.includes(eventSchema)) throw new AirlockError('AIRLOCK_BAD_INPUT', `the resource covers the schema ${eventSchema}, where Airlock keeps the per-grant users' expiry events; a user with privileges there could drop its own; remove it from the resource`);
    const eventName = mysqlExpiryEventName(username);
    // MySQL 8 keeps a comment on the user itself; MariaDB has none, so there the event's comment is the marker.
    const userComment = f.mariadb ? '' : ` COMMENT ${quoteMysqlString(comment)}`;
    const steps: Array<[label: string, sql: string]> = [
      ['create user', `CREATE USER ${account} IDENTIFIED WITH mysql_native_password AS ${quoteMysqlString(mysqlNativePasswordHash(password))}${userComment}`],
      ['marker role', `GRANT ${quoteMysqlIdent(marker)} TO ${account}`],
      ...spec.privileges.grants.map((g): [string, string] => {
        const body = checkMysqlGrantBody(g, spec.schemas).text;
        return [`grant "${body}"`, `GRANT ${body} TO ${account}`];
      }),
    ];
    let step = 'connect';
    let created = false;
    const c = await admin.getConnection();
    let expiryEvent: string | null = null;
    try {
      // The event's AT time is read in the session's time zone.
      await c.query("SET time_zone = '+00:00'");
      for (const [label, sql] of steps) {
        step = label;
        await c.query(sql);
        if (label === 'create user') created = true;
      }
      step = 'expiry event';
      try {
        await c.query(`CREATE DATABASE IF NOT EXISTS ${quoteMysqlIdent(eventSchema)}`);
        await c.query(`CREATE EVENT ${quoteMysqlIdent(eventSchema)}.${quoteMysqlIdent(eventName)} ON SCHEDULE AT ${quoteMysqlString(eventTime(spec.expiresAt))}` +
          ` ON COMPLETION NOT PRESERVE ENABLE COMMENT ${quoteMysqlString(comment)} DO ${expiryEventBody(username, f.userHost)}`);
        expiryEvent = `${eventSchema}.${eventName}`;
      } catch (e) {
        // The user still ends when the grant does, through Airlock; only the guarantee with Airlock stopped is missing.
        log.warn({ user: username, grantId, schema: eventSchema, error: mysqlReason(e).text }, 'mysql expiry event not created: the user ends only through Airlock (the admin needs CREATE and EVENT on the event schema)');
      }
    } catch (e) {
      const { text, errno } = mysqlReason(e);
      // Whatever was made is removed rather than leaving an unknown login behind.
      if (created) await c.query(`DROP USER IF EXISTS ${account}`).catch(() => {});
      const why = errno === ER_CANNOT_USER && step === 'create user' ? `a user named ${username} already exists` : text;
      log.error({ user: username, grantId, step, error: why }, 'mysql grant user not created');
      throw new AirlockError('AIRLOCK_INTERNAL', `could not create the database user ${username} for grant ${grantId} (at: ${step}): ${why}`, { role: username, grantId, step, errno });
    } finally {
      c.release();
    }
    log.info({ user: username, host: f.userHost, grantId, schemas: spec.schemas, validUntil: spec.expiresAt.toISOString(), readOnly: spec.privileges.read_only, expiryEvent }, 'mysql grant user created');
    await emit({ kind: 'created', role: username, grantId, databases: spec.schemas, validUntil: spec.expiresAt.toISOString(), expiryEvent });
    return { username, password, host: f.userHost };
  }

  /** Kills every connection of the user and waits (up to waitMs) until they are gone, so nothing outlives the DROP. */
  async function killConnections(name: string, waitMs: number): Promise<number> {
    const ids = await query<Array<{ id: number }>>('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()', [name]);
    let killed = 0;
    for (const { id } of ids) {
      try {
        await query('KILL CONNECTION ?', [Number(id)]);
        killed++;
      } catch (e) {
        // It ended by itself between the list and the KILL.
        if (mysqlReason(e).errno !== ER_NO_SUCH_THREAD) throw e;
      }
    }
    const deadline = Date.now() + waitMs;
    while (killed > 0 && Date.now() < deadline) {
      const [left] = await query<Array<{ n: number }>>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()', [name]);
      if (!Number(left?.n)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    return killed;
  }

  /** Locks every account of the user (no new logins) and kills its connections: the fast half of a drop. */
  async function lockAndKill(accounts: Array<{ name: string; host: string }>): Promise<number> {
    for (const a of accounts) await query(`ALTER USER IF EXISTS ${mysqlAccount(a.name, a.host)} ACCOUNT LOCK`);
    return accounts.length ? killConnections(accounts[0]!.name, 1000) : 0;
  }

  /**
   * The accounts of `name` Airlock may act on: a name of its own shape, granted this deployment's marker role, and not
   * carrying another grant's id in its event.
   */
  async function ownAccounts(name: string, grantId: string | null, action: string): Promise<{ accounts: Array<{ name: string; host: string }>; event: OwnEvent | undefined }> {
    if (!isMysqlUserName(name)) {
      log.warn({ user: name, grantId }, `mysql user not ${action}: the name is not one Airlock makes`);
      return { accounts: [], event: undefined };
    }
    const [accounts, events] = await Promise.all([markedAccounts(name), ownEvents(name)]);
    const event = events.get(name);
    if (grantId && event && event.grantId !== grantId) {
      log.warn({ user: name, grantId, userGrantId: event.grantId }, `mysql user not ${action}: it belongs to another grant`);
      return { accounts: [], event: undefined };
    }
    return { accounts, event };
  }

  async function dropEvent(event: OwnEvent | undefined): Promise<void> {
    if (event) await query(`DROP EVENT IF EXISTS ${quoteMysqlIdent(event.schema)}.${quoteMysqlIdent(event.name)}`);
  }

  /** Locks the user and kills its connections, keeping it (a revocation's fast path); the drop follows. */
  async function disable(grantId: string, principal: string): Promise<{ disabled: boolean; terminated: number }> {
    const name = mysqlUserName(principal, grantId);
    const { accounts } = await ownAccounts(name, grantId, 'disabled');
    if (!accounts.length) return { disabled: false, terminated: 0 };
    try {
      const terminated = await lockAndKill(accounts);
      log.info({ user: name, grantId, terminated }, 'mysql grant user disabled');
      return { disabled: true, terminated };
    } catch (e) {
      throw new AirlockError('AIRLOCK_INTERNAL', `could not disable the database user ${name}: ${mysqlReason(e).text}`, { role: name, grantId });
    }
  }

  async function dropUser(name: string, grantId: string | null, reason: string | undefined): Promise<{ dropped: boolean; terminated: number }> {
    let owned: Awaited<ReturnType<typeof ownAccounts>>;
    try {
      owned = await ownAccounts(name, grantId, 'dropped');
    } catch (e) {
      const text = mysqlReason(e).text;
      log.error({ user: name, grantId, reason, error: text }, 'mysql grant user not dropped');
      await emit({ kind: 'drop_failed', role: name, grantId, reason, error: text });
      throw new AirlockError('AIRLOCK_INTERNAL', `could not drop the database user ${name}: ${text}`, { role: name, grantId });
    }
    const { accounts, event } = owned;
    try {
      if (!accounts.length) {
        // Already gone (its event ran, or another process dropped it); an event left behind goes too.
        await dropEvent(event);
        return { dropped: false, terminated: 0 };
      }
      // Locked first, so nothing logs in between the KILLs and the DROP.
      const terminated = await lockAndKill(accounts);
      for (const a of accounts) await query(`DROP USER IF EXISTS ${mysqlAccount(a.name, a.host)}`);
      await dropEvent(event);
      log.info({ user: name, grantId, reason, terminated }, 'mysql grant user dropped');
      await emit({ kind: 'dropped', role: name, grantId, reason, terminated });
      return { dropped: true, terminated };
    } catch (e) {
      const text = mysqlReason(e).text;
      log.error({ user: name, grantId, reason, error: text }, 'mysql grant user not dropped');
      await emit({ kind: 'drop_failed', role: name, grantId, reason, error: text });
      throw new AirlockError('AIRLOCK_INTERNAL', `could not drop the database user ${name}: ${text}`, { role: name, grantId });
    }
  }

  function drop(grantId: string, principal: string, reason?: string): Promise<{ dropped: boolean; terminated: number }> {
    return dropUser(mysqlUserName(principal, grantId), grantId, reason);
  }

  /** Drops a user by the name the caller recorded when it was made. */
  function dropNamed(name: string, grantId: string, reason?: string): Promise<{ dropped: boolean; terminated: number }> {
    checkGrantId(grantId);
    return dropUser(name, grantId, reason);
  }

  async function list(): Promise<ManagedMysqlUser[]> {
    const [accounts, events] = await Promise.all([markedAccounts(), ownEvents()]);
    return accounts.map((a) => {
      const ev = events.get(a.name);
      return { name: a.name, host: a.host, grantId: ev?.grantId ?? null, expiresAt: ev?.at ?? null, eventSchema: ev?.schema ?? null };
    });
  }

  /**
   * Drops every user of this deployment whose grant is not active. The grant id comes from the user's event, or else
   * from `recordedGrant` (the store's record by user name). A user of this deployment with neither is locked and its
   * connections killed, but kept and logged: Airlock always records what it makes, so a person has been at work there.
   * A user that cannot be dropped is locked instead, so no access outlives its grant either way.
   */
  async function cleanup(isGrantActive: (grantId: string) => boolean | Promise<boolean>, recordedGrant?: (user: string) => Promise<string | null>): Promise<string[]> {
    const dropped: string[] = [];
    const seen = new Set<string>();
    for (const u of await list()) {
      if (seen.has(u.name)) continue;
      seen.add(u.name);
      const grantId = u.grantId ?? (await recordedGrant?.(u.name)) ?? null;
      if (grantId === null) {
        await lockAndKill((await markedAccounts(u.name))).catch(() => {});
        log.warn({ user: u.name }, 'mysql user of this deployment has no known grant: locked, not dropped');
        continue;
      }
      if (await isGrantActive(grantId)) continue;
      try {
        if ((await dropUser(u.name, grantId, 'cleanup: grant not active')).dropped) dropped.push(u.name);
      } catch (e) {
        log.error({ user: u.name, grantId, error: (e as Error).message }, 'mysql grant user could not be dropped; locking it');
        await lockAndKill(await markedAccounts(u.name)).catch((e2) => log.error({ user: u.name, error: mysqlReason(e2).text }, 'mysql grant user could not be locked'));
      }
    }
    // Events of this deployment whose user is gone (dropped by hand, say) would only fail when due.
    for (const [user, ev] of await ownEvents()) {
      if (!seen.has(user) && !(await isGrantActive(ev.grantId))) await dropEvent(ev).catch(() => {});
    }
    return dropped;
  }

  return {
    ensureMarker,
    userName: mysqlUserName,
    marker,
    deploymentId: deployment,
    /** The account host used for new users (resolved from the server on first use). */
    userHost: async (): Promise<string> => (await facts()).userHost,
    serverExpiry,
    create,
    disable,
    drop,
    dropNamed,
    list,
    cleanup,
    close: (): Promise<void> => admin.end(),
  };
}

export type MysqlGrantUsers = ReturnType<typeof makeMysqlGrantUsers>;
