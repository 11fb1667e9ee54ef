// Test rig for the PostgreSQL gateway: a real gateway on a real test database, with a small in-test GatewayAccess
// (the seam between layers), the real session registry and an audit sink that keeps events in an array.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { AirlockError } from '../../src/domain/errors.js';
import { principalSalt, scramVerifier, SCRAM_ITERATIONS } from '../../src/domain/scram.js';
import type { AuditInput, Grant, Principal } from '../../src/domain/model.js';
import { resourceSchema, roleSchema } from '../../src/policy/schema.js';
import { makeSessionRegistry, type SessionRegistry } from '../../src/access/session-registry.js';
import type { GatewayAccess, SessionPlan } from '../../src/gateway/types.js';
import type { GuardrailConfig } from '../../src/inspect/index.js';
import { makePgGateway, loadOrCreateTls, type PgGatewayOptions, type TlsMaterial } from '../../src/gateway/postgres/index.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { pgUpstreamSecurity } from '../../src/credentials/pg-upstream-security.js';
import { makeMetrics, type Metrics } from '../../src/metrics.js';
import type { SessionMasking } from '../../src/domain/masking.js';

export const NO_GRANT_MESSAGE = 'no active grant for prod-orders — request one: airlock request prod-orders --role read --for 1h --reason "…"';

export interface ResourceSetup {
  read_only?: boolean;
  /** Column masking for the session (docs/masking.md). */
  masking?: SessionMasking | null;
  guardrails?: Partial<GuardrailConfig>;
  /** Another server than the test database's: its URL gives address, database and upstream login; tls/auth as in a policy. */
  upstream?: { url: string; tls?: unknown; auth?: unknown };
}

export interface Rig {
  port: number;
  token: string;
  db: TestDatabase;
  tls: TlsMaterial;
  events: AuditInput[];
  registry: SessionRegistry;
  errors: object[];
  gateway: ReturnType<typeof makePgGateway>;
  /** The metrics the gateway counts into, read as a scrape would (metrics.api.exposition()). */
  metrics: Metrics;
  /** libpq connection string for a resource (default "rw"). */
  conninfo(resource?: string, extra?: string): string;
  stop(): Promise<void>;
}

function guardrails(g: Partial<GuardrailConfig> = {}): GuardrailConfig {
  return { read_only: false, deny_kinds: [], require_where: false, max_rows: null, keep_literals: false, max_statement_bytes: 1 << 20, allow_functions: [], ...g };
}

/**
 * Resources: "rw" (writable), "ro" (read-only plan), "limited" (max_rows 100), plus `extra`; "prod-orders" has
 * no grant, anything else is unknown. The upstream login is the test server's own (a superuser), on a fresh database.
 */
/**
 * `auditFailure`: the audit sink fails every statement event with this error, as a store that cannot commit would.
 * `dbPrefix`: the test database's name prefix (default airlock_pgw).
 */
