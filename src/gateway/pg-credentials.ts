// Upstream logins for PostgreSQL resources: per-grant roles made when a grant starts and dropped when it ends
// (kept encrypted in the store meanwhile), or the resource's injected secret. The user never sees either.
import { join } from 'node:path';
import type { Grant } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { ResourceDef, RoleDef } from '../policy/schema.js';
import { makePgGrantRoles, type PgGrantRoles, type PgPrivileges } from '../credentials/pg-grant-roles.js';
import { coveredDatabases, defaultDatabase } from '../policy/databases.js';
import { pgAdminConnection, pgUpstreamSecurity } from '../credentials/pg-upstream-security.js';
import { loadKey, type KeySource } from '../credentials/encryption.js';
import type { StoredCredentials } from '../credentials/stored-credentials.js';
import type { UpstreamLogin } from './types.js';
import type { CredentialProvider } from '../credentials/provider.js';
import { injectedLogin, makeLoginRecords } from './login-records.js';
import { withFields, type Log } from '../domain/log.js';

export function splitAddress(address: string, defaultPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(address.trim());
  if (!m) throw new AirlockError('AIRLOCK_BAD_INPUT', `The resource address "${address}" is not host:port.`);
  return { host: m[1] ?? m[2]!, port: m[3] ? Number(m[3]) : defaultPort };
}

/** What a role's privileges mean for a per-grant PostgreSQL role. */
export function pgPrivilegesFor(role: RoleDef): PgPrivileges {
  const p = role.privileges;
  const readOnly = p.sql === 'read';
  const defaults = readOnly ? ['pg_read_all_data'] : p.sql === 'write' ? ['pg_read_all_data', 'pg_write_all_data'] : [];
  return { read_only: readOnly, member_of: p.member_of ?? (p.grants ? [] : defaults), grants: p.grants ?? [] };
}

export type { PendingDrop } from '../credentials/provider.js';

