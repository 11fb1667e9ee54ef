// One client connection from first byte to last: TLS, startup, SCRAM with the access token, the session plan, the
// upstream login, registration with the session registry, the relay, and the session's audit events.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { isAirlockError, type AirlockError, type ErrorCode } from '../../domain/errors.js';
import { isLoopback } from '../../domain/addresses.js';
import type { Principal } from '../../domain/model.js';
import type { FunctionCatalog, Inspector } from '../../inspect/index.js';
import type { GatewayDeps, SessionPlan } from '../types.js';
import { openSession, recordRefusal, type GatewaySession, type LoginToken } from '../core/session-lifecycle.js';
import { ClientChannel, ClientGone } from './client-channel.js';
import { AUTH_OK, B, F, ProtocolError, backendKeyData, errorResponse, negotiateProtocolVersion, readyForQuery } from './protocol.js';
import { Relay, type StatementRecord } from './relay.js';
import { scramServerExchange } from './scram-server.js';
import { StartupRefusal, escapeOption, parseStartupPacket, readStartupRequest, reportedSettingRisk, type StartupRequest } from './startup.js';
import { UpstreamLoginError, openUpstream, scrub, sendCancel, type UpstreamConnection } from './upstream.js';
import { upstreamRefusalCode } from '../../credentials/pg-upstream-security.js';
import type { CancelKeys } from './cancel-keys.js';
import type { CancelRateLimit } from './cancel-rate-limit.js';
import { PgStatementHold } from './statement-hold.js';
import type { SessionCatalog } from './session-catalog.js';
import { holdContext, reviewRuleOf } from '../core/statement-hold.js';
import type { MaskCatalog } from '../../inspect/masking/index.js';
import { SessionMasks } from './masking.js';

/** Messages before authentication are small (SCRAM messages are well under this); PostgreSQL allows 64 KiB too. */
const LOGIN_MESSAGE_LIMIT = 65_536;

export interface SessionContext {
  deps: GatewayDeps;
  tls: { context: SecureContext; endPoint: Buffer | null } | null;
  allowCleartextWithoutTls: boolean;
  maxMessageBytes: number;
  loginTimeoutMs: number;
  cancelKeys: CancelKeys;
  cancelRateLimit: CancelRateLimit;
  /** Sessions past login, by their client's TCP socket, so the gateway can end them when it stops. */
  live: Map<Socket, (reason: string) => void>;
  inspectorFor(plan: SessionPlan, catalog: FunctionCatalog | null): Inspector;
  /** The upstream database's own functions, views and operators, for read-only sessions (see function-catalogs.ts). */
  catalogFor(plan: SessionPlan): Promise<FunctionCatalog>;
  /**
   * The session's catalog, kept current after statements that change it (session-catalog.ts); `alsoReload` runs with
   * each of its reloads.
   */
  sessionCatalog?(plan: SessionPlan, catalog: FunctionCatalog, alsoReload?: () => Promise<void>): SessionCatalog;
  /** The columns the plan's masking masks in its database, read with its upstream login (mask-catalogs.ts). */
  maskCatalogFor(plan: SessionPlan): Promise<MaskCatalog>;
}

/** A refusal the client reads as a FATAL ErrorResponse: 'airlock: ' + message. */
class Refusal extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly airlock: ErrorCode,
  ) {
    super(message);
  }
}

