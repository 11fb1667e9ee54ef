// The TCP listener every front-end runs: one `serve` per connection, the set of live connections, and a stop that ends
// each session in the protocol's own words (through the kill it registered in `live`) before closing.
import { createServer, type Server, type Socket } from 'node:net';
import type { Log } from '../../domain/log.js';

export interface GatewayListener {
  /** Listens; resolves with the address actually bound (port 0 picks a free port). */
  start(): Promise<{ host: string; port: number }>;
  /** Stops listening and ends every session of this gateway (each client reads why), then waits for their audit. */
  stop(): Promise<void>;
  /** Whether the listener accepts connections (for /readyz). */
  readonly listening: boolean;
  /** Live connections, including ones still logging in. */
  readonly connections: number;
}

export function makeGatewayListener(o: {
  /** 'postgres', 'mysql': in log lines. */
  protocol: string;
  listen: { host: string; port: number };
  log: Log;
  /** Sessions past login, by their client's socket: how to end each with a reason the client reads. */
  live: Map<Socket, (reason: string) => void>;
  /** Serves one connection; resolves when it is over (including its session.end audit event). */
  serve(socket: Socket): Promise<void>;
  /** Said in the "listening" log line. */
  tls: boolean;
  /** Done once before listening (e.g. loading a parser). */
  prepare?: () => Promise<void>;
}): GatewayListener {
  const connections = new Map<Socket, Promise<void>>();
  let server: Server | null = null;

  function onConnection(socket: Socket): void {
    const done = o.serve(socket)
      .catch((err: unknown) => o.log.error({ err: err instanceof Error ? err.stack : String(err) }, `${o.protocol} gateway: connection failed`))
      .finally(() => connections.delete(socket));
    connections.set(socket, done);
  }

  return {
    async start() {
      await o.prepare?.();
      const s = createServer({ noDelay: true }, onConnection);
      server = s;
      s.on('error', (err) => o.log.error({ err: err.message }, `${o.protocol} gateway: listener error`));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(o.listen.port, o.listen.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : o.listen.port;
      o.log.info({ host: o.listen.host, port, tls: o.tls }, `${o.protocol} gateway listening`);
      return { host: o.listen.host, port };
    },

    async stop() {
      const s = server;
      server = null;
      // close() stops accepting at once but calls back only when every connection is gone, so end those first.
      const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
      const pending = [...connections.entries()];
      for (const [sock] of pending) {
        const kill = o.live.get(sock);
        if (kill) kill('the Airlock gateway is shutting down');
        else sock.destroy(); // still logging in: nothing to tell yet
      }
      await Promise.all(pending.map(([, p]) => p));
      await closed;
    },

    get listening() {
      return server?.listening ?? false;
    },

    get connections() {
      return connections.size;
    },
  };
}
