// Serves the built web console (dist/web) at / with @fastify/static: assets by path, every other page path gets
// index.html (the console routes in the browser), with headers that keep the page to its own origin.
import { existsSync } from 'node:fs';
import { dirname, extname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const DEFAULT_WEB_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'web');

/**
 * The console loads only its own scripts and styles and talks only to this origin. 'wasm-unsafe-eval' lets the
 * recording player (asciinema-player) compile its own WebAssembly terminal; it allows no eval of JavaScript.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Only files under the root: `..` (also percent-encoded) and NUL never leave it. */
function insideRoot(root: string, urlPath: string): boolean {
  if (urlPath.includes('\0')) return false;
  const rel = relative(root, resolve(root, `.${urlPath}`));
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock</title></head><body>
<h1>The Airlock console is not built</h1><p>Build it with <code>npm run build:web</code> (or start with <code>npm start</code>, which builds it when missing), then reload.
The API is at <a href="/api/v1/openapi.json">/api/v1</a>.</p></body></html>`;

/**
 * Registers GET /* for the console and the not-found handler: unknown /api/ paths (and other methods) are answered
 * by `apiNotFound` as the API does, a missing asset is a plain 404, any other path is a page of the console.
 */
export async function registerConsoleStatic(app: FastifyInstance, opts: { root?: string; apiNotFound(req: FastifyRequest, reply: FastifyReply): unknown }): Promise<void> {
  const root = resolve(opts.root ?? DEFAULT_WEB_ROOT);
  const assets = resolve(root, 'assets') + sep;
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // Our own Cache-Control: hashed assets forever, everything else revalidated (ETags stay on).
    cacheControl: false,
    dotfiles: 'ignore',
    allowedPath: (path) => insideRoot(root, path),
    setHeaders(res, file) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      res.setHeader('cache-control', file.startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  app.setNotFoundHandler(async function consolePage(req, reply) {
    const path = req.url.split('?')[0]!;
    if ((req.method !== 'GET' && req.method !== 'HEAD') || path === '/api' || path.startsWith('/api/')) return opts.apiNotFound(req, reply);
    // A path with a file extension is a missing asset; anything else is a page of the console.
    if (extname(path) !== '') return reply.status(404).type('text/plain; charset=utf-8').send(`Not found: ${path}\n`);
    if (!existsSync(resolve(root, 'index.html'))) {
      return reply.status(503).headers(SECURITY_HEADERS).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    return reply.status(200).sendFile('index.html');
  });
}
