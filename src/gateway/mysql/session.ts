// One MySQL client connection from first byte to last: login, the session plan, the upstream login, registration
// with the session registry, the relay, and the session's audit events (the same as PostgreSQL's, protocol 'mysql').
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { isAirlockError, type AirlockError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { Principal } from '../../domain/model.js';
import { coveredDatabase, coveredDatabases } from '../../policy/databases.js';
import type { GatewayDeps, SessionPlan, UpstreamLogin } from '../types.js';
import { ClientConn, ClientGone } from './client-conn.js';
import { makeCommandHandler, type MysqlInspector, type StatementRecord } from './commands.js';
import { CAP, ProtocolError, errPayload, framePacket, okPayload } from './packets.js';
import { Relay } from './relay.js';
import { MysqlRefusal, login } from './login.js';
import { UpstreamLoginError, openUpstream, sideStatement, type UpstreamConnection } from './upstream.js';

/** Login packets are small; a larger one is not a login. */
const LOGIN_PACKET_LIMIT = 65_536;

/** A session past login, reachable by its gateway connection id (KILL from another connection of the principal). */
export interface LiveMysqlSession {
  principal: string;
  login: UpstreamLogin;
  threadId: number;
  kill(reason: string): void;
}

export interface MysqlSessionContext {
  deps: GatewayDeps;
  tls: SecureContext | null;
  allowCleartextWithoutTls: boolean;
  maxPacketBytes: number;
  loginTimeoutMs: number;
  serverVersion: string;
  nextConnectionId(): number;
  /** Sessions past login by gateway connection id. */
  byConnectionId: Map<number, LiveMysqlSession>;
  /** Sessions past login, by their client's TCP socket, so the gateway can end them when it stops. */
  live: Map<Socket, (reason: string) => void>;
  /** The statement inspector for a session's plan (MySQL dialect). */
  inspectorFor(plan: SessionPlan): MysqlInspector;
}

export async function serveConnection(ctx: MysqlSessionContext, socket: Socket): Promise<void> {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  const source = normalizeAddress(socket.remoteAddress);
  const conn = new ClientConn(socket, LOGIN_PACKET_LIMIT);
  const connectionId = ctx.nextConnectionId();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    refuse(conn, new MysqlRefusal(1043, '08S01', `the login did not complete within ${Math.round(ctx.loginTimeoutMs / 1000)} s (AIRLOCK_LOGIN_TIMEOUT)`, 'AIRLOCK_LOGIN_TIMEOUT'));
    ctx.deps.metrics?.sessionRefused('AIRLOCK_LOGIN_TIMEOUT');
  }, ctx.loginTimeoutMs);
  let principal: Principal | null = null;
  let resource: string | null = null;
  try {
    const l = await login(ctx.deps.access, conn, { tls: ctx.tls, allowCleartextWithoutTls: ctx.allowCleartextWithoutTls, serverVersion: ctx.serverVersion }, connectionId, source);
    principal = l.principal;
    resource = l.resource;
    const plan = await ctx.deps.access.planSession(principal, l.resource, l.schema, 'mysql');
    const guarded = isGuarded(plan);
    let upstream: UpstreamConnection;
    try {
      upstream = await openUpstream(plan.upstream, {
        clientCapabilities: l.hello.capabilities & (guarded ? ~CAP.MULTI_STATEMENTS : ~0),
        charset: l.hello.charset,
        attributes: { airlock_principal: principal.name },
      });
    } catch (err) {
      const why = err instanceof UpstreamLoginError ? err.message : 'the connection failed';
      throw new MysqlRefusal(1105, 'HY000', `could not open the upstream database for ${plan.resource.name}: ${why} (AIRLOCK_UPSTREAM_UNAVAILABLE)`, 'AIRLOCK_UPSTREAM_UNAVAILABLE');
    }
    clearTimeout(timer);
    if (!conn.socket.writable) return void upstream.socket.destroy();
    await runSession(ctx, conn, { plan, upstream, source, tcp: socket, token: l.token, connectionId, guarded, attributes: l.hello.attributes });
  } catch (err) {
    clearTimeout(timer);
    if (err instanceof ClientGone) return void conn.socket.destroy();
    if (timedOut) return;
    const r = toRefusal(err, ctx);
    refuse(conn, r);
    ctx.deps.metrics?.sessionRefused(r.airlock);
    if (principal && resource) {
      await ctx.deps.audit
        .append({ actor: principal.name, action: 'session.refused', target: resource, source, details: { protocol: 'mysql', code: r.sqlstate, errno: r.errno, airlock_code: r.airlock, reason: r.message } })
        .catch((e: unknown) => ctx.deps.log.error({ err: String(e) }, 'mysql gateway: could not audit a refused session'));
    } else {
      ctx.deps.log.info({ source, reason: r.message }, 'mysql gateway: connection refused');
    }
  } finally {
    clearTimeout(timer);
  }
}