/** Serves one connection; resolves when it is over (including its session.end audit event). */
export async function serveConnection(ctx: SessionContext, socket: Socket): Promise<void> {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  const source = normalizeAddress(socket.remoteAddress);
  const channel = new ClientChannel(socket);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    refuse(channel, new Refusal('08P01', `the login did not complete within ${Math.round(ctx.loginTimeoutMs / 1000)} s`, 'AIRLOCK_LOGIN_TIMEOUT'));
    ctx.deps.metrics?.sessionRefused('AIRLOCK_LOGIN_TIMEOUT');
  }, ctx.loginTimeoutMs);
  let principal: Principal | null = null;
  let req: StartupRequest | null = null;
  try {
    req = await negotiate(ctx, channel, source);
    if (!req) return;
    const login = await authenticate(ctx, channel, req);
    principal = login.principal;
    const plan = await ctx.deps.access.planSession(principal, req.resource, req.database, 'postgres');
    // Fail closed: a role whose statements wait for a person gets no session where nobody could decide them.
    if (reviewRuleOf(plan) && !ctx.deps.statementReviews) throw new Refusal('42501', `role "${plan.role.name}" holds statements for review, and this gateway has no statement review service; ask an admin`, 'AIRLOCK_INTERNAL');
    const catalog = await sessionCatalog(ctx, plan, req);
    const masks = await maskCatalog(ctx, plan);
    const upstream = await openPlanUpstream(plan, req);
    clearTimeout(timer);
    if (!channel.socket.writable) return void upstream.socket.destroy(); // the client left (or timed out) meanwhile
    await runSession(ctx, channel, { plan, upstream, req, source, tcp: socket, token: login.token, catalog, masks });
  } catch (err) {
    clearTimeout(timer);
    if (err instanceof ClientGone) return void channel.socket.destroy();
    if (timedOut) return; // refused (and counted) by the timer already; what failed after is its consequence
    const refusal = toRefusal(err, ctx);
    refuse(channel, refusal);
    await recordRefusal(ctx.deps, { protocol: 'postgres', principal: principal?.name ?? null, resource: req?.resource ?? null, source, code: refusal.sqlstate, airlock_code: refusal.airlock, reason: refusal.message });
  } finally {
    clearTimeout(timer);
  }
}

/** SSL/GSS negotiation and the StartupMessage; null when the connection was a cancel request. */
async function negotiate(ctx: SessionContext, channel: ClientChannel, source: string | null): Promise<StartupRequest | null> {
  for (let round = 0; ; round++) {
    if (round > 3) throw new ProtocolError('too many negotiation requests');
    const pkt = parseStartupPacket(await channel.startupPacket());
    if (pkt.kind === 'cancel') {
      const admitted = ctx.cancelRateLimit.take(source);
      if (admitted === 'allowed') {
        ctx.cancelKeys.cancel(pkt.pid, pkt.secret);
        channel.socket.end();
      } else {
        // Over the limit the key is not even looked at: guessing gains nothing however fast it is sent.
        if (admitted === 'throttled_first') ctx.deps.log.warn({ source, event: 'cancel_rate_limited' }, 'postgres gateway: cancel requests from this address are over the rate limit; further ones are dropped unchecked (reported once a minute)');
        channel.socket.destroy();
      }
      return null;
    }
    if (pkt.kind === 'gssenc') {
      if (channel.encrypted) throw new ProtocolError('GSSENCRequest after the TLS handshake');
      channel.socket.write('N');
      continue;
    }
    if (pkt.kind === 'ssl') {
      if (channel.encrypted) throw new ProtocolError('SSLRequest after the TLS handshake');
      if (!ctx.tls) {
        channel.socket.write('N');
        continue;
      }
      // Bytes sent after SSLRequest but before the handshake would be read as if they were encrypted (CVE-2021-23214).
      if (channel.hasBuffered) throw new ProtocolError('unencrypted bytes after SSLRequest');
      channel.socket.write('S');
      try {
        await channel.upgrade(ctx.tls.context);
      } catch (err) {
        if (err instanceof ClientGone) throw err;
        ctx.deps.log.info({ source, err: (err as Error).message }, 'postgres gateway: TLS handshake failed');
        throw new ClientGone();
      }
      continue;
    }
    if (!channel.encrypted && !(ctx.allowCleartextWithoutTls && source !== null && isLoopback(source))) {
      throw new Refusal(
        '28000',
        ctx.tls ? 'this gateway accepts only encrypted connections: connect with sslmode=require (better: sslmode=verify-full and sslrootcert=<the Airlock CA>)' : 'this gateway has no TLS configured and accepts unencrypted connections only from this machine',
        'AIRLOCK_TLS_REQUIRED',
      );
    }
    channel.beginTyped(LOGIN_MESSAGE_LIMIT);
    const req = readStartupRequest(pkt.params);
    if (pkt.minor > 0 || req.unsupported_options.length > 0) channel.socket.write(negotiateProtocolVersion(0, req.unsupported_options));
    return req;
  }
}

