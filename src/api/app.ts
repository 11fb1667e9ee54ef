// The HTTP API: Fastify with bearer-token auth, problem+json errors, the routes, SSE and the OpenAPI document.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyBaseLogger } from 'fastify';
import { AirlockError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { PolicySource } from '../policy/source.js';
import { defineRoutes, describeOnly, type RouteDef } from './routing.js';
import { registerOpenApi } from './openapi.js';
import { responses } from './schemas.js';
import { sendProblem } from './problem.js';
import { accessRoutes } from './routes-access.js';
import { adminRoutes } from './routes-admin.js';
import { sshKeyRoutes } from './routes-ssh-keys.js';
import { statementReviewRoutes } from './routes-statement-reviews.js';
import { registerEventStream } from './events.js';
import { makePasswordService } from '../access/passwords.js';
import { makeConsoleAuth } from './console-auth.js';
import { consoleRoutes, publishSessionChanges } from './routes-console.js';
import { registerConsoleStatic } from './static.js';
import { registerMetricsRoute, type ApiMetrics } from './routes-metrics.js';
import { registerHealth, healthz, type Readiness } from './health.js';
import { recordingRoutes } from './routes-recordings.js';
import type { Recordings } from '../audit/recordings.js';
import { registerExecRoute } from './routes-exec.js';
import type { GatewayDeps } from '../gateway/types.js';
import { registerSlackRoutes } from './routes-slack.js';
import type { Outbox } from '../notify/outbox.js';
import { notificationRoutes } from './routes-notifications.js';
import type { Sso } from '../identity/sso.js';
import { ssoRoutes, registerSsoConfirm } from './routes-sso.js';
import type { Checkpoints } from '../audit/checkpoints.js';
import { checkpointRoutes } from './routes-audit-checkpoints.js';
import { credentialRoutes } from './routes-credentials.js';
import type { StoredCredentials } from '../credentials/stored-credentials.js';
import type { RekeyResult } from '../credentials/rekey.js';
import { reportRoutes } from './routes-reports.js';
import { queryRoutes } from './routes-query.js';

export const BODY_LIMIT = 64 * 1024;

/** Where the protocol gateways listen, for `airlock connect` and the console. */
export interface GatewayInfo {
  postgres?: GatewayListener;
  mysql?: GatewayListener;
  /** The gateway's SSH public keys (`airlock ca --ssh`, `--ssh-user-ca`); never a private key. */
  ssh_keys?: SshKeysInfo;
  /** The SSH gateway: no TLS, its own host key instead (clients pin it: `airlock ssh` writes a known_hosts line). */
  ssh?: { host: string; port: number; host_key: string; fingerprint: string };
}

/** Public lines and fingerprints: the host key the SSH listener shows, and the CA hosts trust (TrustedUserCAKeys). */
export interface SshKeysInfo {
  host_key: string;
  host_key_fingerprint: string;
  user_ca: string;
  user_ca_fingerprint: string;
}

/** One protocol front-end's address; every front-end's TLS certificate is signed by the same CA (`airlock ca`). */
export interface GatewayListener {
  host: string;
  port: number;
  ca: string;
  ca_path: string;
}

/** The protocols a resource kind is reached by, in the order listeners are shown. */
export const GATEWAY_KINDS = ['postgres', 'mysql'] as const;

/** GET /api/v1/gateways: one entry per protocol (null when that gateway is off) and the list of those listening. */
export function describeGateways(g: GatewayInfo) {
  const pick = (l: GatewayListener | undefined) => (l ? { host: l.host, port: l.port, ca: l.ca } : null);
  const listeners = GATEWAY_KINDS.flatMap((kind) => (g[kind] ? [{ kind, host: g[kind].host, port: g[kind].port }] : []));
  // The SSH keys are public (hosts trust the CA whether or not this process runs the SSH listener); host and port
  // only when it does.
  const k = g.ssh_keys;
  const ssh = k ? { host: g.ssh?.host ?? null, port: g.ssh?.port ?? null, host_key: k.host_key, fingerprint: k.host_key_fingerprint, host_key_fingerprint: k.host_key_fingerprint, user_ca: k.user_ca, user_ca_fingerprint: k.user_ca_fingerprint } : null;
  return { postgres: pick(g.postgres), mysql: pick(g.mysql), ssh, listeners, ca: g.postgres?.ca ?? g.mysql?.ca ?? null };
}

export interface ApiDeps {
  access: Access;
  policySource: PolicySource;
  reloadPolicy(actor: string, source: string | null): Promise<unknown>;
  version: string;
  gateways?: () => GatewayInfo;
  /** The server's logger: request lines, and every 5xx with its error and request id. None: silent. */
  logger?: FastifyBaseLogger;
  /** The built console (default dist/web). */
  webRoot?: string;
  /** GET /metrics and request durations (src/metrics.ts). */
  metrics?: ApiMetrics;
  /** Serve HTTPS with this key and certificate (PEM); the console's cookies are Secure then. */
  https?: { key: string | Buffer; cert: string | Buffer };
  /** Plain HTTP behind a proxy that terminates TLS (--allow-http): the console's cookies are Secure all the same. */
  behindTlsProxy?: boolean;
  /** What /readyz checks. */
  readiness?: Readiness;
  /** SSH and exec session recordings (the one instance the gateways write with): list, replay, watch live, verify. */
  recordings?: Recordings;
  /** The exec front-end's collaborators: GET /api/v1/exec (a websocket) runs exec sessions when set. */
  exec?: GatewayDeps;
  /** The notification outbox: GET /api/v1/notifications and retry of dead messages when set. */
  outbox?: Outbox;
  /** Single sign-on (src/identity/sso.ts) and the public URL its redirect_uri is built on. */
  sso?: { sso: Sso; publicUrl: () => string };
  /** Signed audit checkpoints: the public key, the list and key rotation when set. */
  checkpoints?: Checkpoints;
  /** Stored upstream credentials and the rekey of secrets at rest: /api/v1/credentials… and /api/v1/secrets/rekey when set. */
  credentials?: { stored: StoredCredentials; rekey(): Promise<RekeyResult> };
}

/** A request id that is unique across restarts and processes, so one from a user's error finds its log line. */
function requestId(): string {
  return `req_${randomBytes(9).toString('base64url')}`;
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const { access } = deps;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    trustProxy: false,
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // A client's own x-request-id is not trusted: the id is how a 5xx answer finds its log line.
    genReqId: requestId,
    requestIdHeader: false,
    ...(deps.https ? { https: { key: deps.https.key, cert: deps.https.cert, minVersion: 'TLSv1.2' as const } } : {}),
  }) as unknown as FastifyInstance;
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  const passwords = makePasswordService({ store: access.store, clock: access.clock, uow: access.uow, policy: access.policy });
  const consoleAuth = makeConsoleAuth({ access, passwords, behindTlsProxy: deps.behindTlsProxy });
  publishSessionChanges(access);

  async function authenticate(req: FastifyRequest): Promise<Caller> {
    const h = req.headers.authorization;
    // No bearer token: the console's session cookie (with its CSRF header for changes), if there is one.
    const fromCookie = h ? undefined : await consoleAuth.authenticate(req);
    if (fromCookie) return fromCookie;
    if (!h) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'Send your access token as "Authorization: Bearer alk_…" (the CLI reads AIRLOCK_TOKEN or `airlock login`).');
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'The Authorization header must be "Bearer <token>".');
    return access.tokens.authenticate(m[1]!, req.ip);
  }

  describeOnly(app);
  await registerOpenApi(app, deps.version);
  app.setErrorHandler((err, req, reply) => sendProblem(reply, err, req));
  const apiNotFound = (req: FastifyRequest, reply: FastifyReply) => sendProblem(reply, new AirlockError('AIRLOCK_NOT_FOUND', `There is no ${req.method} ${req.url.split('?')[0]} in the API; see /api/v1/openapi.json.`), req);
  if (deps.metrics) registerMetricsRoute(app, deps.metrics);

  const recorded = deps.recordings ? recordingRoutes({ access, recordings: deps.recordings }) : null;
  // Live watchers' streams end when the server closes, each told why (the HTTP server's close waits for them).
  if (recorded) app.addHook('preClose', function endWatchStreams(done) {
    recorded.closeStreams();
    done();
  });
  const pgGateway = () => {
    const pg = deps.gateways?.().postgres;
    return pg ? { host: pg.host, port: pg.port, ca: pg.ca } : null;
  };
  const query = queryRoutes({ access, consoleAuth, gateway: pgGateway, log: deps.logger });
  // The query runner's gateway connections close with the server (their gateway sessions end).
  app.addHook('preClose', async function closeQueryRunner() {
    await query.runner.close();
  });
  const routes: RouteDef<any, any, any>[] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    { method: 'GET', url: '/api/v1/healthz', tag: 'meta', summary: 'Liveness', auth: false, response: responses.healthz, handler: async ({ reply }) => healthz(deps.version, reply) },
    {
      method: 'GET', url: '/api/v1/gateways', tag: 'meta', summary: 'Where each database gateway (PostgreSQL, MySQL) listens, and the CA certificate that signs their TLS certificates', auth: false, response: responses.gateways,
      handler: async () => describeGateways(deps.gateways?.() ?? {}),
    },
    { method: 'GET', url: '/api/v1/openapi.json', tag: 'meta', summary: 'This document', auth: false, response: responses.openapi, handler: async () => app.swagger() },
    ...accessRoutes(access),
    ...adminRoutes({ access, policySource: deps.policySource, reloadPolicy: deps.reloadPolicy, recordingsDataDir: deps.recordings?.dataDir }),
    ...(recorded?.routes ?? []),
    ...sshKeyRoutes(access),
    ...statementReviewRoutes(access),
    ...reportRoutes(access),
    ...query.routes,
    ...(deps.outbox ? notificationRoutes({ access, outbox: deps.outbox }) : []),
    ...(deps.checkpoints ? checkpointRoutes({ access, checkpoints: deps.checkpoints }) : []),
    ...consoleRoutes({ access, passwords, consoleAuth, gatewayCa: () => describeGateways(deps.gateways?.() ?? {}).ca }),
    ...(deps.credentials ? credentialRoutes({ access, ...deps.credentials }) : []),
    ...(deps.sso ? ssoRoutes({ access, sso: deps.sso.sso, consoleAuth, publicUrl: deps.sso.publicUrl, behindTlsProxy: deps.behindTlsProxy }) : []),
  ];
  defineRoutes(app, authenticate, routes);
  registerEventStream(app, access, authenticate);
  if (deps.sso) await registerSsoConfirm(app, { sso: deps.sso.sso, behindTlsProxy: deps.behindTlsProxy });
  await registerSlackRoutes(app, { access, bodyLimit: BODY_LIMIT, log: deps.logger ?? { warn() {} } });
  registerHealth(app, { version: deps.version, readiness: deps.readiness });
  if (deps.exec) await registerExecRoute(app, { access, gateway: deps.exec });
  await registerConsoleStatic(app, { root: deps.webRoot, apiNotFound });
  return app;
}
