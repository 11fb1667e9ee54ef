// The server-sent-events stream of changes (/api/v1/events): what the console and `airlock request --wait` watch.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import { sendProblem } from './problem.js';
import { EVENT_STREAM_ROUTE_SCHEMA } from './schemas.js';

const HEARTBEAT_MS = 15_000;

export function registerEventStream(app: FastifyInstance, access: Access, authenticate: (req: FastifyRequest) => Promise<Caller>): void {
  /** Open streams, ended when the server closes: the HTTP server's close waits for every connection to go. */
  const open = new Set<() => void>();
  app.addHook('preClose', function endEventStreams(done) {
    for (const end of [...open]) end();
    done();
  });
  app.get('/api/v1/events', { schema: EVENT_STREAM_ROUTE_SCHEMA }, async function eventStream(req, reply) {
    let caller: Caller;
    try {
      caller = await authenticate(req);
    } catch (e) {
      return sendProblem(reply, e, req);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`: connected as ${caller.principal.name}\nretry: 2000\n\n`);
    let n = 0;
    const unsubscribe = access.bus.subscribe((c) => {
      if (!access.visibility.hearsChange(caller, c)) return;
      res.write(`id: ${++n}\nevent: ${c.kind}\ndata: ${JSON.stringify(c)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(end);
    };
    // The client reads why the stream ended, then the connection itself goes (it was keep-alive).
    const end = () => {
      close();
      res.end(': the server is shutting down\n\n', () => res.socket?.end());
    };
    open.add(end);
    req.raw.on('close', close);
    res.on('error', close);
  });
}
