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
import type { SessionMasking } from '../../domain/masking.js';
import { describeSecretRef, resolveSecret } from '../../credentials/secret-ref.js';

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

/**
 * The front-ends that mask result columns (docs/masking.md). A role with masking gets no session on any other: fail
 * closed, rather than a session that shows those columns in clear. Each front-end adds itself when it masks.
 */
export const MASKING_FRONT_ENDS = new Set<GatewayProtocol>(['postgres', 'mysql']);

/** An HMAC key shorter than this could be guessed, and with it every hashed value: the session is refused. */
export const MIN_MASK_KEY_BYTES = 16;

/** How a rule names itself in messages and explain output: `customers.email`, `label pii:email`. */
export function maskRuleName(rule: { column?: string; label?: string }): string {
  return rule.column ?? `label ${rule.label ?? ''}`;
}

/**
 * A role's masking for one session, each hash key read now (so a key changed on disk applies to the next session):
 * null when the role masks nothing. A key that cannot be read refuses the session with AIRLOCK_BAD_INPUT, the code
 * of every unreadable secret reference, naming the variable or file and never the value.
 */
export function sessionMaskingFor(role: RoleDef, env: NodeJS.ProcessEnv = process.env): SessionMasking | null {
  const rules = role.masking?.rules ?? [];
  if (rules.length === 0) return null;
  return {
    role: role.name,
    predicates: role.masking?.predicates ?? 'allow',
    rules: rules.map((r) => {
      const name = maskRuleName(r);
      let key: Buffer | null = null;
      if (r.method === 'hash') {
        const where = r.key ? describeSecretRef(r.key) : '(no key)';
        let value: string;
        try {
          if (!r.key) throw new AirlockError('AIRLOCK_BAD_INPUT', 'the rule names no key');
          value = resolveSecret(r.key, { env });
        } catch (e) {
          const why = e instanceof AirlockError ? e.message : 'it cannot be read';
          throw new AirlockError('AIRLOCK_BAD_INPUT', `role "${role.name}" hashes ${name} with the key in ${where}, which cannot be used: ${why}; an admin must provide it (docs/masking.md, "Keys")`, { role: role.name, rule: name, key: where });
        }
        key = Buffer.from(value, 'utf8');
        if (key.length < MIN_MASK_KEY_BYTES) {
          throw new AirlockError('AIRLOCK_BAD_INPUT', `role "${role.name}" hashes ${name} with the key in ${where}, which is shorter than ${MIN_MASK_KEY_BYTES} bytes and could be guessed; an admin must provide a longer one, e.g. openssl rand -hex 32 (docs/masking.md, "Keys")`, { role: role.name, rule: name, key: where });
        }
      }
      return { ...r, resolved: { method: r.method, keep: r.method === 'partial' ? (r.keep ?? 4) : 0, key, rule: name } };
    }),
  };
}

/** The session's masking, or the refusal of a role with masking on a front-end that cannot mask. */
function planMasking(role: RoleDef, protocol: GatewayProtocol): SessionMasking | null {
  const rules = role.masking?.rules ?? [];
  if (rules.length === 0) return null;
  if (!MASKING_FRONT_ENDS.has(protocol)) {
    throw new AirlockError(
      'AIRLOCK_MASKING_UNSUPPORTED',
      `role "${role.name}" masks ${rules.map(maskRuleName).join(', ')}, and this front-end (${protocol}) cannot mask result columns yet, so the session was refused rather than show them unmasked; an admin can remove masking from the role (see docs/masking.md)`,
      { role: role.name, protocol },
    );
  }
  return sessionMaskingFor(role);
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
      const masking = planMasking(role, protocol);
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
      return { principal, grant, resource, role, upstream, guardrails: guardrailsFor(role), read_only: role.privileges.sql === 'read', masking };
    },
  };
}

function kindName(kind: ResourceDef['kind']): string {
  return kind === 'postgres' ? 'PostgreSQL database' : kind === 'mysql' ? 'MySQL database' : `${kind} resource`;
}