/**
 * SCRAM-SHA-256 with the access token as the password; then the token is re-checked and the principal loaded. The
 * token is returned too: the session ends when it is revoked or expires.
 */
async function authenticate(ctx: SessionContext, channel: ClientChannel, req: StartupRequest): Promise<{ principal: Principal; token: LoginToken }> {
  const creds = await ctx.deps.access.scramCredentials(req.user);
  const io = {
    send: (msg: Buffer) => void channel.socket.write(msg),
    receive: async () => {
      const m = await channel.message();
      if (m[0] !== F.Password) throw new ProtocolError('expected a SASL response from the client');
      return m.subarray(5);
    },
  };
  const outcome = await scramServerExchange(io, req.user, creds, channel.encrypted ? (ctx.tls?.endPoint ?? null) : null);
  if (!outcome.ok) {
    throw new Refusal('28P01', `password authentication failed for user "${req.user}": the password must be one of your valid Airlock access tokens`, 'AIRLOCK_TOKEN_INVALID');
  }
  channel.socket.write(AUTH_OK);
  const principal = await ctx.deps.access.principalByToken(req.user, outcome.token_id);
  const key = creds.keys.find((k) => k.token_id === outcome.token_id);
  return { principal, token: { id: outcome.token_id, expires_at: key?.expires_at ?? null } };
}

/**
 * Statements are judged against the database's own objects (read-only guardrails, and whether a statement may run
 * before its audit event commits), so the catalog is read before the session opens; if it cannot be read the session
 * is refused rather than checked half-blind.
 */
async function sessionCatalog(ctx: SessionContext, plan: SessionPlan, req: StartupRequest): Promise<FunctionCatalog> {
  // Which schema an unqualified name means is part of the check: pg_catalog first, then the role's own default.
  if ((plan.read_only || plan.guardrails.read_only) && req.settings.search_path !== undefined) {
    throw new Refusal('42501', 'a read-only session keeps the database\'s search_path: remove search_path from the connection options and qualify names instead', 'AIRLOCK_SETTING_REFUSED');
  }
  try {
    return await ctx.catalogFor(plan);
  } catch (err) {
    // The server's words name the login's user (a per-grant role's name is a credential too): never show it.
    const why = scrub(err instanceof Error ? err.message : String(err), plan.upstream);
    ctx.deps.log.warn({ resource: plan.resource.name, err: why }, 'postgres gateway: could not read the upstream catalog');
    // The catalog is read with the session's own login before the session's connection, so a login failure (no such
    // database, a refused password method, TLS) shows here first, in the server's words (they hold no password).
    const refused = upstreamRefusalCode(err);
    const login = refused !== undefined || (err as { code?: unknown }).code !== undefined || /TLS|SSL|certificate|password|Airlock does not send/i.test(why);
    throw new Refusal('08001', login
      ? `could not open the upstream database for ${plan.resource.name}: ${why}`
      : `could not read the function catalog of ${plan.resource.name}, which every session's statements are checked against (${why}); try again shortly`, refused ?? 'AIRLOCK_UPSTREAM_UNAVAILABLE');
  }
}

/**
 * The columns a masked session sees masked, read before it opens: if they cannot be read, the session is refused
 * rather than shown them in clear. null: the role masks nothing.
 */
async function maskCatalog(ctx: SessionContext, plan: SessionPlan): Promise<MaskCatalog | null> {
  if (!plan.masking) return null;
  try {
    return await ctx.maskCatalogFor(plan);
  } catch (err) {
    const why = scrub(err instanceof Error ? err.message : String(err), plan.upstream);
    ctx.deps.log.warn({ resource: plan.resource.name, err: why }, 'postgres gateway: could not read the masked columns');
    throw new Refusal('08001', `could not read which columns role "${plan.role.name}" masks in ${plan.resource.name} (${why}), so no session was opened rather than show them unmasked; try again shortly`, 'AIRLOCK_MASKING_CATALOG');
  }
}

