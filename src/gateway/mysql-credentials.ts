// Upstream logins for MySQL/MariaDB resources: per-grant users made when a grant starts and dropped when it ends
// (kept encrypted in the store meanwhile, ended by the server's own event if Airlock is down), or the injected secret.
import { join } from 'node:path';
import type { Grant } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { ResourceDef, RoleDef } from '../policy/schema.js';
import { makeMysqlGrantUsers, type MysqlGrantUsers, type MysqlPrivileges, type ServerExpiry } from '../credentials/mysql-grant-users.js';
import { quoteMysqlIdent } from '../credentials/mysql-sql.js';
import { mysqlPrivilegesFor as privilegeNamesFor } from '../policy/mysql-privileges.js';
import { loadKey, type KeySource } from '../credentials/encryption.js';
import type { StoredCredentials } from '../credentials/stored-credentials.js';
import { splitAddress } from './pg-credentials.js';
import { injectedLogin, makeLoginRecords } from './login-records.js';
import { withFields, type Log } from '../domain/log.js';

export interface MysqlUpstreamLogin {
  host: string;
  port: number;
  /** The schema the session opens; '' when the resource names none. */
  database: string;
  user: string;
  /** Never logged, never sent to the client. */
  password: string;
}

/** The schemas a MySQL resource covers, its default first: `database`, then the rest of `databases`. */
export function mysqlSchemas(resource: Pick<ResourceDef, 'database' | 'databases'>): string[] {
  const first = resource.database ?? resource.databases?.[0];
  return first === undefined ? [] : [first, ...(resource.databases ?? []).filter((d) => d !== first)];
}

/**
 * What a role's privileges mean for a per-grant MySQL user on these schemas: the privilege names of its `grants` (as
 * the policy checked them), or else read → SELECT, SHOW VIEW; write → those plus INSERT, UPDATE, DELETE; admin →
 * everything on a schema but EVENT and GRANT OPTION (src/policy/mysql-privileges.ts), on each schema.
 * (`member_of` names PostgreSQL roles and means nothing here.)
 */
export function mysqlPrivilegesFor(role: RoleDef, schemas: readonly string[]): MysqlPrivileges {
  const { read_only, privileges } = privilegeNamesFor(role);
  return { read_only, grants: schemas.map((s) => `${privileges.join(', ')} ON ${quoteMysqlIdent(s)}.*`) };
}

/** Whether a MySQL resource gets a user per grant: `per_grant_role` (the default) and `per_grant_user` both say so. */
export function isPerGrantMysql(r: ResourceDef | undefined): r is ResourceDef {
  const mode = r?.credential?.mode as string | undefined;
  return r?.kind === 'mysql' && (mode === 'per_grant_role' || mode === 'per_grant_user');
}

