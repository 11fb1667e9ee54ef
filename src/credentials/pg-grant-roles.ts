// Per-grant PostgreSQL roles: created for one grant with least privilege and VALID UNTIL, disabled and dropped when it ends.
import pg from 'pg';
import { AirlockError } from '../domain/errors.js';
import type { PgAdminConnection } from './pg-upstream-security.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { silentLog, type Log } from '../domain/log.js';
import { checkGrantBody, checkPlainRoleName, generatePassword, grantWrites, quoteIdent, quoteLiteral, scramVerifier } from './pg-sql.js';
import { LEGACY_MARKER, checkDeploymentId, checkGrantId, markerRoleName, parseRoleComment, pgRoleName, roleComment } from './pg-role-names.js';

export { pgRoleName, sanitizePrincipal } from './pg-role-names.js';

/** What a policy role grants on a PostgreSQL resource, applied to the per-grant role. */
export interface PgPrivileges {
  read_only: boolean;
  /** Roles to join, by exact name, e.g. ['pg_read_all_data']. */
  member_of: string[];
  /** GRANT bodies applied as `GRANT <body> TO <role>` in the target database, e.g. 'SELECT ON ALL TABLES IN SCHEMA public'. */
  grants: string[];
  connection_limit?: number;
}

export interface PgGrantRoleSpec {
  grantId: string;
  principal: string;
  expiresAt: Date;
  /** The database the grant is for: the role is made there, and CONNECT and the grants apply there. */
  database: string;
  /** Further databases the grant covers: CONNECT and the grants are applied in each too. */
  otherDatabases?: string[];
  privileges: PgPrivileges;
}

export interface PgGrantRolesOptions {
  /** A connection URL with CREATEROLE (and admin of the member_of roles); its database is where cluster-wide work runs. */
  adminUrl: string;
  /**
   * Which Airlock this is, when several share one database server: it goes into the marker role's name, every role
   * name and every role comment, and this instance acts only on roles that carry it.
   */
  deploymentId?: string;
  /** The NOLOGIN role every per-grant role joins: Airlock only ever drops members of it. Default from deploymentId. */
  markerRole?: string;
  /** Told of each role made, dropped, or that could not be dropped (for the audit log); awaited, its errors logged. */
  onEvent?: (e: PgRoleEvent) => void | Promise<void>;
  log?: Log;
  /** Who receives the objects a dropped role owned (REASSIGN OWNED); the admin connection's user by default. */
  reassignOwnedTo?: string;
  clock?: Clock;
  /** TLS and the password methods every admin connection may use (pg-upstream-security.ts); pg's defaults when absent. */
  connect?: PgAdminConnection;
}

export interface PgRoleCredentials {
  username: string;
  password: string;
}

export type PgRoleEvent =
  | { kind: 'created'; role: string; grantId: string; databases: string[]; validUntil: string }
  | { kind: 'dropped'; role: string; grantId: string | null; reason: string | undefined; terminated: number }
  | { kind: 'drop_failed'; role: string; grantId: string | null; reason: string | undefined; error: string };

export interface ManagedPgRole {
  name: string;
  /** From the role's comment; null when the comment is missing or not Airlock's. */
  grantId: string | null;
  validUntil: Date | null;
  canLogin: boolean;
}

/** Membership in these hands out the server's files or programs, i.e. the operating system; no grant needs that. */
const REFUSED_MEMBERSHIPS = ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'];
/**
 * On PostgreSQL 16+ the CREATEROLE admin that made the marker is itself a member of it (WITH ADMIN OPTION), and an
 * operator may make other admins members: a role that can create roles, or is a superuser, is never one Airlock made.
 */
const NOT_THE_ADMIN = 'r.rolname <> current_user and not r.rolcreaterole and not r.rolsuper';
const PG_DUPLICATE_OBJECT = '42710';
const PG_UNIQUE_VIOLATION = '23505';
const PG_UNDEFINED_OBJECT = '42704';