async function openPlanUpstream(plan: SessionPlan, req: StartupRequest): Promise<UpstreamConnection> {
  // The server must read statement text the way the guardrails' parser does, whatever its own defaults say;
  // a startup value is also what RESET and DISCARD go back to.
  const params: Record<string, string> = { ...req.settings, client_encoding: 'UTF8', standard_conforming_strings: 'on' };
  // Defense in depth: the per-grant role is read-only already; this makes every transaction read-only too.
  if (plan.read_only || plan.guardrails.read_only) params.options = `-c ${escapeOption('default_transaction_read_only=on')}`;
  let upstream: UpstreamConnection;
  try {
    upstream = await openUpstream(plan.upstream, params);
  } catch (err) {
    const why = err instanceof UpstreamLoginError ? err.message : 'the connection failed';
    const code = (err instanceof UpstreamLoginError && err.airlockCode) || 'AIRLOCK_UPSTREAM_UNAVAILABLE';
    throw new Refusal('08001', `could not open the upstream database for ${plan.resource.name}: ${why}`, code);
  }
  for (const m of upstream.greeting) {
    const risk = m[0] === B.ParameterStatus ? reportedSettingRisk(m, plan.read_only || plan.guardrails.read_only) : null;
    if (risk) {
      upstream.socket.destroy();
      throw new Refusal('55000', `${risk}; no session was opened`, 'AIRLOCK_TEXT_SETTING_CHANGED');
    }
  }
  return upstream;
}

interface Opened {
  plan: SessionPlan;
  catalog: FunctionCatalog | null;
  /** The session's masked columns; null when its role masks nothing. */
  masks: MaskCatalog | null;
  upstream: UpstreamConnection;
  req: StartupRequest;
  source: string | null;
  tcp: Socket;
  token: LoginToken;
}

async function runSession(ctx: SessionContext, channel: ClientChannel, o: Opened): Promise<void> {
  const { plan, upstream, req, source } = o;
  let session: GatewaySession;
  try {
    session = await openSession(ctx.deps, { protocol: 'postgres', plan, source, token: o.token, application_name: req.application_name, masked_columns: o.masks ? maskedNames(o.masks) : undefined });
  } catch (err) {
    upstream.socket.destroy();
    throw err;
  }

  const cancelUpstream = () => sendCancel(plan.upstream, upstream.pid, upstream.secret);
  // While a statement is held for review, the client's cancel withdraws it instead (statement-hold.ts).
  const key = ctx.cancelKeys.issue(() => (relay ? relay.cancel() : void cancelUpstream()));
  const holdCtx = holdContext(ctx.deps, plan, session, 'postgres', source);
  const hold = holdCtx ? new PgStatementHold(holdCtx) : null;
  // A role that masks no column of this database runs as any other: nothing is decoded, nothing checked.
  const masks = o.masks && !o.masks.empty && plan.masking ? new SessionMasks(o.masks, plan.masking) : null;
  let relay: Relay | null = null;
  const reloadMasks = masks && (() => reloadMaskCatalog(ctx, plan, masks, (reason) => relay?.kill(reason, '08006', 'AIRLOCK_MASKING_CATALOG')));
  const catalog = o.catalog && ctx.sessionCatalog ? ctx.sessionCatalog(plan, o.catalog, reloadMasks ?? undefined) : null;
  const { socket, reader, queued } = channel.release();
  reader.maxMessageBytes = ctx.maxMessageBytes;
  let endReason = '';
  const ended = new Promise<void>((resolve) => {
    relay = new Relay({
      readOnly: plan.read_only || plan.guardrails.read_only,
      client: socket,
      upstream: upstream.socket,
      readUpstream: upstream.read,
      clientReader: reader,
      clientQueued: queued,
      upstreamLeftover: upstream.leftover,
      inspector: catalog?.inspector ?? ctx.inspectorFor(plan, o.catalog),
      maxRows: plan.guardrails.max_rows ?? null,
      maxMessageBytes: ctx.maxMessageBytes,
      cancelUpstream,
      onStatement: (r: StatementRecord) => {
        session.recordStatement(r);
        if (r.review_id !== undefined && r.decision === 'allowed') hold?.executed(r.review_id, r.rows, r.error);
      },
      // A session that may write: each statement's statement.start is in the log before the database sees it; its
      // `statement` event follows on completion, as in a read-only session (docs/postgres-gateway.md, "Audit events").
      logBeforeForward: plan.read_only ? null : (run) => session.logBeforeForward(run),
      onEnd(reason: string) {
        endReason = reason;
        resolve();
      },
      log: ctx.deps.log,
      bytes: ctx.deps.metrics?.bytes,
      hold,
      catalog,
      masks,
    });
    const r = relay;
    const kill = (reason: string) => r.kill(reason);
    session.registered({ kill, auditLost: (reason) => r.kill(reason, '58000'), running: () => r.statementsRunning });
    ctx.live.set(o.tcp, kill);
    for (const m of upstream.greeting) socket.write(m);
    socket.write(backendKeyData(key.pid, key.secret));
    socket.write(readyForQuery(upstream.txStatus));
    r.start();
  });
  await ended;
  catalog?.close();
  ctx.live.delete(o.tcp);
  ctx.cancelKeys.release(key.pid);
  await hold?.settled(); // a held statement's withdrawal is recorded before the session's end
  await session.end(endReason);
}