function isGuarded(plan: SessionPlan): boolean {
  const g = plan.guardrails;
  return plan.read_only || g.read_only || g.deny_kinds.length > 0 || g.require_where || g.max_rows !== null;
}

interface Opened {
  plan: SessionPlan;
  upstream: UpstreamConnection;
  source: string | null;
  tcp: Socket;
  token: { id: string; expires_at: string | null };
  connectionId: number;
  guarded: boolean;
  attributes: Record<string, string>;
}

async function runSession(ctx: MysqlSessionContext, conn: ClientConn, o: Opened): Promise<void> {
  const { deps } = ctx;
  const { plan, upstream, source } = o;
  const readOnly = plan.read_only || plan.guardrails.read_only;
  const id = newId('ses');
  const started = Date.now();
  const info = { id, protocol: 'mysql', principal: plan.principal.name, resource: plan.resource.name, role: plan.role.name, grant_id: plan.grant.id, started_at: new Date(started).toISOString(), source, statements: 0, token_id: o.token.id, token_expires_at: o.token.expires_at };
  const audit = (action: string, details: Record<string, unknown>) => deps.audit.append({ actor: info.principal, action, target: info.resource, source, details: { session_id: id, ...details } });
  try {
    await audit('session.start', { protocol: 'mysql', grant_id: info.grant_id, resource: info.resource, database: plan.upstream.database, role: info.role, source, application_name: o.attributes.program_name ?? o.attributes._client_name ?? null, gateway_instance: deps.instance ?? null, token_id: o.token.id, connection_id: o.connectionId });
  } catch (err) {
    upstream.socket.destroy();
    deps.log.error({ err: String(err) }, 'mysql gateway: could not audit a session start');
    throw new MysqlRefusal(1105, 'HY000', 'the audit log is unavailable, so no session can be opened; try again shortly (AIRLOCK_AUDIT_UNAVAILABLE)', 'AIRLOCK_AUDIT_UNAVAILABLE');
  }
  const loginSeq = conn.seq;
  const { socket, reader, queued } = conn.release();
  reader.maxPayload = ctx.maxPacketBytes;
  const killQuery = () => sideStatement(plan.upstream, `KILL QUERY ${upstream.threadId}`);
  let endReason = '';
  let unregister: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    const relay = new Relay({
      client: socket,
      clientReader: reader,
      clientQueued: queued,
      upstream: upstream.socket,
      upstreamQueued: upstream.queued,
      capabilities: upstream.capabilities,
      killUpstreamQuery: killQuery,
      onEnd(reason) {
        endReason = reason;
        resolve();
      },
      log: deps.log,
      bytes: deps.metrics?.bytes,
    });
    let auditFailedOnce = false;
    const auditFailed = (err: unknown) => {
      if (auditFailedOnce) return;
      auditFailedOnce = true;
      deps.log.error({ err: String(err), session_id: id }, 'mysql gateway: could not audit a statement; ending the session');
      relay.kill('the audit log is unavailable, so the session was ended', 1105, 'HY000');
    };
    const setup = readOnly ? ['SET SESSION TRANSACTION READ ONLY'] : [];
    relay.onCommand = makeCommandHandler({
      relay,
      inspector: ctx.inspectorFor(plan),
      guarded: o.guarded,
      maxRows: plan.guardrails.max_rows ?? null,
      setup,
      schemaRefusal: (name) => schemaRefusal(plan, name),
      killSession: (target, queryOnly) => killOther(ctx, plan.principal.name, o.connectionId, target, queryOnly),
      onStatement(r: StatementRecord) {
        info.statements++;
        deps.metrics?.statement(r.decision, r.rule, r.duration_ms);
        const details = { session_id: id, grant_id: info.grant_id, protocol: 'mysql', command: r.command, text: r.text, fingerprint: r.fingerprint, decision: r.decision, rule: r.rule, rows: r.rows, duration_ms: r.duration_ms, error: r.error, statement_no: r.logged };
        deps.audit.appendLazy({ actor: info.principal, action: 'statement', target: info.resource, source, details }, auditFailed);
      },
      logBeforeForward: readOnly
        ? null
        : (run) => audit('statement.start', { grant_id: info.grant_id, statement_no: run.logged, text: run.text, fingerprint: run.fingerprint }),
    });
    Object.defineProperty(info, 'statements_running', { enumerable: true, get: () => (relay.running ? 1 : 0) });
    const kill = (reason: string) => relay.kill(reason);
    unregister = deps.sessions.register({ info, kill });
    ctx.byConnectionId.set(o.connectionId, { principal: info.principal, login: plan.upstream, threadId: upstream.threadId, kill });
    deps.metrics?.sessionStarted();
    ctx.live.set(o.tcp, kill);
    relay.start();
    void (async () => {
      for (const sql of setup) {
        const r = await relay.internal(sql);
        if (r.error) return relay.end(`the upstream session could not be set up: ${r.error.message}`, 'the upstream session could not be set up');
      }
      if (relay.isEnded) return;
      socket.write(framePacket(okPayload(0x0002), loginSeq));
      relay.run();
    })();
  });
  deps.log.info({ session_id: id, principal: info.principal, resource: info.resource, role: info.role, source, connection_id: o.connectionId }, 'mysql session started');
  await ended;
  unregister();
  ctx.live.delete(o.tcp);
  ctx.byConnectionId.delete(o.connectionId);
  deps.log.info({ session_id: id, reason: endReason, statements: info.statements }, 'mysql session ended');
  await audit('session.end', { reason: endReason, statements: info.statements, duration_ms: Date.now() - started }).catch((err: unknown) =>
    deps.log.error({ err: String(err), session_id: id }, 'mysql gateway: could not audit a session end'),
  );
}

