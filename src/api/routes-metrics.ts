// GET /metrics in the Prometheus text format, on the API listener and (--metrics-listen) on a listener of its own; and
// the duration of every API request, by route pattern. No token is asked: see docs/metrics.md, "Access".
import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { listenUrl } from '../domain/addresses.js';

export interface ApiMetrics {
  /** The exposition format's content type. */
  readonly contentType: string;
  /** The whole exposition, collected now. */
  exposition(): Promise<string>;
  /** One request answered: `route` is the pattern it matched (e.g. /api/v1/grants/:id), never the URL. */
  requestAnswered(method: string, route: string, statusCode: number, seconds: number): void;
}

/** Adds GET /metrics and the request-duration hook to the API (before its routes, so the hook covers them all). */
export function registerMetricsRoute(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onResponse', function recordRequest(req, reply, done) {
    // No route matched (a 404): the URL would make a label per path anyone cares to ask for.
    metrics.requestAnswered(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async function metricsExposition(_req, reply) {
    const body = await metrics.exposition();
    return reply.type(metrics.contentType).send(body);
  });
}

/**
 * The same exposition on an address of its own (e.g. one only the Prometheus network reaches): GET /metrics only,
 * and nothing else of the API.
 */
export async function startMetricsListener(listen: { host: string; port: number }, metrics: Pick<ApiMetrics, 'contentType' | 'exposition'>): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('This listener serves only GET /metrics.\n');
      return;
    }
    metrics.exposition().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`The metrics could not be collected: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  return {
    url: `${listenUrl('http', listen.host, port)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would hold close() open until it times out.
        server.closeAllConnections();
      }),
  };
}
