// Serves the built web console (dist/web) at /: assets by path, every other page path gets index.html (the console
// routes in the browser). Few files, read on demand, with headers that keep the page to its own origin.
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const DEFAULT_WEB_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

/** The console loads only its own scripts and styles and talks only to this origin. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');
}

async function fileAt(root: string, urlPath: string): Promise<string | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const full = resolve(root, `.${decoded}`);
  if (full !== root && !full.startsWith(root + sep)) return undefined;
  try {
    return (await stat(full)).isFile() ? full : undefined;
  } catch {
    return undefined;
  }
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock</title></head><body>
<h1>The Airlock console is not built</h1><p>Build it with <code>npm run build:web</code> (or start with <code>npm start</code>, which builds it when missing), then reload.
The API is at <a href="/api/v1/openapi.json">/api/v1</a>.</p></body></html>`;

/** Registers GET /* for the console; `apiNotFound` answers unknown /api/ paths as the API does. */
export function registerConsoleStatic(app: FastifyInstance, opts: { root?: string; apiNotFound(req: FastifyRequest, reply: FastifyReply): unknown }): void {
  const root = resolve(opts.root ?? DEFAULT_WEB_ROOT);
  app.get('/*', async function consoleFile(req, reply) {
    const path = req.url.split('?')[0]!;
    if (path === '/api' || path.startsWith('/api/')) return opts.apiNotFound(req, reply);
    const file = await fileAt(root, path);
    if (file) {
      const immutable = path.startsWith('/assets/');
      securityHeaders(reply)
        .type(TYPES[extname(file)] ?? 'application/octet-stream')
        .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      return reply.send(await readFile(file));
    }
    // A path with a file extension is a missing asset; anything else is a page of the console.
    if (extname(path) !== '') return reply.status(404).type('text/plain; charset=utf-8').send(`Not found: ${path}\n`);
    const index = await fileAt(root, '/index.html');
    securityHeaders(reply).header('cache-control', 'no-cache');
    if (!index) return reply.status(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    return reply.type('text/html; charset=utf-8').send(await readFile(join(root, 'index.html')));
  });
}
