// One SSH client connection from its first byte to its last: authentication (token or registered key), the session
// plan, the upstream login, session.start, the channels, the live cut, the recording and session.end. One recording
// per connection covers all its shell and exec channels (one after another, as a terminal shows them).
import type { Socket } from 'node:net';
import type { AuthContext, Client, ClientInfo, Connection } from 'ssh2';
import { isAirlockError, type ErrorCode } from '../../domain/errors.js';
import type { Recording, Recordings } from '../../audit/recordings.js';
import { openSession, recordRefusal, type GatewaySession } from '../core/session-lifecycle.js';
import type { GatewayDeps, SessionPlan } from '../types.js';
import type { Log } from '../../domain/log.js';
import { SshLoginRefused, authenticate, refusalText, sendBanner, type SshLogin, type SshLoginDeps, type SshTarget } from './login.js';
import { MAX_REFUSALS, clip, cutText, handleSession, notAllowed, signalUpstream, type ChannelContext, type OpenChannel } from './channels.js';
import { handleForwarding } from './forwarding.js';

export interface SshSessionContext {
  deps: GatewayDeps;
  recordings: Recordings;
  login: SshLoginDeps;
  connectUpstream(plan: SessionPlan, o: { log: Log; timeoutMs?: number }): Promise<Client>;
  loginTimeoutMs: number;
  /** Sessions past login, by their client's TCP socket, so the gateway can end them when it stops. */
  live: Map<Socket, (reason: string) => void>;
}

/** How long a cut session's client has to read the reason before its connection is closed. */
const CUT_GRACE_MS = 250;

interface Ready {
  login: SshLogin;
  plan: SessionPlan;
  upstream: Client;
  session: GatewaySession;
}

export function serveClient(ctx: SshSessionContext, client: Connection, info: ClientInfo, socket: Socket): Promise<void> {
  const source = normalizeAddress(info.ip);
  const log = ctx.deps.log;
  let ready: Ready | null = null;
  let refused = false;
  // A client that drops mid-handshake is routine: nothing to log.
  client.on('error', () => {});

  const timer = setTimeout(() => {
    if (ready) return;
    ctx.deps.metrics?.sessionRefused('AIRLOCK_LOGIN_TIMEOUT');
    sendBanner(client, refusalText('AIRLOCK_LOGIN_TIMEOUT', `the login did not complete within ${Math.round(ctx.loginTimeoutMs / 1000)} s`));
    socket.destroy();
  }, ctx.loginTimeoutMs);

  const refuse = async (code: ErrorCode, message: string, target: SshTarget | null): Promise<void> => {
    refused = true;
    sendBanner(client, refusalText(code, message));
    await recordRefusal(ctx.deps, { protocol: 'ssh', principal: target?.principal ?? null, resource: target?.resource ?? null, source, code: 'SSH_MSG_USERAUTH_FAILURE', airlock_code: code, reason: message });
  };

  let busy = false;
  client.on('authentication', (actx: AuthContext) => {
    if (refused || busy) return actx.reject([]);
    busy = true;
    void onAuth(actx).finally(() => void (busy = false));
  });

  async function onAuth(actx: AuthContext): Promise<void> {
    let login: SshLogin | null;
    try {
      login = await authenticate(ctx.login, actx, source);
    } catch (err) {
      const r = err instanceof SshLoginRefused ? err : null;
      if (!r) log.error({ err: err instanceof Error ? err.stack : String(err) }, 'ssh gateway: authentication failed unexpectedly');
      await refuse(r?.airlockCode ?? 'AIRLOCK_INTERNAL', r?.message ?? 'internal error in the gateway; the error is in its log', r?.target ?? null);
      return actx.reject([]);
    }
    if (!login) return;
    let upstream: Client | null = null;
    try {
      const plan = await ctx.deps.access.planSession(login.principal, login.target.resource, undefined, 'ssh');
      try {
        upstream = await ctx.connectUpstream(plan, { log });
      } catch (err) {
        if (isAirlockError(err)) throw err;
        const why = err instanceof Error ? err.message : String(err);
        await refuse('AIRLOCK_UPSTREAM_UNAVAILABLE', `could not open the SSH connection to ${plan.resource.name}: ${why}`, login.target);
        return actx.reject([]);
      }
      const session = await openSession(ctx.deps, { protocol: 'ssh', plan, source, token: login.token, application_name: info.header.identRaw ?? null });
      if (!socket.writable) {
        upstream.end();
        await session.end('the client went away during login');
        return;
      }
      ready = { login, plan, upstream, session };
      clearTimeout(timer);
      actx.accept();
    } catch (err) {
      upstream?.end();
      if (isAirlockError(err)) await refuse(err.code, err.message, login.target);
      else {
        log.error({ err: err instanceof Error ? err.stack : String(err) }, 'ssh gateway: login failed unexpectedly');
        await refuse('AIRLOCK_INTERNAL', 'internal error in the gateway; the error is in its log', login.target);
      }
      actx.reject([]);
    }
  }

  return new Promise<void>((resolve) => {
    let running: Promise<void> | null = null;
    client.once('ready', () => {
      if (ready) running = runSession(ctx, client, socket, ready);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      void (running ?? Promise.resolve()).finally(resolve);
    });
  });
}

