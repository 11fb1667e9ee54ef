// The CLI's HTTP client: finds the server and token (flags, AIRLOCK_SERVER/AIRLOCK_TOKEN, or what `login` saved).
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';

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

export function saveCredentials(s: Saved): string {
  const p = credentialsPath();
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}

export interface ClientOptions {
  server?: string;
  token?: string;
}

export function makeClient(opts: ClientOptions = {}) {
  const saved = readSaved();
  const server = (opts.server ?? process.env.AIRLOCK_SERVER ?? saved.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  const token = opts.token ?? process.env.AIRLOCK_TOKEN ?? saved.token;

  async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(server + path, {
        method,
        headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal,
      });
    } catch (e) {
      throw new ApiError({ title: 'Cannot reach the server', status: 0, code: 'AIRLOCK_UNREACHABLE', detail: `Cannot reach Airlock at ${server} (${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message}). Is it running? Set AIRLOCK_SERVER or use --server.` });
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = { detail: text };
    }
    if (!res.ok) {
      const p = data as Partial<Problem>;
      throw new ApiError({ title: p.title ?? res.statusText, status: res.status, code: p.code ?? 'AIRLOCK_HTTP_ERROR', detail: p.detail ?? `The server answered ${res.status} ${res.statusText}.`, details: p.details });
    }
    return data as T;
  }

  return {
    server,
    hasToken: token !== undefined,
    get: <T>(path: string, signal?: AbortSignal) => call<T>('GET', path, undefined, signal),
    post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
    /** A raw streaming GET (SSE, JSONL export). */
    async stream(path: string, signal?: AbortSignal): Promise<Response> {
      const res = await fetch(server + path, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal }).catch((e: Error) => {
        throw new ApiError({ title: 'Cannot reach the server', status: 0, code: 'AIRLOCK_UNREACHABLE', detail: `Cannot reach Airlock at ${server} (${e.message}).` });
      });
      if (!res.ok) {
        const p = (await res.json().catch(() => ({}))) as Partial<Problem>;
        throw new ApiError({ title: p.title ?? res.statusText, status: res.status, code: p.code ?? 'AIRLOCK_HTTP_ERROR', detail: p.detail ?? `The server answered ${res.status}.` });
      }
      return res;
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
