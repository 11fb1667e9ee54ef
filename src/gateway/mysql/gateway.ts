// The MySQL/MariaDB front-end: a TCP listener whose connections log in with Airlock tokens and are relayed,
// inspected and audited, to the database their grant allows.
import { createSecureContext } from 'node:tls';
import type { GatewayDeps, SessionPlan } from '../types.js';
import { makeGatewayListener, type GatewayListener } from '../core/listener.js';
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

export function makeMysqlGateway(deps: GatewayDeps, opts: MysqlGatewayOptions): GatewayListener {
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

  return makeGatewayListener({ protocol: 'mysql', listen: opts.listen, log: deps.log, live: ctx.live, tls: ctx.tls !== null, serve: (socket) => serveConnection(ctx, socket) });
}

export type MysqlGateway = ReturnType<typeof makeMysqlGateway>;
