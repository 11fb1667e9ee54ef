// Upstream logins for PostgreSQL resources: per-grant roles made when a grant starts and dropped when it ends
// (kept encrypted in the store meanwhile), or the resource's injected secret. The user never sees either.
import { join } from 'node:path';
import type { Grant } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { ResourceDef, RoleDef } from '../policy/schema.js';
import { makePgGrantRoles, type PgGrantRoles, type PgPrivileges } from '../credentials/pg-grant-roles.js';
import { resolveSecret } from '../credentials/secret-ref.js';
import { decrypt, encrypt, loadKey } from '../credentials/encryption.js';
import type { UpstreamLogin } from './types.js';

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

export function makePgCredentials(deps: { access: Access; dataDir: string; log: { warn(o: object, m?: string): void; error(o: object, m?: string): void; info(o: object, m?: string): void } }) {
  const { access, log } = deps;
  const key = loadKey({ keyFile: join(deps.dataDir, 'secret.key') });
  const managers = new Map<string, PgGrantRoles>();

  function injected(resource: ResourceDef): { user: string; password: string } {
    if (!resource.credential) throw new AirlockError('AIRLOCK_BAD_INPUT', `Resource "${resource.name}" has no upstream credential in the policy; an admin must add one.`);
    return { user: resource.credential.username, password: resolveSecret(resource.credential.password) };
  }

  function managerFor(resource: ResourceDef): PgGrantRoles {
    const { host, port } = splitAddress(resource.address, 5432);
    const admin = injected(resource);
    const url = `postgres://${encodeURIComponent(admin.user)}:${encodeURIComponent(admin.password)}@${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(resource.database ?? 'postgres')}`;
    const id = `${resource.name}\0${url}`;
    let m = managers.get(id);
    if (!m) {
      m = makePgGrantRoles({ adminUrl: url, clock: access.clock, log: (msg, fields) => log.info({ resource: resource.name, ...fields }, msg) });
      managers.set(id, m);
    }
    return m;
  }

  const perGrant = (r: ResourceDef | undefined): r is ResourceDef => r?.kind === 'postgres' && r.credential?.mode === 'per_grant_role';

  async function createFor(grant: Grant): Promise<{ username: string; password: string } | undefined> {
    const policy = access.policy();
    const resource = policy.resource(grant.resource);
    const role = policy.role(grant.role);
    if (!perGrant(resource) || !role) return undefined;
    const m = managerFor(resource);
    await m.ensureMarker();
    const creds = await m.create({ grantId: grant.id, principal: grant.principal, expiresAt: new Date(grant.expires_at), database: resource.database ?? 'postgres', privileges: pgPrivilegesFor(role) });
    await access.store.db
      .insertInto('grant_credentials')
      .values({ grant_id: grant.id, resource: resource.name, username: creds.username, secret: encrypt(key, creds.password, grant.id), created_at: access.clock.now().toISOString(), dropped_at: null })
      .execute();
    return creds;
  }

  async function dropFor(grant: Grant): Promise<void> {
    const resource = access.policy().resource(grant.resource);
    const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
    if (!row || row.dropped_at || !perGrant(resource)) return;
    const m = managerFor(resource);
    await m.drop(grant.id, grant.principal, 'grant ended');
    await access.store.db.updateTable('grant_credentials').set({ dropped_at: access.clock.now().toISOString() }).where('grant_id', '=', grant.id).execute();
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

    /** On start: drop every Airlock role whose grant is over, on every per-grant resource that answers. */
    async cleanup(): Promise<number> {
      let n = 0;
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
      const { host, port } = splitAddress(resource.address, resource.kind === 'mysql' ? 3306 : 5432);
      const db = database ?? resource.database ?? 'postgres';
      if (!perGrant(resource)) return { host, port, database: db, ...injected(resource) };
      const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
      if (row && !row.dropped_at) return { host, port, database: db, user: row.username, password: decrypt(key, row.secret, grant.id) };
      const made = await createFor(grant);
      if (!made) throw new AirlockError('AIRLOCK_INTERNAL', `No upstream login could be made for ${resource.name}.`);
      return { host, port, database: db, user: made.username, password: made.password };
    },

    async close(): Promise<void> {
      for (const m of managers.values()) await m.close().catch(() => {});
      managers.clear();
    },
  };
}

export type PgCredentials = ReturnType<typeof makePgCredentials>;
