// The SSH front-end: a TCP listener whose sockets are handed to ssh2's Server (injectSocket); each client logs in as
// <principal>%<resource> with its access token or a registered key, and its channels are relayed to the host,
// checked, recorded and audited (docs/ssh-and-exec.md).
import type { Socket } from 'node:net';
import ssh2, { type Client } from 'ssh2';
import type { GatewayDeps, SessionPlan } from '../types.js';
import type { Log } from '../../domain/log.js';
import type { Recordings } from '../../audit/recordings.js';
import { makeGatewayListener, type GatewayListener } from '../core/listener.js';
import type { SshLoginDeps } from './login.js';
import { serveClient, type SshSessionContext } from './session.js';

export interface SshGatewayOptions {
  listen: { host: string; port: number };
  /** The gateway's host key (OpenSSH or PEM private key), from <data>/ssh. */
  hostKey: string | Buffer;
  login: SshLoginDeps;
  recordings: Recordings;
  /** Logs in to the host as the plan says (src/gateway/ssh/upstream.ts, host key pinned or trusted on first use): a ready ssh2 Client. */
  connectUpstream(plan: SessionPlan, o: { log: Log; timeoutMs?: number }): Promise<Client>;
  /** Time a client has from connecting to a ready session. Default 30 s. */
  loginTimeoutMs?: number;
}

/** What clients read as the server's version ("SSH-2.0-Airlock"). */
const IDENT = 'Airlock';

export function makeSshGateway(deps: GatewayDeps, opts: SshGatewayOptions): GatewayListener {
  const ctx: SshSessionContext = {
    deps,
    recordings: opts.recordings,
    login: opts.login,
    connectUpstream: opts.connectUpstream,
    loginTimeoutMs: opts.loginTimeoutMs ?? 30_000,
    live: new Map(),
  };
  // Connections whose SSH header has not arrived yet, by socket: the ssh2 Server reports each client by its socket.
  const waiting = new Map<Socket, (served: Promise<void>) => void>();
  const server = new ssh2.Server({ hostKeys: [opts.hostKey], ident: IDENT }, (client, info) => {
    const socket = (client as unknown as { _sock: Socket })._sock;
    const served = serveClient(ctx, client, info, socket);
    waiting.get(socket)?.(served);
    waiting.delete(socket);
  });

  function serve(socket: Socket): Promise<void> {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    return new Promise<void>((resolve) => {
      let served: Promise<void> | null = null;
      waiting.set(socket, (p) => void (served = p));
      socket.once('close', () => {
        waiting.delete(socket);
        void (served ?? Promise.resolve()).finally(resolve);
      });
      socket.on('error', () => {});
      server.injectSocket(socket);
    });
  }

  return makeGatewayListener({ protocol: 'ssh', listen: opts.listen, log: deps.log, live: ctx.live, tls: false, serve });
}
