// A TCP proxy between a client and a gateway that keeps every byte the gateway sent to the client, so a test can
// prove what never reached the client (masking tests: no real value of a masked column in any message).
import { createServer, connect, type Socket } from 'node:net';

export interface RecordingProxy {
  port: number;
  /** Everything the gateway sent to clients through the proxy since the last reset(), as one buffer. */
  received(): Buffer;
  reset(): void;
  close(): Promise<void>;
}

/** Listens on a free loopback port and forwards each connection to 127.0.0.1:targetPort in plain TCP. */
export async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
  let chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    received: () => Buffer.concat(chunks),
    reset() {
      chunks = [];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
