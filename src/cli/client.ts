// The CLI's HTTP client: finds the server, token and CA (flags, AIRLOCK_SERVER/AIRLOCK_TOKEN/AIRLOCK_CA, or what
// `login` saved). It speaks node:http/https itself: fetch cannot be given a CA to verify the server against.
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { UsageError } from './output.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export interface Problem {
  type?: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  details?: Record<string, unknown>;
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(p: Problem) {
    super(p.detail);
    this.problem = p;
  }
}

export interface Saved {
  server: string;
  token: string;
  /** The CA (PEM) that signs the server's HTTPS certificate, from AIRLOCK_CA at login. */
  ca?: string;
}

export function credentialsPath(): string {
  const base = process.env.AIRLOCK_CONFIG_DIR ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'airlock');
  return join(base, 'credentials.json');
}

export function readSaved(): Partial<Saved> {
  try {
    return JSON.parse(readFileSync(credentialsPath(), 'utf8')) as Partial<Saved>;
  } catch {
    return {};
  }
}

/** The CA given in AIRLOCK_CA (a PEM file), read now; undefined when the variable is not set. */
function caFromEnv(): string | undefined {
  const file = process.env.AIRLOCK_CA;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ApiError({ title: 'The CA file cannot be read', status: 0, code: 'AIRLOCK_TLS_UNTRUSTED', detail: `AIRLOCK_CA is ${file}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set it to the CA certificate (PEM) that signs the server's HTTPS certificate.` });
  }
}

/** Saves what later commands use; the CA in use (AIRLOCK_CA) is kept with it, so they verify the server too. */
export function saveCredentials(s: Saved): string {
  const p = credentialsPath();
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  const ca = s.ca ?? (s.server.startsWith('https:') ? caFromEnv() : undefined);
  writeFileSync(p, `${JSON.stringify({ ...s, ...(ca ? { ca } : {}) }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}

export interface ClientOptions {
  server?: string;
  token?: string;
}

/** Node's codes for a server certificate that does not verify. */
const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE']);

function unreachable(server: string, e: NodeJS.ErrnoException, usingCa: boolean): ApiError {
  if (e.code && UNTRUSTED.has(e.code)) {
    const hint = usingCa ? 'The CA in use (AIRLOCK_CA, or the one saved at login) did not sign it, or the certificate does not name this host' : 'Set AIRLOCK_CA to the CA file that signs it (for `airlock server --tls auto`: <data>/tls/ca.crt), then `airlock login` keeps it';
    return new ApiError({ title: 'The server\'s certificate is not trusted', status: 0, code: 'AIRLOCK_TLS_UNTRUSTED', detail: `The HTTPS certificate of ${server} does not verify (${e.code}). ${hint}.` });
  }
  return new ApiError({ title: 'Cannot reach the server', status: 0, code: 'AIRLOCK_UNREACHABLE', detail: `Cannot reach Airlock at ${server} (${e.code ?? e.message}). Is it running? Set AIRLOCK_SERVER or use --server.` });
}

/**
 * How long a request may wait for the server's next byte: AIRLOCK_TIMEOUT seconds, default 30. Streams (event
 * streams for --wait, exports) wait as long as they must.
 */
function requestTimeoutMs(): number {
  const raw = process.env.AIRLOCK_TIMEOUT;
  if (raw === undefined || raw === '') return 30_000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`AIRLOCK_TIMEOUT is "${raw}"; set it to a number of seconds greater than 0 (default 30)`);
  return seconds * 1000;
}

function silent(server: string, ms: number): ApiError {
  return new ApiError({ title: 'The server did not answer', status: 0, code: 'AIRLOCK_UNREACHABLE', detail: `Airlock at ${server} accepted the connection but sent nothing for ${ms / 1000} s. Is it the Airlock server, and is it overloaded? Set AIRLOCK_SERVER or use --server; AIRLOCK_TIMEOUT sets the wait in seconds.` });
}

export function makeClient(opts: ClientOptions = {}) {
  const saved = readSaved();
  const server = (opts.server ?? process.env.AIRLOCK_SERVER ?? saved.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  const token = opts.token ?? process.env.AIRLOCK_TOKEN ?? saved.token;
  let ca: string | undefined | null = null;
  /** AIRLOCK_CA wins; the saved CA counts only for the server it was saved with. */
  const caInUse = () => (ca === null ? (ca = caFromEnv() ?? (saved.server?.replace(/\/+$/, '') === server ? saved.ca : undefined)) : ca);

  /** One request; resolves with the response (its body not read yet). https is loaded only for https URLs. */
  async function send(method: string, path: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal, timeoutMs?: number): Promise<IncomingMessage> {
    const url = new URL(server + path);
    const secure = url.protocol === 'https:';
    const authority = secure ? caInUse() : undefined;
    const lib = secure ? await import('node:https') : await import('node:http');
    return new Promise<IncomingMessage>((resolveRes, reject) => {
      const req = lib.request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, signal, ...(authority ? { ca: authority } : {}) }, resolveRes);
      req.on('error', (e: NodeJS.ErrnoException) => reject(e.name === 'AbortError' || e instanceof ApiError ? e : unreachable(server, e, authority !== undefined)));
      // Idle time, so it also bounds reading the answer: the response stream fails with the same error.
      if (timeoutMs !== undefined) {
        let res: IncomingMessage | undefined;
        req.once('response', (r: IncomingMessage) => (res = r));
        req.setTimeout(timeoutMs, () => {
          const e = silent(server, timeoutMs);
          res?.destroy(e);
          req.destroy(e);
        });
      }
      req.end(body);
    });
  }

  async function readText(res: IncomingMessage): Promise<string> {
    res.setEncoding('utf8');
    let text = '';
    for await (const chunk of res) text += chunk;
    return text;
  }

  function problemOf(res: IncomingMessage, text: string): ApiError {
    let p: Partial<Problem> = {};
    try {
      p = text ? (JSON.parse(text) as Partial<Problem>) : {};
    } catch {
      p = { detail: text };
    }
    const status = res.statusCode ?? 0;
    return new ApiError({ title: p.title ?? res.statusMessage ?? '', status, code: p.code ?? 'AIRLOCK_HTTP_ERROR', detail: p.detail ?? `The server answered ${status} ${res.statusMessage ?? ''}.`, details: p.details });
  }

  async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    const res = await send(method, path, headers, body !== undefined ? JSON.stringify(body) : undefined, signal, requestTimeoutMs());
    const text = await readText(res);
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) throw problemOf(res, text);
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      return { detail: text } as T;
    }
  }

  return {
    server,
    hasToken: token !== undefined,
    get: <T>(path: string, signal?: AbortSignal) => call<T>('GET', path, undefined, signal),
    post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
    del: <T>(path: string) => call<T>('DELETE', path),
    /** A raw streaming GET (SSE, JSONL export), as a web Response so readers use its body stream. */
    async stream(path: string, signal?: AbortSignal): Promise<Response> {
      const res = await send('GET', path, token ? { authorization: `Bearer ${token}` } : {}, undefined, signal);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw problemOf(res, await readText(res));
      const { Readable } = await import('node:stream');
      return new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, headers: { 'content-type': String(res.headers['content-type'] ?? '') } });
    },
  };
}

export type Client = ReturnType<typeof makeClient>;

export function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== false) u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
