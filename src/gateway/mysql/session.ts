// One MySQL client connection from first byte to last: login, the session plan, the upstream login, registration
// with the session registry, the relay, and the session's audit events (the same as PostgreSQL's, protocol 'mysql').
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { isAirlockError, type AirlockError } from '../../domain/errors.js';
import { openSession, recordRefusal, type GatewaySession } from '../core/session-lifecycle.js';
import { StatementHold, holdContext, reviewRuleOf } from '../core/statement-hold.js';
import type { Principal } from '../../domain/model.js';
import { coveredDatabase, coveredDatabases } from '../../policy/databases.js';
import type { GatewayDeps, SessionPlan, UpstreamLogin } from '../types.js';
import { ClientConn, ClientGone } from './client-conn.js';
import { TEXT_CHECK, TEXT_CHECK_FAILED, makeCommandHandler, type MysqlInspector, type StatementRecord } from './commands.js';
import { CAP, ProtocolError, errPayload, framePacket, okPayload } from './packets.js';
import { Relay } from './relay.js';
import { MysqlRefusal, login } from './login.js';
import { isSafeCollation } from './handshake.js';
import { UpstreamLoginError, openUpstream, scrub, sideStatement, upstreamFacts, type UpstreamConnection, type UpstreamFacts } from './upstream.js';
import { loadMysqlMasking, type MysqlMasking } from './masking-session.js';

/** Login packets are small; a larger one is not a login. */
const LOGIN_PACKET_LIMIT = 65_536;

/** A session past login, reachable by its gateway connection id (KILL from another connection of the principal). */
export interface LiveMysqlSession {
  principal: string;
  login: UpstreamLogin;
  threadId: number;
  kill(reason: string): void;
  /** KILL QUERY while a statement is held for review: the review is withdrawn (false when none is held). */
  cancelHeld(): boolean;
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
  /** The statement inspector for a session's plan (MySQL dialect), told the upstream server's version and quoting. */
  inspectorFor(plan: SessionPlan, upstream: UpstreamFacts): MysqlInspector;
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
    // After the token is checked, so that the refusal is audited with the principal.
    if (!isSafeCollation(l.hello.charset)) {
      throw new MysqlRefusal(
        1115,
        '42000',
        `the client's character set (collation id ${l.hello.charset}) is not allowed through the gateway: the server would read statement text differently from its check; connect with utf8mb4 (the default of current clients; mariadb/mysql: --default-character-set=utf8mb4), or utf8, latin1, ascii or binary (AIRLOCK_ENCODING_REFUSED)`,
        'AIRLOCK_ENCODING_REFUSED',
      );
    }
    const plan = await ctx.deps.access.planSession(principal, l.resource, l.schema, 'mysql');
    // Fail closed: a role whose statements wait for a person gets no session where nobody could decide them.
    if (reviewRuleOf(plan) && !ctx.deps.statementReviews) throw new MysqlRefusal(1142, '42000', `role "${plan.role.name}" holds statements for review, and this gateway has no statement review service; ask an admin (AIRLOCK_INTERNAL)`, 'AIRLOCK_INTERNAL');
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
      const code = (err instanceof UpstreamLoginError && err.airlockCode) || 'AIRLOCK_UPSTREAM_UNAVAILABLE';
      throw new MysqlRefusal(1105, 'HY000', `could not open the upstream database for ${plan.resource.name}: ${why}${why.includes(`(${code})`) ? '' : ` (${code})`}`, code);
    }
    // Fail closed: a session whose masked columns cannot be resolved is refused, not shown them in clear.
    let masking: MysqlMasking | null = null;
    if (plan.masking !== null) {
      try {
        masking = await loadMysqlMasking(upstream, plan.upstream, plan.masking, upstreamFacts(upstream));
      } catch (err) {
        upstream.socket.destroy();
        const why = scrub(err instanceof Error ? err.message : String(err), plan.upstream);
        throw new MysqlRefusal(1105, 'HY000', `the masked columns of ${plan.resource.name} could not be read from the database's information_schema (${why}), so the session was refused rather than show them unmasked; retry, or ask an admin to check the upstream account can read information_schema (AIRLOCK_MASKING_CATALOG)`, 'AIRLOCK_MASKING_CATALOG');
      }
    }
    clearTimeout(timer);
    if (!conn.socket.writable) return void upstream.socket.destroy();
    await runSession(ctx, conn, { plan, upstream, source, tcp: socket, token: l.token, connectionId, guarded, attributes: l.hello.attributes, masking });
  } catch (err) {
    clearTimeout(timer);
    if (err instanceof ClientGone) return void conn.socket.destroy();
    if (timedOut) return;
    const r = toRefusal(err, ctx);
    refuse(conn, r);
    await recordRefusal(ctx.deps, { protocol: 'mysql', principal: principal?.name ?? null, resource, source, code: String(r.errno), airlock_code: r.airlock, reason: r.message });
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
  /** The session's column masking; null when its role masks nothing. */
  masking: MysqlMasking | null;
}