export function makeMysqlCredentials(deps: {
  access: Access;
  dataDir: string;
  /** This deployment's id: in the marker role and each user's event comment, so it never touches another Airlock's users. */
  deploymentId?: string;
  log: Log;
  /** The versioned keys of secrets at rest (src/credentials/secret-keys.ts); default: the data directory's key file. */
  keys?: KeySource;
  /** Passwords Airlock keeps itself (`password: { stored: true }`), read from the store for each connection. */
  stored?: Pick<StoredCredentials, 'refresh' | 'cached'>;
  /** The host part of every account made (where the gateway connects from); default, as the server sees the admin connection. */
  userHost?: string;
}) {
  const { access, log } = deps;
  let closed = false;
  const key = deps.keys ?? loadKey({ keyFile: join(deps.dataDir, 'secret.key') });
  /** A stored password is read again before each use: another process (or a rotation) may have changed it. */
  const freshStored = async (r: ResourceDef) => {
    if (r.credential?.password && 'stored' in r.credential.password) await deps.stored?.refresh(r.name);
  };
  const cachedStored = (name: string) => deps.stored?.cached(name);
  const records = makeLoginRecords({ access, key, kind: 'mysql', log, what: 'database user', meanwhile: 'its expiry event still ends it on time where the event scheduler is on', dropFor: (g) => dropFor(g) });
  const managers = new Map<string, MysqlGrantUsers>();

  function managerFor(resource: ResourceDef): MysqlGrantUsers {
    const { host, port } = splitAddress(resource.address, 3306);
    const admin = injectedLogin(resource, cachedStored);
    const id = JSON.stringify([resource.name, host, port, admin.user, admin.password]);
    let m = managers.get(id);
    if (!m) {
      const name = resource.name;
      m = makeMysqlGrantUsers({
        host,
        port,
        user: admin.user,
        password: admin.password,
        clock: access.clock,
        deploymentId: deps.deploymentId,
        userHost: deps.userHost,
        log: withFields(log, { resource: name }),
        onEvent: (e) => records.record(name, e.kind === 'created' ? { kind: 'created', grantId: e.grantId, role: e.role, details: { databases: e.databases, valid_until: e.validUntil, expiry_event: e.expiryEvent } } : e),
      });
      managers.set(id, m);
    }
    return m;
  }

  /** The grant as stored now, refused unless still active: the one read at plan time may have ended since. */
  async function createFor(grant: Grant): Promise<{ username: string; password: string } | undefined> {
    const policy = access.policy();
    const resource = policy.resource(grant.resource);
    const role = policy.role(grant.role);
    if (!isPerGrantMysql(resource) || !role) return undefined;
    await freshStored(resource);
    if (closed) throw new AirlockError('AIRLOCK_NOT_READY', 'Airlock is stopping; no database user is made now.');
    await records.stillActive(grant);
    const schemas = mysqlSchemas(resource);
    const creds = await managerFor(resource).create({ grantId: grant.id, principal: grant.principal, expiresAt: new Date(grant.expires_at), schemas, privileges: mysqlPrivilegesFor(role, schemas) });
    await records.save(grant, resource.name, creds);
    return creds;
  }

  async function dropFor(grant: Grant): Promise<void> {
    const resource = access.policy().resource(grant.resource);
    if (resource) await freshStored(resource);
    // Once closed (Airlock stopping), the grant's end is left to the server's event and the next start's cleanup.
    if (closed) return;
    const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
    if (!row || row.dropped_at || !isPerGrantMysql(resource)) return;
    const { dropped } = await managerFor(resource).dropNamed(row.username, grant.id, 'grant ended');
    // Already gone (its event ran, another process, or by hand): nothing is pending any more.
    if (!dropped) await records.gone(grant.id);
  }

  return {
    /** Hooks the grant lifecycle: make the user when a grant starts, drop it when the grant ends. */
    attach(): void {
      access.grants.hooks.activated.push(async (g) => {
        try {
          await createFor(g);
        } catch (e) {
          log.error({ grant_id: g.id, resource: g.resource, err: (e as Error).message }, 'could not create the per-grant database user; it will be tried again at connect');
        }
      });
      access.grants.hooks.ended.push(async ({ grant }) => {
        try {
          await dropFor(grant);
        } catch (e) {
          log.error({ grant_id: grant.id, resource: grant.resource, err: (e as Error).message }, 'could not drop the per-grant database user; it is retried, and its expiry event ends it where the event scheduler is on');
        }
      });
    },

    /** Users whose grant ended but whose drop failed: their last error and when the next attempt is due. */
    pendingDrops: records.pendingDrops,
    retryDue: records.retryDue,

    /**
     * Whether each per-grant MySQL resource's server ends users by itself (its event scheduler); logs a warning, with
     * how to turn it on, for each that does not. For the start-up log and doctor-style output.
     */
    async serverExpiry(): Promise<Array<ServerExpiry & { resource: string }>> {
      const out: Array<ServerExpiry & { resource: string }> = [];
      for (const resource of access.policy().resources.filter(isPerGrantMysql)) {
        const r = { resource: resource.name, ...(await managerFor(resource).serverExpiry()) };
        if (!r.ok) log.warn({ resource: resource.name, event_scheduler: r.event_scheduler }, r.message);
        out.push(r);
      }
      return out;
    },

    /** On start: drop every Airlock user whose grant is over, on every per-grant MySQL resource that answers. */
    async cleanup(): Promise<number> {
      let n = 0;
      const db = access.store.db;
      const undropped = await db.selectFrom('grant_credentials').innerJoin('grants', 'grants.id', 'grant_credentials.grant_id')
        .select(['grant_credentials.grant_id', 'grant_credentials.resource']).where('grant_credentials.dropped_at', 'is', null).where('grants.status', '<>', 'active').execute();
      for (const { grant_id, resource } of undropped) {
        if (access.policy().resource(resource)?.kind !== 'mysql') continue;
        const grant = await access.grants.get(grant_id);
        if (grant) await dropFor(grant).catch(() => {});
      }
      for (const resource of access.policy().resources.filter(isPerGrantMysql)) {
        try {
          const dropped = await managerFor(resource).cleanup(
            async (grantId) => (await access.grants.get(grantId))?.status === 'active',
            async (user) => (await db.selectFrom('grant_credentials').select('grant_id').where('resource', '=', resource.name).where('username', '=', user).executeTakeFirst())?.grant_id ?? null,
          );
          n += dropped.length;
          if (dropped.length) await db.updateTable('grant_credentials').set({ dropped_at: access.clock.now().toISOString(), next_drop_at: null }).where('resource', '=', resource.name).where('username', 'in', dropped).where('dropped_at', 'is', null).execute();
        } catch (e) {
          log.warn({ resource: resource.name, err: (e as Error).message }, 'could not clean up per-grant users on this resource now');
        }
      }
      return n;
    },

    /** The login the gateway uses upstream for this grant. */
    async upstreamFor(grant: Grant, resource: ResourceDef, database: string | undefined): Promise<MysqlUpstreamLogin> {
      const { host, port } = splitAddress(resource.address, 3306);
      const db = database ?? mysqlSchemas(resource)[0] ?? '';
      await freshStored(resource);
      if (!isPerGrantMysql(resource)) return { host, port, database: db, ...injectedLogin(resource, cachedStored) };
      const kept = await records.stored(grant, resource.name);
      if (kept) return { host, port, database: db, user: kept.username, password: kept.password };
      const made = await createFor(grant);
      if (!made) throw new AirlockError('AIRLOCK_INTERNAL', `No upstream login could be made for ${resource.name}.`);
      return { host, port, database: db, user: made.username, password: made.password };
    },

    async close(): Promise<void> {
      closed = true;
      records.close();
      for (const m of managers.values()) await m.close().catch(() => {});
      managers.clear();
    },
  };
}

export type MysqlCredentials = ReturnType<typeof makeMysqlCredentials>;
