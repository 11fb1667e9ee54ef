// The PostgreSQL front-end: a TCP listener whose connections authenticate with Airlock tokens and are relayed,
// inspected and audited, to the database their grant allows.
import { createSecureContext } from 'node:tls';
import { initInspect, makeInspector } from '../../inspect/index.js';
import type { GatewayDeps, SessionPlan } from '../types.js';
import { makeGatewayListener, type GatewayListener } from '../core/listener.js';
import { CancelKeys } from './cancel-keys.js';
import { makeFunctionCatalogs } from './function-catalogs.js';
import { makeMaskCatalogs, type MaskCatalogs } from './mask-catalogs.js';
import { SessionCatalog } from './session-catalog.js';
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
  /** Where masked sessions' columns come from; default: read from the upstream database (mask-catalogs.ts). */
  maskCatalogs?: MaskCatalogs;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** One catalog per database of a resource, shared by its sessions in this process. */
function catalogKey(plan: SessionPlan): string {
  return `${plan.resource.name}/${plan.upstream.database}`;
}

export function makePgGateway(deps: GatewayDeps, opts: PgGatewayOptions): GatewayListener {
  const cancelKeys = new CancelKeys();
  const catalogs = makeFunctionCatalogs();
  const maskCatalogs = opts.maskCatalogs ?? makeMaskCatalogs(catalogs);

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
      return catalogs.forLogin(catalogKey(plan), plan.upstream);
    },
    sessionCatalog(plan: SessionPlan, catalog, alsoReload) {
      return new SessionCatalog({ key: catalogKey(plan), login: plan.upstream, catalogs, inspectorFor: (c) => ctx.inspectorFor(plan, c), log: deps.log, alsoReload }, catalog);
    },
    maskCatalogFor(plan: SessionPlan) {
      if (!plan.masking) return Promise.reject(new Error('the session masks nothing'));
      return maskCatalogs.forLogin(catalogKey(plan), plan.upstream, plan.masking);
    },
  };

  // The parser loads before the first connection is accepted.
  return makeGatewayListener({ protocol: 'postgres', listen: opts.listen, log: deps.log, live: ctx.live, tls: ctx.tls !== null, prepare: initInspect, serve: (socket) => serveConnection(ctx, socket) });
}

export type PgGateway = ReturnType<typeof makePgGateway>;