/** Masked columns as session.start records them: their names, each once (a partition's column counts as its own). */
function maskedNames(catalog: MaskCatalog): string[] {
  return [...new Set(catalog.columns.map((c) => c.name))].sort();
}

/**
 * The database's definitions changed (through this gateway): the masked columns are read again before the session
 * decides anything more; if they cannot be, the session ends rather than go on with what may be out of date.
 */
async function reloadMaskCatalog(ctx: SessionContext, plan: SessionPlan, masks: SessionMasks, end: (reason: string) => void): Promise<void> {
  try {
    masks.catalog = await ctx.maskCatalogFor(plan);
  } catch (err) {
    const why = scrub(err instanceof Error ? err.message : String(err), plan.upstream);
    ctx.deps.log.warn({ resource: plan.resource.name, err: why }, 'postgres gateway: could not read the masked columns again after a change; ending the session');
    end(`the masked columns could not be read again after the database's definitions changed (${why}); the session was ended`);
  }
}

function toRefusal(err: unknown, ctx: SessionContext): Refusal {
  if (err instanceof Refusal) return err;
  if (err instanceof StartupRefusal) return new Refusal(err.sqlstate, err.message, err.airlock);
  if (err instanceof ProtocolError) return new Refusal('08P01', err.userText, 'AIRLOCK_PROTOCOL_ERROR');
  if (isAirlockError(err)) return new Refusal(sqlstateOf(err), err.message, err.code);
  ctx.deps.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'postgres gateway: login failed unexpectedly');
  return new Refusal('XX000', 'internal error in the gateway; the error is in its log', 'AIRLOCK_INTERNAL');
}

/** SQLSTATEs clients know: 28P01 bad password, 28000 other login refusals, 3D000 no such database, 42501 not allowed. */
export function sqlstateOf(err: AirlockError): string {
  switch (err.code) {
    case 'AIRLOCK_TOKEN_INVALID':
    case 'AIRLOCK_TOKEN_EXPIRED':
    case 'AIRLOCK_UNKNOWN_PRINCIPAL':
      return '28P01';
    case 'AIRLOCK_UNKNOWN_RESOURCE':
      return '3D000';
    case 'AIRLOCK_INTERNAL':
      return 'XX000';
    case 'AIRLOCK_AUDIT_UNAVAILABLE':
      return '58000';
  }
  return err.kind === 'auth' ? '28000' : '42501';
}

function refuse(channel: ClientChannel, r: Refusal): void {
  const s = channel.socket;
  if (s.writable) s.end(errorResponse({ severity: 'FATAL', code: r.sqlstate, message: `airlock: ${r.message}`, airlock: r.airlock }));
  setTimeout(() => s.destroy(), 1000).unref();
}

function normalizeAddress(addr: string | undefined): string | null {
  if (!addr) return null;
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