/** The server's words and SQLSTATE, never the statement: some statements carry a password verifier. */
function pgReason(e: unknown): { text: string; code: string | undefined } {
  const err = e as { message?: unknown; code?: unknown; detail?: unknown };
  const code = typeof err.code === 'string' ? err.code : undefined;
  // The detail names what is in the way (e.g. the objects a role still owns), which is what an operator needs.
  const detail = typeof err.detail === 'string' && code !== undefined && code.startsWith('2B') ? `: ${err.detail.replace(/\s+/g, ' ').slice(0, 300)}` : '';
  const message = typeof err.message === 'string' ? err.message : String(e);
  return { text: code ? `${message}${detail} (SQLSTATE ${code})` : message, code };
}

function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function checkSpec(spec: PgGrantRoleSpec, now: Date): void {
  const bad = (m: string) => new AirlockError('AIRLOCK_BAD_INPUT', m, { grantId: spec.grantId });
  checkGrantId(spec.grantId);
  if (!spec.principal) throw bad('a per-grant role needs a principal');
  if (!spec.database) throw bad('a per-grant role needs a database');
  if (!(spec.expiresAt instanceof Date) || Number.isNaN(spec.expiresAt.getTime())) throw bad('expiresAt is not a valid time');
  if (spec.expiresAt.getTime() <= now.getTime()) throw bad(`grant ${spec.grantId} expired at ${spec.expiresAt.toISOString()}; no role is created for it`);
  const p = spec.privileges;
  const limit = p.connection_limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw bad('connection_limit must be a positive whole number');
  for (const r of p.member_of) checkPlainRoleName(r, 'member_of entry');
  for (const g of p.grants) checkGrantBody(g);
  if (p.read_only) {
    // A contradiction in the policy is refused, not resolved: read_only must mean the privileges cannot write either.
    const writes = [...p.grants.filter(grantWrites), ...p.member_of.filter((r) => r === 'pg_write_all_data')];
    if (writes.length) throw bad(`the role is read_only but grants writing: ${writes.join('; ')}`);
  }
}

