// The real Airlock server started inside the test process (own data dir and store), driven through its HTTP API.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import pg from 'pg';
import { startServer, type RunningServer } from '../../src/server.js';
import type { Clock } from '../../src/domain/clock.js';

export interface InProcessAirlock {
  server: RunningServer;
  dir: string;
  adminToken: string;
  gateway: { host: string; port: number; ca: string };
  api<T = unknown>(token: string, method: string, path: string, body?: unknown): Promise<T>;
  token(principal: string): Promise<string>;
  /** Requests `role` on `resource` as `requester` and has `approver` approve it; the grant id. */
  grant(requester: string, approver: string, resource: string, role: string, duration?: string): Promise<string>;
  /** A pg client through the gateway, TLS verified against the Airlock CA. */
  client(principalToken: string, user: string, dbname: string): pg.Client;
  /** This deployment's marker role on the database server. */
  marker: string;
  /** Names of the marker's members on the server at `url`. */
  managedRoles(url: string): Promise<string[]>;
  /** Revokes every active grant and waits until the per-grant roles are gone from `url`, then drops the marker. */
  dropRoles(url: string): Promise<void>;
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

async function query<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Starts a server on `dir` (a fresh one by default); `dir` may hold a previous run's data to restart on. */
export async function startAirlock(opts: { policy: string; dir?: string; clock?: Clock; deploymentId?: string; env?: Record<string, string> }): Promise<InProcessAirlock> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'airlock-inproc-'));
  writeFileSync(join(dir, 'airlock.yaml'), opts.policy);
  for (const [k, v] of Object.entries(opts.env ?? {})) process.env[k] = v;
  const adminToken = `alk_${randomBytes(32).toString('base64url')}`;
  const server = await startServer({
    config: join(dir, 'airlock.yaml'),
    dataDir: join(dir, 'data'),
    listen: { host: '127.0.0.1', port: 0 },
    pgListen: { host: '127.0.0.1', port: 0 },
    mysqlListen: { host: '127.0.0.1', port: 0 },
    mysqlAllowCleartextLoopback: true,
    sshListen: { host: '127.0.0.1', port: 0 },
    bootstrapToken: adminToken,
    logger: pino({ level: 'silent' }),
    watchPolicy: false,
    clock: opts.clock,
    deploymentId: opts.deploymentId,
  });
  const gw = server.gateways.postgres!;
  async function api<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(`${server.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await r.json()) as T;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }
  const marker = `airlock_managed_${server.info.deployment_id}`;
  const managedRoles = async (url: string) =>
    (await query<{ rolname: string }>(url, 'select r.rolname from pg_roles r join pg_auth_members m on m.member = r.oid join pg_roles k on k.oid = m.roleid where k.rolname = $1 order by 1', [marker])).map((r) => r.rolname);
  return {
    server,
    dir,
    marker,
    managedRoles,
    async dropRoles(url) {
      const { grants } = await api<{ grants: { id: string }[] }>(adminToken, 'GET', '/api/v1/grants?active=true');
      for (const g of grants) await api(adminToken, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'test done' });
      const until = Date.now() + 10_000;
      while ((await managedRoles(url)).length > 0) {
        if (Date.now() > until) throw new Error(`per-grant roles of ${marker} were not dropped: ${(await managedRoles(url)).join(', ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await query(url, `DROP ROLE IF EXISTS "${marker}"`);
    },
    adminToken,
    gateway: { host: gw.host, port: gw.port, ca: gw.ca },
    api,
    token: async (principal) => (await api<{ token: string }>(adminToken, 'POST', '/api/v1/tokens', { principal, ttl: '1h' })).token,
    async grant(requester, approver, resource, role, duration = '30m') {
      const req = await api<{ id: string }>(requester, 'POST', '/api/v1/requests', { resource, role, duration, reason: 'OPS-11 test' });
      return (await api<{ grant_id: string }>(approver, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id;
    },
    client(principalToken, user, dbname) {
      const c = new pg.Client({ host: gw.host, port: gw.port, user, database: dbname, password: principalToken, ssl: { ca: gw.ca, servername: 'localhost' }, connectionTimeoutMillis: 10_000 });
      c.on('error', () => {});
      return c;
    },
    async stop(o = {}) {
      await server.close();
      if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