function runSession(ctx: SshSessionContext, client: Connection, socket: Socket, r: Ready): Promise<void> {
  const { session, plan, upstream } = r;
  const open = new Set<OpenChannel>();
  let rec: Recording | null = null;
  let endReason: string | null = null;
  let refusals = 0;
  const cx: ChannelContext = {
    plan,
    session,
    upstream,
    log: ctx.deps.log,
    open,
    cutReason: () => endReason,
    bytes: ctx.deps.metrics?.bytes,
    recording(size, title) {
      rec ??= ctx.recordings.start({
        session_id: session.id,
        width: size?.cols ?? 80,
        height: size?.rows ?? 24,
        record_input: plan.role.ssh.record_input,
        title: `${plan.principal.name} on ${plan.resource.name}: ${title}`,
        env: { TERM: 'xterm-256color' },
      });
      return rec;
    },
    refusal() {
      refusals++;
      if (refusals <= MAX_REFUSALS) return true;
      if (refusals === MAX_REFUSALS + 1) {
        const why = `the client made more than ${MAX_REFUSALS} requests that were refused, so the connection was closed (AIRLOCK_SSH_REFUSED)`;
        session.recordStatement({ text: 'too many refused requests', fingerprint: null, decision: 'refused', rule: 'ssh.refusals', rows: 0, duration_ms: 0, error: why });
        kill(why);
      }
      return false;
    },
  };

  /** The live cut: the reason on every terminal, exit status 255, then the host's and the client's connections closed. */
  const kill = (reason: string): void => {
    if (endReason !== null) return;
    endReason = reason;
    const text = cutText(reason);
    // The recording shows the end as the user saw it (a replay ends with the reason, not mid-command).
    if (open.size > 0) rec?.output(text);
    for (const o of open) {
      try {
        if (o.pty) o.channel.write(text);
        else o.channel.stderr.write(text);
        // The host's command must not outlive the session: a PTY's hangup reaches its process group, a plain
        // command only its signal.
        if (o.upstream) {
          signalUpstream(o.upstream, o.pty ? 'HUP' : 'TERM');
          signalUpstream(o.upstream, 'KILL');
        }
        o.channel.exit(255);
        o.channel.end();
      } catch {
        // the channel is already gone
      }
    }
    open.clear();
    setTimeout(() => {
      upstream.end();
      client.end();
    }, CUT_GRACE_MS).unref();
    setTimeout(() => socket.destroy(), 900).unref();
  };

  return new Promise<void>((resolve) => {
    session.registered({ kill, auditLost: kill, running: () => open.size });
    ctx.live.set(socket, kill);
    upstream.on('close', () => {
      if (endReason === null) endReason = 'the host closed the connection';
      client.end();
    });
    upstream.on('error', (err: Error) => ctx.deps.log.warn({ err: err.message, session_id: session.id }, 'ssh gateway: upstream connection error'));
    client.on('session', (accept) => handleSession(cx, accept()));
    handleForwarding(cx, client, (rule, text) => {
      if (cx.refusal()) session.recordStatement({ text: clip(text), fingerprint: null, decision: 'refused', rule, rows: 0, duration_ms: 0, error: notAllowed(cx, rule) });
    });
    socket.once('close', () => {
      ctx.live.delete(socket);
      upstream.end();
      void (async () => {
        const seal = rec ? await rec.close().catch((err: unknown) => (ctx.deps.log.error({ err: String(err), session_id: session.id }, 'ssh gateway: could not seal a recording'), null)) : null;
        await session.end(endReason ?? 'the client disconnected', seal ? { recording: seal } : {});
        resolve();
      })();
    });
  });
}

function normalizeAddress(addr: string | undefined): string | null {
  if (!addr) return null;
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