export function makePgCredentials(deps: {
  access: Access;
  dataDir: string;
  /** This deployment's id: in the marker role, role names and comments, so it never touches another Airlock's roles. */
  deploymentId?: string;
  log: Log;
  /** The versioned keys of secrets at rest (src/credentials/secret-keys.ts); default: the data directory's key file. */
  keys?: KeySource;
  /** Passwords Airlock keeps itself (`password: { stored: true }`), read from the store for each connection. */
  stored?: Pick<StoredCredentials, 'refresh' | 'cached'>;
}): CredentialProvider {
  const { access, log } = deps;
  const key = deps.keys ?? loadKey({ keyFile: join(deps.dataDir, 'secret.key') });
  /** A stored password is read again before each use: another process (or a rotation) may have changed it. */
  const freshStored = async (r: ResourceDef) => {
    if (r.credential?.password && 'stored' in r.credential.password) await deps.stored?.refresh(r.name);
  };
  const cachedStored = (name: string) => deps.stored?.cached(name);
  const records = makeLoginRecords({ access, key, kind: 'postgres', log, what: 'database role', meanwhile: 'its VALID UNTIL bars it meanwhile', dropFor: (g) => dropFor(g) });
  const managers = new Map<string, PgGrantRoles>();

  function managerFor(resource: ResourceDef): PgGrantRoles {
    const { host, port } = splitAddress(resource.address, 5432);
    const admin = injectedLogin(resource, cachedStored);
    const url = `postgres://${encodeURIComponent(admin.user)}:${encodeURIComponent(admin.password)}@${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(defaultDatabase(resource))}`;
    const id = `${resource.name}\0${url}\0${JSON.stringify([resource.tls, resource.auth])}`;
    let m = managers.get(id);
    if (!m) {
      const name = resource.name;
      m = makePgGrantRoles({
        adminUrl: url,
        connect: pgAdminConnection(pgUpstreamSecurity(resource, host), host, port),
        clock: access.clock,
        deploymentId: deps.deploymentId,
        log: withFields(log, { resource: name }),
        onEvent: (e) => records.record(name, e.kind === 'created' ? { kind: 'created', grantId: e.grantId, role: e.role, details: { databases: e.databases, valid_until: e.validUntil } } : e),
      });
      managers.set(id, m);
    }
    return m;
  }

  const perGrant = (r: ResourceDef | undefined): r is ResourceDef => r?.kind === 'postgres' && r.credential?.mode === 'per_grant_role';

  /** The grant as stored now, refused unless still active: the one read at plan time may have ended since. */
  async function createFor(grant: Grant): Promise<{ username: string; password: string } | undefined> {
    const policy = access.policy();
    const resource = policy.resource(grant.resource);
    const role = policy.role(grant.role);
    if (!perGrant(resource) || !role) return undefined;
    await freshStored(resource);
    const m = managerFor(resource);
    await m.ensureMarker();
    const [database, ...otherDatabases] = coveredDatabases(resource);
    await records.stillActive(grant);
    const creds = await m.create({ grantId: grant.id, principal: grant.principal, expiresAt: new Date(grant.expires_at), database: database!, otherDatabases, privileges: pgPrivilegesFor(role) });
    await records.save(grant, resource.name, creds);
    return creds;
  }

  async function dropFor(grant: Grant): Promise<void> {
    const resource = access.policy().resource(grant.resource);
    if (resource) await freshStored(resource);
    const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
    if (!row || row.dropped_at || !perGrant(resource)) return;
    // By the recorded name: the role may predate this deployment's naming (or a change of principal name).
    const { dropped } = await managerFor(resource).dropNamed(row.username, grant.id, 'grant ended');
    // Already gone (another process, or by hand): nothing is pending any more.
    if (!dropped) await records.gone(grant.id);
  }

  return {
    /** Hooks the grant lifecycle: make the role when a grant starts, drop it when the grant ends. */
    attach(): void {
      access.grants.hooks.activated.push(async (g) => {
        try {
          await createFor(g);
        } catch (e) {
          log.error({ grant_id: g.id, resource: g.resource, err: (e as Error).message }, 'could not create the per-grant database role; it will be tried again at connect');
        }
      });
      access.grants.hooks.ended.push(async ({ grant }) => {
        try {
          await dropFor(grant);
        } catch (e) {
          log.error({ grant_id: grant.id, resource: grant.resource, err: (e as Error).message }, 'could not drop the per-grant database role; cleanup at start will retry (its VALID UNTIL already bars it)');
        }
      });
    },

    /** Roles whose grant ended but whose drop failed: their last error and when the next attempt is due. */
    pendingDrops: records.pendingDrops,
    retryDue: records.retryDue,

    /** On start: drop every Airlock role whose grant is over, on every per-grant resource that answers. */
    async cleanup(): Promise<number> {
      let n = 0;
      // Roles this store recorded but whose drop never happened (e.g. Airlock stopped first), by their recorded names.
      const undropped = await access.store.db.selectFrom('grant_credentials').innerJoin('grants', 'grants.id', 'grant_credentials.grant_id')
        .select(['grant_credentials.grant_id']).where('grant_credentials.dropped_at', 'is', null).where('grants.status', '<>', 'active').execute();
      for (const { grant_id } of undropped) {
        const grant = await access.grants.get(grant_id);
        if (grant) await dropFor(grant).catch(() => {});
      }
      for (const resource of access.policy().resources.filter(perGrant)) {
        try {
          const dropped = await managerFor(resource).cleanup(async (grantId) => (await access.grants.get(grantId))?.status === 'active');
          n += dropped.length;
          if (dropped.length) await access.store.db.updateTable('grant_credentials').set({ dropped_at: access.clock.now().toISOString() }).where('username', 'in', dropped).where('dropped_at', 'is', null).execute();
        } catch (e) {
          log.warn({ resource: resource.name, err: (e as Error).message }, 'could not clean up per-grant roles on this resource now');
        }
      }
      return n;
    },

    /** The login the gateway uses upstream for this grant. */
    async upstreamFor(grant: Grant, resource: ResourceDef, database: string | undefined): Promise<UpstreamLogin> {
      const { host, port } = splitAddress(resource.address, 5432);
      const db = database ?? defaultDatabase(resource);
      const security = pgUpstreamSecurity(resource, host);
      await freshStored(resource);
      if (!perGrant(resource)) return { host, port, database: db, security, ...injectedLogin(resource, cachedStored) };
      const kept = await records.stored(grant, resource.name);
      if (kept) return { host, port, database: db, security, user: kept.username, password: kept.password };
      const made = await createFor(grant);
      if (!made) throw new AirlockError('AIRLOCK_INTERNAL', `No upstream login could be made for ${resource.name}.`);
      return { host, port, database: db, security, user: made.username, password: made.password };
    },

    async close(): Promise<void> {
      records.close();
      for (const m of managers.values()) await m.close().catch(() => {});
      managers.clear();
    },
  };
}

export type PgCredentials = CredentialProvider;
