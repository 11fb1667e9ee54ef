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
  const data = parseJson(text);
  if (!res.ok) throw problem(res, data, opts.quiet401);
  return data;
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** An answer that is not OK as an ApiError with the server's code and sentence; a 401 tells the console it is signed out. */
function problem(res: Response, data: unknown, quiet401?: boolean): ApiError {
  const p = (data && typeof data === 'object' ? data : {}) as { code?: unknown; detail?: unknown };
  const err = new ApiError(res.status, typeof p.code === 'string' ? p.code : 'AIRLOCK_HTTP_ERROR', typeof p.detail === 'string' && p.detail ? p.detail : `The server answered ${res.status} ${res.statusText || ''}`.trim() + '.');
  if (res.status === 401 && !quiet401) for (const fn of unauthenticatedListeners) fn(err);
  return err;
}

export function getJson<T>(url: string, convert: (json: unknown) => T, opts: { signal?: AbortSignal; quiet401?: boolean } = {}): Promise<T> {
  return call('GET', url, undefined, opts).then(convert);
}

export function postJson<T>(url: string, body: unknown, convert: (json: unknown) => T, opts: { quiet401?: boolean } = {}): Promise<T> {
  return call('POST', url, body, opts).then(convert);
}

/**
 * A change whose answer is a file (Export CSV): POSTed with the CSRF header like any change, the body read whole,
 * and saved by the browser under the name the server gave (Content-Disposition).
 */
export async function postDownload(url: string, body: unknown, fallbackName: string): Promise<{ name: string; bytes: number }> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [CSRF_HEADER]: csrf || 'sign-in' }, body: JSON.stringify(body ?? {}), credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'AIRLOCK_UNREACHABLE', 'Cannot reach the Airlock server. Check your connection; then try again.');
  }
  if (!res.ok) throw problem(res, parseJson(await res.text()));
  let blob: Blob;
  try {
    blob = await res.blob();
  } catch {
    throw new ApiError(0, 'AIRLOCK_DOWNLOAD_CUT', 'The download was cut off before its end (the statement failed part-way, or the connection dropped), so no file was saved. Try again.');
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
  return { name, bytes: blob.size };
}