function schemaRefusal(plan: SessionPlan, name: string): string | null {
  if (coveredDatabase(plan.resource, name) !== undefined) return null;
  const allowed = coveredDatabases(plan.resource);
  return `resource ${plan.resource.name} does not cover the schema "${name.slice(0, 100)}"; it covers ${allowed.map((d) => `"${d}"`).join(', ')}; an admin can add schemas to the resource in the policy (AIRLOCK_DATABASE_NOT_ALLOWED)`;
}

async function killOther(ctx: MysqlSessionContext, principal: string, own: number, target: number, queryOnly: boolean): Promise<string | null> {
  const s = ctx.byConnectionId.get(target);
  if (!s || s.principal !== principal) return `Unknown thread id: ${target}; you can KILL only your own sessions through this gateway (AIRLOCK_FORBIDDEN)`;
  if (!queryOnly) {
    s.kill(target === own ? 'the session ended itself with KILL' : `ended by KILL ${target} from another session of ${principal}`);
    return null;
  }
  try {
    await sideStatement(s.login, `KILL QUERY ${s.threadId}`);
    return null;
  } catch {
    return 'the query could not be killed: the database server did not accept the connection (AIRLOCK_UPSTREAM_UNAVAILABLE)';
  }
}

function toRefusal(err: unknown, ctx: MysqlSessionContext): MysqlRefusal {
  if (err instanceof MysqlRefusal) return err;
  if (err instanceof ProtocolError) return new MysqlRefusal(1043, '08S01', `${err.userText} (AIRLOCK_PROTOCOL_ERROR)`, 'AIRLOCK_PROTOCOL_ERROR');
  if (isAirlockError(err)) return new MysqlRefusal(...errnoOf(err), `${err.message} (${err.code})`, err.code);
  ctx.deps.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'mysql gateway: login failed unexpectedly');
  return new MysqlRefusal(1105, 'HY000', 'internal error in the gateway; the error is in its log (AIRLOCK_INTERNAL)', 'AIRLOCK_INTERNAL');
}

/** Error numbers clients know: 1045 access denied (login), 1049 unknown database, 1044 not allowed on it. */
function errnoOf(err: AirlockError): [number, string] {
  switch (err.code) {
    case 'AIRLOCK_TOKEN_INVALID':
    case 'AIRLOCK_TOKEN_EXPIRED':
    case 'AIRLOCK_UNKNOWN_PRINCIPAL':
      return [1045, '28000'];
    case 'AIRLOCK_UNKNOWN_RESOURCE':
      return [1049, '42000'];
    case 'AIRLOCK_INTERNAL':
      return [1105, 'HY000'];
  }
  return err.kind === 'auth' ? [1045, '28000'] : [1044, '42000'];
}

function refuse(conn: ClientConn, r: MysqlRefusal): void {
  const s = conn.socket;
  if (s.writable) s.end(framePacket(errPayload(r.errno, r.sqlstate, `airlock: ${r.message}`), conn.seq));
  setTimeout(() => s.destroy(), 1000).unref();
}

function normalizeAddress(addr: string | undefined): string | null {
  if (!addr) return null;
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