export async function startRig(opts: { extra?: Record<string, ResourceSetup>; gateway?: Partial<PgGatewayOptions>; auditFailure?: Error; dbPrefix?: string } = {}): Promise<Rig> {
  const db = await createTestDatabase(opts.dbPrefix ?? 'airlock_pgw');
  const dataDir = mkdtempSync(join(tmpdir(), 'airlock-pgw-'));
  const tls = await loadOrCreateTls(dataDir);
  const token = `alk_${randomBytes(24).toString('base64url')}`;
  const resources: Record<string, ResourceSetup> = { rw: {}, ro: { read_only: true }, limited: { guardrails: { max_rows: 100 } }, ...opts.extra };
  const up = new URL(adminUrl());
  const events: AuditInput[] = [];
  const errors: object[] = [];
  const registry = makeSessionRegistry();
  const alice: Principal = { name: 'alice', kind: 'user', groups: ['engineers'] };

  const access: GatewayAccess = {
    async mysqlNativeCredentials() {
      return { keys: [], without_verifier: 0 };
    },
    async scramCredentials(name) {
      const salt = principalSalt(name);
      if (name !== 'alice') return { salt, iterations: SCRAM_ITERATIONS, keys: [] };
      const v = scramVerifier(token, salt);
      return { salt, iterations: v.iterations, keys: [{ token_id: 'tok_alice', stored_key: v.stored_key, server_key: v.server_key }] };
    },
    async principalByToken(name, tokenId) {
      if (name !== 'alice' || tokenId !== 'tok_alice') throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'the access token is not valid');
      return alice;
    },
    async authenticate(name, t) {
      if (name !== 'alice' || t !== token) throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'the access token is not valid');
      return alice;
    },
    async planSession(principal, resource, database): Promise<SessionPlan> {
      if (resource === 'prod-orders') throw new AirlockError('AIRLOCK_NO_GRANT', NO_GRANT_MESSAGE);
      const setup = resources[resource];
      if (!setup) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `there is no resource named "${resource}"`);
      const target = setup.upstream ? new URL(setup.upstream.url) : up;
      const targetDb = setup.upstream ? decodeURIComponent(target.pathname.slice(1)) : db.name;
      const def = resourceSchema.parse({ name: resource, kind: 'postgres', address: `${target.hostname}:${target.port || 5432}`, database: targetDb, tls: setup.upstream?.tls, auth: setup.upstream?.auth });
      const now = new Date();
      const grant: Grant = {
        id: `grt_${resource}`, request_id: 'req_1', principal: principal.name, resource, role: 'read', status: 'active',
        starts_at: now.toISOString(), expires_at: new Date(now.getTime() + 3600_000).toISOString(),
        ended_at: null, end_reason: null, ended_by: null, break_glass: false, needs_review: false,
      };
      return {
        principal,
        grant,
        resource: def,
        role: roleSchema.parse({ name: 'read', resources: { names: [resource] }, max_duration: '1h', requestable_by: { groups: ['engineers'] }, approval: { approver_groups: ['dba'] } }),
        upstream: { host: target.hostname, port: Number(target.port || 5432), database: database ?? def.database!, user: decodeURIComponent(target.username || 'postgres'), password: decodeURIComponent(target.password), security: pgUpstreamSecurity(def, target.hostname) },
        guardrails: guardrails(setup.guardrails),
        read_only: setup.read_only ?? false,
        masking: setup.masking ?? null,
      };
    },
  };

  const log = { info() {}, warn(o: object) { errors.push(o); }, error(o: object) { errors.push(o); } };
  const metrics = makeMetrics({ version: 'test' });
  const gateway = makePgGateway(
    {
      access,
      sessions: registry,
      audit: {
        async append(e) { events.push(e); },
        appendLazy(e, onError) {
          // The real log reports a failed batch after the fact, never inside the call.
          if (opts.auditFailure) setTimeout(() => onError(opts.auditFailure), 1);
          else events.push(e);
        },
      },
      log,
      metrics: metrics.gateway('postgres'),
    },
    { listen: { host: '127.0.0.1', port: 0 }, tls: { key: tls.key, cert: tls.cert }, ...opts.gateway },
  );
  const { port } = await gateway.start();
  return {
    port, token, db, tls, events, registry, errors, gateway, metrics,
    conninfo(resource = 'rw', extra = '') {
      return `host=127.0.0.1 port=${port} user=alice dbname=${resource} sslmode=require ${extra}`.trim();
    },
    async stop() {
      await gateway.stop();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a libpq tool (psql, pgbench) with the token as PGPASSWORD and no user-level libpq config in the way. */
export function runTool(cmd: string, args: string[], opts: { password?: string; input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmpdir(), PGCONNECT_TIMEOUT: '10', PSQLRC: '/dev/null', ...opts.env };
    if (opts.password !== undefined) env.PGPASSWORD = opts.password;
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Polls `check` until it returns true or `ms` pass. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
