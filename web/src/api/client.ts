// Calls to the API: JSON in and out, the session cookie sent by the browser, the CSRF header on every change,
// and problem+json errors turned into an ApiError whose message is the server's `detail` sentence.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** The sentence to show for any error: an API error's detail; never a stack. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error && e.name === 'AbortError') return 'The request was cancelled.';
  return 'Something went wrong in the console. Reload the page; if it keeps happening, tell your admin.';
}

/** The stable code of an API error (AIRLOCK_…), which a user can look up in the docs; null for other errors. */
export function errorCode(e: unknown): string | null {
  return e instanceof ApiError && e.code !== 'AIRLOCK_HTTP_ERROR' ? e.code : null;
}

const CSRF_HEADER = 'X-Airlock-CSRF';
let csrf = '';
const unauthenticatedListeners = new Set<(e: ApiError) => void>();

/** The session's CSRF value, echoed on every change (the cookie alone is not enough). */
export function setCsrf(value: string): void {
  csrf = value;
}

/** Told when the API says the session is gone, so the console can ask to sign in again. */
export function onUnauthenticated(fn: (e: ApiError) => void): () => void {
  unauthenticatedListeners.add(fn);
  return () => unauthenticatedListeners.delete(fn);
}

async function call(method: 'GET' | 'POST', url: string, body?: unknown, opts: { signal?: AbortSignal; quiet401?: boolean } = {}): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers[CSRF_HEADER] = csrf || 'sign-in';
  }
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: method === 'GET' ? undefined : JSON.stringify(body ?? {}), credentials: 'same-origin', signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'AIRLOCK_UNREACHABLE', 'Cannot reach the Airlock server. Check your connection; then try again.');
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const p = (data && typeof data === 'object' ? data : {}) as { code?: unknown; detail?: unknown };
    const err = new ApiError(res.status, typeof p.code === 'string' ? p.code : 'AIRLOCK_HTTP_ERROR', typeof p.detail === 'string' && p.detail ? p.detail : `The server answered ${res.status} ${res.statusText || ''}`.trim() + '.');
    if (res.status === 401 && !opts.quiet401) for (const fn of unauthenticatedListeners) fn(err);
    throw err;
  }
  return data;
}

export function getJson<T>(url: string, convert: (json: unknown) => T, opts: { signal?: AbortSignal; quiet401?: boolean } = {}): Promise<T> {
  return call('GET', url, undefined, opts).then(convert);
}

export function postJson<T>(url: string, body: unknown, convert: (json: unknown) => T, opts: { quiet401?: boolean } = {}): Promise<T> {
  return call('POST', url, body, opts).then(convert);
}
