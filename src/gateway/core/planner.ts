// The gateways' view of access, for every front-end: token checks and the once-per-session decision (resource of the
// listener's kind, grant, locks, role, guardrails, database, and the upstream login from that kind's credential provider).
import { AirlockError } from '../../domain/errors.js';
import type { Access } from '../../access/access.js';
import { findLock, describeLock } from '../../access/locks.js';
import { explain } from '../../policy/explain.js';
import { defaultGuardrails, type GuardrailConfig } from '../../inspect/index.js';
import type { ResourceDef, RoleDef } from '../../policy/schema.js';
import { coveredDatabase, coveredDatabases } from '../../policy/databases.js';
import type { GatewayAccess, SessionPlan } from '../types.js';
import type { CredentialProvider, CredentialProviders } from '../../credentials/provider.js';
import type { GatewayProtocol } from './session-lifecycle.js';

/** The resource kind each front-end serves, and how its users name the listener in a refusal. */
const SERVES: Record<GatewayProtocol, { kind: ResourceDef['kind']; listener: string }> = {
  postgres: { kind: 'postgres', listener: 'the PostgreSQL listener (airlock connect <resource> shows how)' },
  mysql: { kind: 'mysql', listener: 'the MySQL listener (airlock connect <resource> shows how)' },
  ssh: { kind: 'ssh', listener: 'the SSH listener' },
  exec: { kind: 'exec', listener: 'airlock exec' },
};

/** Which front-end serves a resource kind (null: none yet, e.g. http). */
function protocolFor(kind: ResourceDef['kind']): GatewayProtocol | null {
  for (const [p, s] of Object.entries(SERVES)) if (s.kind === kind) return p as GatewayProtocol;
  return null;
}

export function guardrailsFor(role: RoleDef): GuardrailConfig {
  const g = role.guardrails;
  return {
    ...defaultGuardrails,
    read_only: role.privileges.sql === 'read',
    deny_kinds: g?.deny_kinds ?? [],
    require_where: g?.require_where ?? false,
    max_rows: g?.max_rows ?? null,
    keep_literals: g?.keep_literals ?? false,
    allow_functions: g?.allow_functions ?? [],
  };
}

export function makeGatewayAccess(deps: {
  access: Access;
  /** The upstream login's provider by resource kind (a record, or a lookup). */
  credentials: CredentialProviders | ((kind: ResourceDef['kind']) => CredentialProvider | undefined);
}): GatewayAccess {
  const { access } = deps;
  const providerFor = typeof deps.credentials === 'function' ? deps.credentials : (kind: ResourceDef['kind']) => (deps.credentials as CredentialProviders)[kind];
  return {
    scramCredentials: (name) => access.tokens.scramCredentials(name),
    mysqlNativeCredentials: (name) => access.tokens.mysqlNativeCredentials(name),
    policyHash: () => access.policy().hash,

    async authenticate(name, token) {
      const caller = await access.tokens.authenticate(token, null);
      if (caller.principal.name !== name) throw new AirlockError('AIRLOCK_TOKEN_INVALID', `This token belongs to another principal, not "${name}".`);
      return caller.principal;
    },

    async principalByToken(name, tokenId) {
      const t = await access.tokens.byId(tokenId);
      if (!t || t.principal !== name || !t.valid) throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'The access token is not valid (expired or revoked). Get a new one: airlock token create');
      const p = access.policy().principal(name);
      if (!p) throw new AirlockError('AIRLOCK_UNKNOWN_PRINCIPAL', `"${name}" is no longer in the policy.`);
      return p;
    },

    async planSession(principal, resourceName, database, protocol = 'postgres'): Promise<SessionPlan> {
      const policy = access.policy();
      const resource = policy.resource(resourceName);
      if (!resource) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `there is no resource named "${resourceName}"; list them with: airlock resources`);
      const serves = SERVES[protocol];
      if (resource.kind !== serves.kind) {
        const other = protocolFor(resource.kind);
        const where = other ? `connect to ${SERVES[other].listener}` : 'this gateway does not serve that kind yet';
        throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `"${resourceName}" is a ${resource.kind} resource, not a ${kindName(serves.kind)}; ${where}`, { resource: resourceName, kind: resource.kind });
      }
      const provider = providerFor(resource.kind);
      if (!provider) throw new AirlockError('AIRLOCK_INTERNAL', `no upstream credential provider for ${resource.kind} resources is configured`);
      const grant = await access.grants.activeFor(principal.name, resource.name);
      if (!grant) {
        const entries = explain(policy, principal.name, resource.name).entries;
        // A lock ends the grants it covers: say so, rather than suggest a request the lock would refuse too.
        for (const role of entries.length ? entries.map((e) => e.role) : ['']) {
          const lock = await findLock(access.store.db, { principal: principal.name, resource: resource.name, role });
          if (lock) throw new AirlockError('AIRLOCK_LOCKED', `${describeLock(lock)}`);
        }
        const roles = entries.filter((e) => e.allowed);
        const role = roles[0];
        const hint = role ? `request one: airlock request ${resource.name} --role ${role.role} --for ${role.max_duration_seconds >= 3600 ? '1h' : role.max_duration} --reason "…"` : 'no role lets you request it; ask an admin';
        throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${resource.name} — ${hint}`);
      }
      const lock = await findLock(access.store.db, { principal: principal.name, resource: resource.name, role: grant.role });
      if (lock) throw new AirlockError('AIRLOCK_LOCKED', `${describeLock(lock)}`);
      const role = policy.role(grant.role);
      if (!role) throw new AirlockError('AIRLOCK_UNKNOWN_ROLE', `role "${grant.role}" of your grant is no longer in the policy; ask an admin`);
      // Fail closed: the relay does not mask result columns yet, so a role that asks for masking gets no session
      // rather than one that shows those columns in clear.
      const masked = role.masking?.columns ?? [];
      if (masked.length > 0) {
        throw new AirlockError(
          'AIRLOCK_MASKING_UNSUPPORTED',
          `role "${role.name}" masks ${masked.join(', ')}, and this gateway cannot mask result columns yet, so the session was refused rather than show them unmasked; an admin can remove masking from the role (see docs/policy.md)`,
        );
      }
      // The wall between databases on one server: the upstream login may be able to connect to any of them
      // (PostgreSQL grants CONNECT to PUBLIC by default), so the gateway opens only those the resource names.
      const db = coveredDatabase(resource, database);
      if (db === undefined) {
        const allowed = coveredDatabases(resource);
        throw new AirlockError(
          'AIRLOCK_DATABASE_NOT_ALLOWED',
          `resource ${resource.name} does not cover the database "${String(database).slice(0, 100)}"; it covers ${allowed.map((d) => `"${d}"`).join(', ')} (dbname=${resource.name}/<one of these>, or dbname=${resource.name} for "${allowed[0]}"); an admin can add databases to the resource in the policy`,
          { resource: resource.name, database, allowed },
        );
      }
      const upstream = await provider.upstreamFor(grant, resource, db);
      return { principal, grant, resource, role, upstream, guardrails: guardrailsFor(role), read_only: role.privileges.sql === 'read', masking: null };
    },
  };
}

function kindName(kind: ResourceDef['kind']): string {
  return kind === 'postgres' ? 'PostgreSQL database' : kind === 'mysql' ? 'MySQL database' : `${kind} resource`;
}
