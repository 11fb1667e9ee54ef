// The MySQL/MariaDB front-end: a TCP listener whose connections log in with Airlock tokens and are relayed,
// inspected and audited, to the database their grant allows.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { GatewayDeps, SessionPlan } from '../types.js';
import type { MysqlInspector } from './commands.js';
import { serveConnection, type MysqlSessionContext } from './session.js';
import type { UpstreamFacts } from './upstream.js';

export interface MysqlGatewayOptions {
  listen: { host: string; port: number };
  tls: { key: string | Buffer; cert: string | Buffer } | null;
  /** Accept unencrypted logins, but only from loopback addresses (local demos and tests). */
  allowCleartextWithoutTls?: boolean;
  /** Largest client packet after login (continuations joined); a bigger one ends the session. Default 64 MiB. */
  maxPacketBytes?: number;
  /** Time a client has from connecting to a ready session. Default 30 s. */
  loginTimeoutMs?: number;
  /** The version string clients see. Default "10.11.0-airlock" (MariaDB-flavoured: clients then skip MySQL 8-only features). */
  serverVersion?: string;
  /**
   * The MySQL-dialect inspector for a session (src/inspect/mysql), given its plan and what the upstream login showed
   * of the server (version, NO_BACKSLASH_ESCAPES).
   */
  inspectorFor(plan: SessionPlan, upstream: UpstreamFacts): MysqlInspector;
}

export const DEFAULT_MAX_PACKET_BYTES = 64 * 1024 * 1024;

export function makeMysqlGateway(deps: GatewayDeps, opts: MysqlGatewayOptions) {
  const connections = new Map<Socket, Promise<void>>();
  let server: Server | null = null;
  let lastId = 0;

  const ctx: MysqlSessionContext = {
    deps,
    tls: opts.tls ? createSecureContext({ key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2' }) : null,
    allowCleartextWithoutTls: opts.allowCleartextWithoutTls ?? false,
    maxPacketBytes: opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES,
    loginTimeoutMs: opts.loginTimeoutMs ?? 30_000,
    serverVersion: opts.serverVersion ?? '10.11.0-airlock',
    // Ids a client sees (KILL takes them); never 0, wrapping below 2^32.
    nextConnectionId: () => (lastId = lastId >= 0xfffffff0 ? 1 : lastId + 1),
    byConnectionId: new Map(),
    live: new Map(),
    inspectorFor: opts.inspectorFor,
  };

  function onConnection(socket: Socket): void {
    const done = serveConnection(ctx, socket)
      .catch((err: unknown) => deps.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'mysql gateway: connection failed'))
      .finally(() => connections.delete(socket));
    connections.set(socket, done);
  }

  return {
    /** Listens; resolves with the address actually bound (port 0 picks a free port). */
    async start(): Promise<{ host: string; port: number }> {
      const s = createServer({ noDelay: true }, onConnection);
      server = s;
      s.on('error', (err) => deps.log.error({ err: err.message }, 'mysql gateway: listener error'));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(opts.listen.port, opts.listen.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.listen.port;
      deps.log.info({ host: opts.listen.host, port, tls: ctx.tls !== null }, 'mysql gateway listening');
      return { host: opts.listen.host, port };
    },

    /** Stops listening and ends every session (each client reads why), then waits for their audit. */
    async stop(): Promise<void> {
      const s = server;
      server = null;
      const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
      const pending = [...connections.entries()];
      for (const [sock] of pending) {
        const kill = ctx.live.get(sock);
        if (kill) kill('the Airlock gateway is shutting down');
        else sock.destroy();
      }
      await Promise.all(pending.map(([, p]) => p));
      await closed;
    },

    get listening(): boolean {
      return server?.listening ?? false;
    },

    get connections(): number {
      return connections.size;
    },
  };
}

export type MysqlGateway = ReturnType<typeof makeMysqlGateway>;
