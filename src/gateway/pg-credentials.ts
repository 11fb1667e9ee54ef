// Upstream logins for PostgreSQL resources: per-grant roles made when a grant starts and dropped when it ends
// (kept encrypted in the store meanwhile), or the resource's injected secret. The user never sees either.
import { join } from 'node:path';
import type { Grant } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { ResourceDef, RoleDef } from '../policy/schema.js';
import { makePgGrantRoles, type PgGrantRoles, type PgPrivileges, type PgRoleEvent } from '../credentials/pg-grant-roles.js';
import { coveredDatabases, defaultDatabase } from '../policy/databases.js';
import { resolveSecret } from '../credentials/secret-ref.js';
import { pgAdminConnection, pgUpstreamSecurity } from '../credentials/pg-upstream-security.js';
import { decrypt, encrypt, loadKey } from '../credentials/encryption.js';
import type { UpstreamLogin } from './types.js';
import type { CredentialProvider, PendingDrop } from '../credentials/provider.js';
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

/** First retry of a failed drop after 5 s, doubling up to 15 min: quick for a passing lock, gentle for a lasting fault. */
export function dropRetryDelayMs(attempts: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempts - 1), 15 * 60_000);
}

export type { PendingDrop } from '../credentials/provider.js';

export function makePgCredentials(deps: {
  access: Access;
  dataDir: string;
  /** This deployment's id: in the marker role, role names and comments, so it never touches another Airlock's roles. */
  deploymentId?: string;
  log: Log;
}): CredentialProvider {
  const { access, log } = deps;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;
  const key = loadKey({ keyFile: join(deps.dataDir, 'secret.key') });
  const managers = new Map<string, PgGrantRoles>();

  function injected(resource: ResourceDef): { user: string; password: string } {
    if (!resource.credential) throw new AirlockError('AIRLOCK_BAD_INPUT', `Resource "${resource.name}" has no upstream credential in the policy; an admin must add one.`);
    return { user: resource.credential.username, password: resolveSecret(resource.credential.password) };
  }

  function managerFor(resource: ResourceDef): PgGrantRoles {
    const { host, port } = splitAddress(resource.address, 5432);
    const admin = injected(resource);
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
        onEvent: (e) => recordEvent(name, e),
      });
      managers.set(id, m);
    }
    return m;
  }

  const perGrant = (r: ResourceDef | undefined): r is ResourceDef => r?.kind === 'postgres' && r.credential?.mode === 'per_grant_role';

  /** The grant as stored now, refused unless still active: the one read at plan time may have ended since. */
  async function stillActive(grant: Grant): Promise<void> {
    const now = await access.grants.get(grant.id);
    if (!now || now.status !== 'active' || now.expires_at <= access.clock.now().toISOString()) {
      throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${grant.resource}: grant ${grant.id} ended; request access again`);
    }
  }

  /**
   * The grant ended while its role was being made: the end's drop may have looked before the role was recorded, so
   * drop it here (a second drop finds it gone) and refuse.
   */
  async function endedMeanwhile(grant: Grant): Promise<void> {
    try {
      await stillActive(grant);
    } catch (e) {
      await dropFor(grant).catch((err: unknown) => log.error({ grant_id: grant.id, err: (err as Error).message }, 'could not drop a per-grant database role made as its grant ended; it is retried'));
      throw e;
    }
  }

  async function createFor(grant: Grant): Promise<{ username: string; password: string } | undefined> {
    const policy = access.policy();
    const resource = policy.resource(grant.resource);
    const role = policy.role(grant.role);
    if (!perGrant(resource) || !role) return undefined;
    const m = managerFor(resource);
    await m.ensureMarker();
    const [database, ...otherDatabases] = coveredDatabases(resource);
    await stillActive(grant);
    const creds = await m.create({ grantId: grant.id, principal: grant.principal, expiresAt: new Date(grant.expires_at), database: database!, otherDatabases, privileges: pgPrivilegesFor(role) });
    await access.store.db
      .insertInto('grant_credentials')
      .values({ grant_id: grant.id, resource: resource.name, username: creds.username, secret: encrypt(key, creds.password, grant.id), created_at: access.clock.now().toISOString(), dropped_at: null })
      .execute();
    await endedMeanwhile(grant);
    return creds;
  }

  /** The audit record of each role made or removed, and the store's record of a drop that failed (retried with back-off). */
  async function recordEvent(resource: string, e: PgRoleEvent): Promise<void> {
    const now = access.clock.now();
    const db = access.store.db;
    if (e.kind === 'created') {
      await access.audit.append({ actor: 'airlock', action: 'credential.created', target: resource, details: { grant_id: e.grantId, role: e.role, databases: e.databases, valid_until: e.validUntil } });
      return;
    }
    if (e.kind === 'dropped') {
      await db.updateTable('grant_credentials').set({ dropped_at: now.toISOString(), next_drop_at: null }).where('username', '=', e.role).where('dropped_at', 'is', null).execute();
      await access.audit.append({ actor: 'airlock', action: 'credential.dropped', target: resource, details: { grant_id: e.grantId, role: e.role, reason: e.reason ?? null, sessions_ended: e.terminated } });
      return;
    }
    const row = await db.selectFrom('grant_credentials').select(['drop_attempts']).where('username', '=', e.role).where('dropped_at', 'is', null).executeTakeFirst();
    const attempts = (row?.drop_attempts ?? 0) + 1;
    const next = row ? new Date(now.getTime() + dropRetryDelayMs(attempts)).toISOString() : null;
    if (row) await db.updateTable('grant_credentials').set({ drop_attempts: attempts, drop_error: e.error, next_drop_at: next }).where('username', '=', e.role).where('dropped_at', 'is', null).execute();
    await access.audit.append({ actor: 'airlock', action: 'credential.drop_failed', target: resource, details: { grant_id: e.grantId, role: e.role, reason: e.reason ?? null, attempt: attempts, error: e.error, next_attempt_at: next } });
    log.error({ resource, grant_id: e.grantId, role: e.role, attempt: attempts, next_attempt_at: next, err: e.error }, 'could not drop a per-grant database role; it is disabled by VALID UNTIL and will be tried again');
    scheduleRetry();
  }

  async function dropFor(grant: Grant): Promise<void> {
    const resource = access.policy().resource(grant.resource);
    const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
    if (!row || row.dropped_at || !perGrant(resource)) return;
    // By the recorded name: the role may predate this deployment's naming (or a change of principal name).
    const { dropped } = await managerFor(resource).dropNamed(row.username, grant.id, 'grant ended');
    // Already gone (another process, or by hand): nothing is pending any more.
    if (!dropped) await access.store.db.updateTable('grant_credentials').set({ dropped_at: access.clock.now().toISOString(), next_drop_at: null }).where('grant_id', '=', grant.id).where('dropped_at', 'is', null).execute();
  }

  /** This provider's own: grant_credentials also holds other kinds' per-grant logins (MySQL users). */
  async function pendingDrops(): Promise<PendingDrop[]> {
    const pgResources = access.policy().resources.filter((r) => r.kind === 'postgres').map((r) => r.name);
    if (pgResources.length === 0) return [];
    const rows = await access.store.db.selectFrom('grant_credentials').select(['grant_id', 'resource', 'username', 'drop_attempts', 'drop_error', 'next_drop_at'])
      .where('dropped_at', 'is', null).where('next_drop_at', 'is not', null).where('resource', 'in', pgResources).orderBy('next_drop_at').execute();
    return rows.map((r) => ({ grant_id: r.grant_id, resource: r.resource, username: r.username, attempts: r.drop_attempts, error: r.drop_error, next_attempt_at: r.next_drop_at }));
  }

  /** Tries every pending drop that is due; a failure reschedules itself through recordEvent. */
  async function retryDue(): Promise<void> {
    const now = access.clock.now().toISOString();
    for (const p of await pendingDrops()) {
      if (closed || (p.next_attempt_at && p.next_attempt_at > now)) continue;
      const grant = await access.grants.get(p.grant_id);
      if (!grant || grant.status === 'active') continue;
      await dropFor(grant).catch(() => {});
    }
  }

  function scheduleRetry(): void {
    if (closed) return;
    void pendingDrops().then((pending) => {
      const first = pending[0]?.next_attempt_at;
      if (closed || !first) return;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        void retryDue().catch((e) => log.warn({ err: (e as Error).message }, 'retrying per-grant role drops failed')).finally(scheduleRetry);
      }, Math.max(0, Date.parse(first) - access.clock.now().getTime()));
      retryTimer.unref?.();
    }).catch((e) => log.warn({ err: (e as Error).message }, 'could not read the pending per-grant role drops'));
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
    pendingDrops,
    retryDue,

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
      if (!perGrant(resource)) return { host, port, database: db, security, ...injected(resource) };
      const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
      if (row?.dropped_at) throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${resource.name}: the database login of grant ${grant.id} was removed when it ended; request access again`);
      if (row) return { host, port, database: db, security, user: row.username, password: decrypt(key, row.secret, grant.id) };
      const made = await createFor(grant);
      if (!made) throw new AirlockError('AIRLOCK_INTERNAL', `No upstream login could be made for ${resource.name}.`);
      return { host, port, database: db, security, user: made.username, password: made.password };
    },

    async close(): Promise<void> {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      for (const m of managers.values()) await m.close().catch(() => {});
      managers.clear();
    },
  };
}

export type PgCredentials = CredentialProvider;