export function makePgGrantRoles(opts: PgGrantRolesOptions) {
  const deployment = opts.deploymentId === undefined ? undefined : checkDeploymentId(opts.deploymentId);
  const marker = checkPlainRoleName(opts.markerRole ?? markerRoleName(deployment), 'the marker role');
  const log = opts.log ?? silentLog;
  const roleName = (principal: string, grantId: string) => pgRoleName(principal, grantId, deployment);
  const parseComment = (comment: string | null, legacy = false) => parseRoleComment(comment, deployment, legacy);
  async function emit(e: PgRoleEvent): Promise<void> {
    try {
      await opts.onEvent?.(e);
    } catch (err) {
      log.error({ event: e.kind, role: e.role, error: (err as Error).message }, 'pg role event not recorded');
    }
  }
  const clock = opts.clock ?? systemClock;
  const reassignTo = opts.reassignOwnedTo ? quoteIdent(checkPlainRoleName(opts.reassignOwnedTo, 'reassignOwnedTo')) : 'CURRENT_USER';
  // lock_timeout: a DROP OWNED stuck behind someone's long transaction fails (the role is already NOLOGIN) instead of hanging.
  const { Client = pg.Client, ...security } = opts.connect ?? {};
  const connection = { application_name: 'airlock-credentials', connectionTimeoutMillis: 10_000, lock_timeout: 10_000, ...security };
  const admin = new pg.Pool({ connectionString: opts.adminUrl, max: 3, idleTimeoutMillis: 10_000, Client, ...connection });
  // An idle client's error (e.g. the server restarting) would otherwise crash the process.
  admin.on('error', (e) => log.warn({ error: pgReason(e).text }, 'pg admin connection error'));
  let markerReady: Promise<void> | undefined;
  let adminReady: Promise<AdminFacts> | undefined;

  /**
   * A CREATEROLE admin that is not a superuser may drop a role, but REASSIGN OWNED and DROP OWNED need the role's
   * privileges too. PostgreSQL before 16 gives them through plain membership, which CREATEROLE may grant; 16 and
   * later make the creator a member WITH ADMIN OPTION but without INHERIT, unless createrole_self_grant says so.
   */
  function adminFacts(): Promise<AdminFacts> {
    adminReady ??= admin
      .query<{ version: number; superuser: boolean }>("select current_setting('server_version_num')::int as version, rolsuper as superuser from pg_roles where rolname = current_user")
      .then((r) => ({ version: r.rows[0]!.version, superuser: r.rows[0]!.superuser }))
      .catch((e) => {
        adminReady = undefined;
        throw e;
      });
    return adminReady;
  }

  /** A short-lived connection to another database: grants on schema objects only work from inside their database. */
  async function inDatabase<T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new Client({ connectionString: databaseUrl(opts.adminUrl, database), ...connection });
    client.on('error', () => {});
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  function ensureMarker(): Promise<void> {
    markerReady ??= createMarker().catch((e) => {
      markerReady = undefined;
      throw e;
    });
    return markerReady;
  }

  async function createMarker(): Promise<void> {
    const found = await admin.query<{ rolcanlogin: boolean; rolsuper: boolean }>('select rolcanlogin, rolsuper from pg_roles where rolname = $1', [marker]);
    const existing = found.rows[0];
    if (existing) {
      if (existing.rolcanlogin || existing.rolsuper) {
        throw new AirlockError('AIRLOCK_INTERNAL', `the marker role ${marker} exists but can log in or is a superuser; it must be a plain NOLOGIN role`);
      }
      return;
    }
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      await client.query(`CREATE ROLE ${quoteIdent(marker)} NOLOGIN NOINHERIT`);
      await client.query(`COMMENT ON ROLE ${quoteIdent(marker)} IS ${quoteLiteral('airlock: its members are per-grant roles that Airlock creates and drops; grant it nothing')}`);
      await client.query('COMMIT');
      log.info({ role: marker }, 'pg marker role created');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      const { code, text } = pgReason(e);
      // Another process created it between our check and our CREATE: that is the outcome we wanted.
      if (code !== PG_DUPLICATE_OBJECT && code !== PG_UNIQUE_VIOLATION) {
        throw new AirlockError('AIRLOCK_INTERNAL', `cannot create the marker role ${marker}: ${text}`);
      }
    } finally {
      client.release();
    }
  }

  /** Refuses member_of roles that do not exist, or that lead (through any chain of memberships) to a superuser or the OS. */
  async function checkMemberships(memberOf: string[]): Promise<void> {
    if (memberOf.length === 0) return;
    const names = [...new Set(memberOf)];
    if (names.includes(marker)) throw new AirlockError('AIRLOCK_BAD_INPUT', `member_of cannot name the marker role ${marker}`);
    const found = await admin.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [names]);
    const missing = names.filter((n) => !found.rows.some((r) => r.rolname === n));
    if (missing.length) throw new AirlockError('AIRLOCK_BAD_INPUT', `member_of names roles that do not exist: ${missing.join(', ')}`);
    const risky = await admin.query<{ rolname: string }>(
      `with recursive up(oid) as (
         select oid from pg_roles where rolname = any($1)
         union select m.roleid from pg_auth_members m join up on m.member = up.oid)
       select rolname from pg_roles where oid in (select oid from up) and (rolsuper or rolname = any($2))`,
      [names, REFUSED_MEMBERSHIPS],
    );
    if (risky.rows.length) {
      throw new AirlockError('AIRLOCK_BAD_INPUT', `member_of would reach ${risky.rows.map((r) => r.rolname).join(', ')} (superuser or server file/program access); refused`);
    }
  }

  async function create(spec: PgGrantRoleSpec): Promise<PgRoleCredentials> {
    checkSpec(spec, clock.now());
    await ensureMarker();
    const { privileges: p, database, grantId } = spec;
    await checkMemberships(p.member_of);
    const username = roleName(spec.principal, grantId);
    const role = quoteIdent(username);
    const password = generatePassword();
    const limit = p.connection_limit === undefined ? '' : ` CONNECTION LIMIT ${p.connection_limit}`;
    // One transaction in the target database: CREATE ROLE is transactional, so a failure at any step leaves nothing behind.
    const facts = await adminFacts();
    const selfGrant: Array<[string, string]> = facts.superuser ? [] : facts.version >= 160000
      // Only for this transaction: the admin's own setting, whatever it is, stays as the operator left it.
      ? [['self grant', "SET LOCAL createrole_self_grant = 'set, inherit'"]]
      : [];
    const steps: Array<[label: string, sql: string]> = [
      ...selfGrant,
      ['create role', `CREATE ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT${limit}` +
        ` PASSWORD ${quoteLiteral(await scramVerifier(password))} VALID UNTIL ${quoteLiteral(spec.expiresAt.toISOString())} IN ROLE ${quoteIdent(marker)}`],
      ['comment', `COMMENT ON ROLE ${role} IS ${quoteLiteral(roleComment(grantId, deployment))}`],
      // Before 16 the creator holds nothing of the role it made; membership is what lets it clean up later.
      ...(!facts.superuser && facts.version < 160000 ? [['admin membership', `GRANT ${role} TO CURRENT_USER`] as [string, string]] : []),
      ...inDatabaseSteps(database),
      ...p.member_of.map((r): [string, string] => [`member_of ${r}`, `GRANT ${quoteIdent(r)} TO ${role}`]),
      // Defense in depth: the privileges are what keep a read-only role from writing; this makes a slip fail loudly too.
      ...(p.read_only ? [['read only', `ALTER ROLE ${role} SET default_transaction_read_only = on`] as [string, string]] : []),
    ];
    // Grants on schema objects only work from inside their database, so each further database gets its own transaction.
    function inDatabaseSteps(db: string): Array<[string, string]> {
      return [
        ['connect', `GRANT CONNECT ON DATABASE ${quoteIdent(db)} TO ${role}`],
        ...p.grants.map((g): [string, string] => [`grant "${checkGrantBody(g)}"`, `GRANT ${checkGrantBody(g)} TO ${role}`]),
      ];
    }
    const plan: Array<[string, Array<[string, string]>]> = [[database, steps], ...(spec.otherDatabases ?? []).filter((d) => d !== database).map((d): [string, Array<[string, string]>] => [d, inDatabaseSteps(d)])];
    let step = 'connect to the database';
    let at = database;
    let committing = false;
    try {
      for (const [db, dbSteps] of plan) {
        at = db;
        step = 'connect to the database';
        await inDatabase(db, async (c) => {
          try {
            await c.query('BEGIN');
            for (const [label, sql] of dbSteps) {
              step = label;
              await c.query(sql);
            }
            step = 'commit';
            committing = true;
            await c.query('COMMIT');
          } catch (e) {
            await c.query('ROLLBACK').catch(() => {});
            throw e;
          }
        });
      }
    } catch (e) {
      // The role may exist (a later database failed, or a COMMIT's answer was lost): remove it rather than leave an unknown login behind.
      if (committing) await dropRole(username, grantId, 'create failed').catch(() => {});
      const { text, code } = pgReason(e);
      const why = code === PG_DUPLICATE_OBJECT && step === 'create role' ? `a role named ${username} already exists` : text;
      log.error({ role: username, grantId, database: at, step, error: why }, 'pg grant role not created');
      throw new AirlockError('AIRLOCK_INTERNAL', `could not create the database role ${username} for grant ${grantId} in ${at} (at: ${step}): ${why}`, {
        role: username, grantId, database: at, step, sqlstate: code,
      });
    }
    const databases = plan.map(([d]) => d);
    log.info({ role: username, grantId, database, validUntil: spec.expiresAt.toISOString(), readOnly: p.read_only, ...(databases.length > 1 ? { databases } : {}) }, 'pg grant role created');
    await emit({ kind: 'created', role: username, grantId, databases, validUntil: spec.expiresAt.toISOString() });
    return { username, password };
  }

  interface AdminFacts {
    version: number;
    superuser: boolean;
  }

  interface RoleInfo {
    managed: boolean;
    grantId: string | null;
  }

  /**
   * With `legacy`, a role of the marker Airlock used before deployment ids counts too, but only with the older
   * comment naming the grant: the caller has the name from its own store, which recorded creating it.
   */
  async function inspectRole(name: string, legacy = false): Promise<RoleInfo | undefined> {
    const r = await admin.query<{ managed: boolean; legacy: boolean; comment: string | null }>(
      `select ${NOT_THE_ADMIN} and exists(select 1 from pg_auth_members m join pg_roles mk on mk.oid = m.roleid where m.member = r.oid and mk.rolname = $2) as managed,
              ${NOT_THE_ADMIN} and exists(select 1 from pg_auth_members m join pg_roles mk on mk.oid = m.roleid where m.member = r.oid and mk.rolname = $3) as legacy,
              shobj_description(r.oid, 'pg_authid') as comment
         from pg_roles r where r.rolname = $1`,
      [name, marker, LEGACY_MARKER],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    if (row.managed) return { managed: true, grantId: parseComment(row.comment) };
    const legacyId = legacy && row.legacy && marker !== LEGACY_MARKER ? parseComment(row.comment, true) : null;
    return { managed: legacyId !== null, grantId: legacyId };
  }

  /** Whether Airlock may act on the role: it must be a member of the marker, and not carry another grant's id. */
  async function ownRole(name: string, grantId: string | null, action: string, legacy = false): Promise<boolean> {
    const info = await inspectRole(name, legacy);
    if (!info) return false;
    if (!info.managed) {
      log.warn({ role: name, grantId }, `pg role not ${action}: it is not a member of ${marker}, so not Airlock's`);
      return false;
    }
    if (grantId && info.grantId && info.grantId !== grantId) {
      log.warn({ role: name, grantId, roleGrantId: info.grantId }, `pg role not ${action}: it belongs to another grant`);
      return false;
    }
    return true;
  }

  /** Ends the role's sessions and waits (up to waitMs) until they are gone, so a following DROP meets no live backend. */
  async function terminate(name: string, waitMs: number): Promise<number> {
    // The call sits in the select list, evaluated only for rows the WHERE kept; in the WHERE the planner could reorder it.
    const r = await admin.query<{ ok: boolean }>(
      'select pg_terminate_backend(pid) as ok from pg_stat_activity where usename = $1 and pid <> pg_backend_pid()',
      [name],
    );
    const terminated = r.rows.filter((row) => row.ok).length;
    const deadline = Date.now() + waitMs;
    while (terminated > 0 && Date.now() < deadline) {
      const left = await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where usename = $1', [name]);
      if (!left.rows[0]?.n) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    return terminated;
  }

  async function disableRole(name: string): Promise<number> {
    await admin.query(`ALTER ROLE ${quoteIdent(name)} NOLOGIN`);
    return terminate(name, 1000);
  }

  async function disable(grantId: string, principal: string): Promise<{ disabled: boolean; terminated: number }> {
    const name = roleName(principal, grantId);
    if (!(await ownRole(name, grantId, 'disabled'))) return { disabled: false, terminated: 0 };
    let terminated: number;
    try {
      terminated = await disableRole(name);
    } catch (e) {
      const { text, code } = pgReason(e);
      if (code === PG_UNDEFINED_OBJECT) return { disabled: false, terminated: 0 };
      throw new AirlockError('AIRLOCK_INTERNAL', `could not disable the database role ${name}: ${text}`, { role: name, grantId, sqlstate: code });
    }
    log.info({ role: name, grantId, terminated }, 'pg grant role disabled');
    return { disabled: true, terminated };
  }

  /** REASSIGN OWNED and DROP OWNED need the role's privileges; a role made before this was known may lack the membership. */
  async function holdPrivilegesOf(name: string): Promise<void> {
    const facts = await adminFacts();
    if (facts.superuser) return;
    const r = await admin.query<{ ok: boolean }>("select pg_has_role(current_user, $1::name, 'USAGE') as ok", [name]);
    if (r.rows[0]?.ok) return;
    await admin.query(`GRANT ${quoteIdent(name)} TO CURRENT_USER${facts.version >= 160000 ? ' WITH INHERIT TRUE' : ''}`);
  }

  async function dropRole(name: string, grantId: string | null, reason: string | undefined, legacy = false): Promise<{ dropped: boolean; terminated: number }> {
    if (!(await ownRole(name, grantId, 'dropped', legacy))) return { dropped: false, terminated: 0 };
    const role = quoteIdent(name);
    try {
      // NOLOGIN first, so nothing reconnects between the termination and the DROP.
      const terminated = await disableRole(name);
      await holdPrivilegesOf(name);
      // pg_shdepend lists every database holding objects or privileges of the role; dbid 0 (shared objects) is
      // handled by DROP OWNED in any database, which the admin database covers.
      const dbs = await admin.query<{ datname: string }>(
        `select distinct d.datname from pg_shdepend s join pg_database d on d.oid = s.dbid
          where s.refclassid = 'pg_authid'::regclass and s.refobjid = (select oid from pg_roles where rolname = $1)
            and d.datallowconn and d.datname <> current_database()`,
        [name],
      );
      const owned = `REASSIGN OWNED BY ${role} TO ${reassignTo}; DROP OWNED BY ${role}`;
      for (const { datname } of dbs.rows) await inDatabase(datname, (c) => c.query(owned));
      await admin.query(owned);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      log.info({ role: name, grantId, reason, terminated, databases: dbs.rows.map((d) => d.datname) }, 'pg grant role dropped');
      await emit({ kind: 'dropped', role: name, grantId, reason, terminated });
      return { dropped: true, terminated };
    } catch (e) {
      const { text, code } = pgReason(e);
      // A concurrent drop (another process's expiry, or cleanup) got there first.
      if (code === PG_UNDEFINED_OBJECT && !(await inspectRole(name).catch(() => ({})))) return { dropped: false, terminated: 0 };
      log.error({ role: name, grantId, reason, error: text }, 'pg grant role not dropped');
      await emit({ kind: 'drop_failed', role: name, grantId, reason, error: text });
      throw new AirlockError('AIRLOCK_INTERNAL', `could not drop the database role ${name}: ${text}`, { role: name, grantId, sqlstate: code });
    }
  }

  function drop(grantId: string, principal: string, reason?: string): Promise<{ dropped: boolean; terminated: number }> {
    return dropRole(roleName(principal, grantId), grantId, reason);
  }

  /** Drops a role by the name the caller recorded when it was made (also one of the marker Airlock used before deployment ids). */
  function dropNamed(name: string, grantId: string, reason?: string): Promise<{ dropped: boolean; terminated: number }> {
    checkGrantId(grantId);
    return dropRole(name, grantId, reason, true);
  }

  async function list(): Promise<ManagedPgRole[]> {
    const r = await admin.query<{ rolname: string; comment: string | null; rolvaliduntil: Date | null; rolcanlogin: boolean }>(
      `select r.rolname, shobj_description(r.oid, 'pg_authid') as comment, r.rolvaliduntil, r.rolcanlogin
         from pg_roles r join pg_auth_members m on m.member = r.oid join pg_roles mk on mk.oid = m.roleid
        where mk.rolname = $1 and ${NOT_THE_ADMIN} order by r.rolname`,
      [marker],
    );
    return r.rows.map((row) => ({ name: row.rolname, grantId: parseComment(row.comment), validUntil: row.rolvaliduntil, canLogin: row.rolcanlogin }));
  }

  /**
   * Drops every managed role whose grant is not active. A managed role without a readable grant id is disabled
   * (NOLOGIN, sessions ended) and logged but kept: Airlock always writes the comment in the creating transaction, so
   * its absence means a person changed the role, and ownership of their objects should be their call, not ours.
   * A role that cannot be dropped is disabled instead, so no access outlives its grant either way.
   */
  async function cleanup(isGrantActive: (grantId: string) => boolean | Promise<boolean>): Promise<string[]> {
    const dropped: string[] = [];
    for (const r of await list()) {
      if (r.grantId === null) {
        await disableRole(r.name);
        log.warn({ role: r.name }, 'pg managed role has no grant id in its comment: disabled, not dropped');
        continue;
      }
      if (await isGrantActive(r.grantId)) continue;
      try {
        if ((await dropRole(r.name, r.grantId, 'cleanup: grant not active')).dropped) dropped.push(r.name);
      } catch (e) {
        log.error({ role: r.name, grantId: r.grantId, error: (e as Error).message }, 'pg grant role could not be dropped; disabling it');
        await disableRole(r.name).catch((e2) => log.error({ role: r.name, error: pgReason(e2).text }, 'pg grant role could not be disabled'));
      }
    }
    return dropped;
  }

  return {
    ensureMarker,
    roleName,
    marker,
    deploymentId: deployment,
    create,
    drop,
    dropNamed,
    disable,
    cleanup,
    list,
    close: (): Promise<void> => admin.end(),
  };
}

export type PgGrantRoles = ReturnType<typeof makePgGrantRoles>;