async function runSession(ctx: MysqlSessionContext, conn: ClientConn, o: Opened): Promise<void> {
  const { deps } = ctx;
  const { plan, upstream, source } = o;
  const readOnly = plan.read_only || plan.guardrails.read_only;
  let session: GatewaySession;
  try {
    session = await openSession(deps, { protocol: 'mysql', plan, source, token: o.token, application_name: o.attributes.program_name ?? o.attributes._client_name ?? null });
  } catch (err) {
    upstream.socket.destroy();
    throw err;
  }
  const holdCtx = holdContext(deps, plan, session, 'mysql', source);
  const hold = holdCtx ? new StatementHold(holdCtx) : null;
  const loginSeq = conn.seq;
  const { socket, reader, queued } = conn.release();
  reader.maxPayload = ctx.maxPacketBytes;
  const facts = upstreamFacts(upstream);
  let endReason = '';
  const ended = new Promise<void>((resolve) => {
    const relay = new Relay({
      client: socket,
      clientReader: reader,
      clientQueued: queued,
      upstream: upstream.socket,
      upstreamQueued: upstream.queued,
      capabilities: upstream.capabilities,
      killUpstreamQuery: () => sideStatement(plan.upstream, `KILL QUERY ${upstream.threadId}`),
      scrub: o.masking === null ? (text) => scrub(text, plan.upstream) : (text, code) => o.masking!.scrubError(scrub(text, plan.upstream), code),
      onEnd(reason) {
        endReason = reason;
        hold?.end(reason);
        resolve();
      },
      log: deps.log,
      bytes: deps.metrics?.bytes,
    });
    const setup = readOnly ? ['SET SESSION TRANSACTION READ ONLY'] : [];
    relay.onCommand = makeCommandHandler({
      relay,
      inspector: ctx.inspectorFor(plan, facts),
      guarded: o.guarded,
      maxRows: plan.guardrails.max_rows ?? null,
      noBackslashEscapes: facts.noBackslashEscapes,
      setup,
      schemaRefusal: (name) => schemaRefusal(plan, name),
      killSession: (target, queryOnly) => killOther(ctx, plan.principal.name, o.connectionId, target, queryOnly),
      onStatement: (r: StatementRecord) => {
        session.recordStatement(r);
        if (r.review_id !== undefined && r.decision === 'allowed') hold?.executed(r.review_id, r.rows, r.error);
      },
      // A session that may write: each statement's statement.start is durable before the server sees it.
      logBeforeForward: readOnly ? null : (run) => session.logBeforeForward(run),
      hold,
      masking: o.masking,
    });
    const kill = (reason: string) => relay.kill(reason);
    session.registered({ kill, auditLost: (reason) => relay.kill(reason, 1105, 'HY000'), running: () => (relay.running || hold?.holding ? 1 : 0) });
    ctx.byConnectionId.set(o.connectionId, { principal: plan.principal.name, login: plan.upstream, threadId: upstream.threadId, kill, cancelHeld: () => hold?.cancel() ?? false });
    ctx.live.set(o.tcp, kill);
    relay.start();
    void (async () => {
      for (const sql of setup) {
        const r = await relay.internal(sql);
        if (r.error) return relay.end(`the upstream session could not be set up: ${r.error.message}`, 'the upstream session could not be set up');
      }
      if (relay.isEnded) return;
      const c = await relay.internal(TEXT_CHECK);
      if (c.error || c.rows !== 1) {
        if (socket.writable) socket.write(framePacket(errPayload(1105, 'HY000', `airlock: ${TEXT_CHECK_FAILED}`), loginSeq));
        return relay.end(c.error ? `the upstream session's text settings could not be read: ${c.error.message}` : TEXT_CHECK_FAILED);
      }
      if (relay.isEnded) return;
      socket.write(framePacket(okPayload(0x0002), loginSeq));
      relay.run();
    })();
  });
  await ended;
  ctx.live.delete(o.tcp);
  ctx.byConnectionId.delete(o.connectionId);
  await hold?.settled(); // the held statement's event and withdrawal come before the session's end
  await session.end(endReason);
}

function schemaRefusal(plan: SessionPlan, name: string): string | null {
  if (coveredDatabase(plan.resource, name) !== undefined) return null;
  const allowed = coveredDatabases(plan.resource);
  return `resource ${plan.resource.name} does not cover the schema "${name.slice(0, 100)}"; it covers ${allowed.map((d) => `"${d}"`).join(', ')}; an admin can add schemas to the resource in the policy (AIRLOCK_DATABASE_NOT_ALLOWED)`;
}

async function killOther(ctx: MysqlSessionContext, principal: string, own: number, target: number, queryOnly: boolean): Promise<string | null> {
  const s = ctx.byConnectionId.get(target);
  if (!s || s.principal !== principal) return `Unknown thread id: ${target}; you can KILL only your own sessions through this gateway (AIRLOCK_FORBIDDEN)`;
  // The client's Ctrl-C (mysql sends KILL QUERY from a new connection) withdraws a statement held for review.
  if (queryOnly && s.cancelHeld()) return null;
  if (!queryOnly) {
    s.kill(target === own ? 'the session ended itself with KILL' : `ended by KILL ${target} from another session of ${principal}`);
    return null;
  }
  try {
    const answer = await sideStatement(s.login, `KILL QUERY ${s.threadId}`);
    return answer === 'ok' ? null : `the database server did not confirm the KILL QUERY (${answer}); the statement may still be running (AIRLOCK_UPSTREAM_UNAVAILABLE)`;
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
    case 'AIRLOCK_AUDIT_UNAVAILABLE':
    case 'AIRLOCK_UPSTREAM_UNAVAILABLE':
    case 'AIRLOCK_UPSTREAM_AUTH':
    case 'AIRLOCK_UPSTREAM_TLS':
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
