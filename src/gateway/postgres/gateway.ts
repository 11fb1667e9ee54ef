// The PostgreSQL front-end: a TCP listener whose connections authenticate with Airlock tokens and are relayed,
// inspected and audited, to the database their grant allows.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { initInspect, makeInspector } from '../../inspect/index.js';
import type { GatewayDeps, SessionPlan } from '../types.js';
import { CancelKeys } from './cancel-keys.js';
import { makeFunctionCatalogs } from './function-catalogs.js';
import { CancelRateLimit, type CancelRateLimitOptions } from './cancel-rate-limit.js';
import { tlsServerEndPoint } from './scram-server.js';
import { serveConnection, type SessionContext } from './session.js';

export interface PgGatewayOptions {
  listen: { host: string; port: number };
  tls: { key: string | Buffer; cert: string | Buffer } | null;
  /** Accept unencrypted connections, but only from loopback addresses (local demos and tests). */
  allowCleartextWithoutTls?: boolean;
  /** Largest client message after login, in bytes of body; a bigger one ends the session. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Time a client has from connecting to a ready session. Default 30 s. */
  loginTimeoutMs?: number;
  /** CancelRequests per source address (an IPv6 /64 counts as one): default 20 a second, bursts of 50. */
  cancelRateLimit?: CancelRateLimitOptions;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export function makePgGateway(deps: GatewayDeps, opts: PgGatewayOptions) {
  const cancelKeys = new CancelKeys();
  const catalogs = makeFunctionCatalogs();
  const connections = new Map<Socket, Promise<void>>();
  let server: Server | null = null;

  const ctx: SessionContext = {
    deps,
    tls: opts.tls
      ? { context: createSecureContext({ key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2' }), endPoint: tlsServerEndPoint(opts.tls.cert) }
      : null,
    allowCleartextWithoutTls: opts.allowCleartextWithoutTls ?? false,
    maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    loginTimeoutMs: opts.loginTimeoutMs ?? 30_000,
    cancelKeys,
    cancelRateLimit: new CancelRateLimit(opts.cancelRateLimit),
    live: new Map(),
    inspectorFor(plan: SessionPlan, catalog) {
      return makeInspector({ ...plan.guardrails, read_only: plan.read_only || plan.guardrails.read_only }, undefined, catalog);
    },
    catalogFor(plan: SessionPlan) {
      return catalogs.forLogin(`${plan.resource.name}/${plan.upstream.database}`, plan.upstream);
    },
  };

  function onConnection(socket: Socket): void {
    const done = serveConnection(ctx, socket)
      .catch((err: unknown) => deps.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'postgres gateway: connection failed'))
      .finally(() => connections.delete(socket));
    connections.set(socket, done);
  }

  return {
    /** Listens; resolves with the address actually bound (port 0 picks a free port). */
    async start(): Promise<{ host: string; port: number }> {
      await initInspect();
      const s = createServer({ noDelay: true }, onConnection);
      server = s;
      s.on('error', (err) => deps.log.error({ err: err.message }, 'postgres gateway: listener error'));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(opts.listen.port, opts.listen.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.listen.port;
      deps.log.info({ host: opts.listen.host, port, tls: ctx.tls !== null }, 'postgres gateway listening');
      return { host: opts.listen.host, port };
    },

    /** Stops listening and ends every session of this gateway (each client reads why), then waits for their audit. */
    async stop(): Promise<void> {
      const s = server;
      server = null;
      // close() stops accepting at once but calls back only when every connection is gone, so end those first.
      const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
      const pending = [...connections.entries()];
      for (const [sock] of pending) {
        const kill = ctx.live.get(sock);
        if (kill) kill('the Airlock gateway is shutting down');
        else sock.destroy(); // still logging in: nothing to tell yet
      }
      await Promise.all(pending.map(([, p]) => p));
      await closed;
    },

    /** Whether the listener accepts connections (for /readyz). */
    get listening(): boolean {
      return server?.listening ?? false;
    },

    /** Live connections, including ones still logging in. */
    get connections(): number {
      return connections.size;
    },
  };
}

export type PgGateway = ReturnType<typeof makePgGateway>;
