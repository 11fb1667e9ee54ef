// What an HTTP receiver's answer means for the outbox: sent, worth another attempt (and when), or refused for good.
import type { DeliveryResult } from './channel.js';

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now: Date): number | undefined {
  if (!header) return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/** 2xx: sent. 429 and 5xx: retryable, honouring Retry-After. Any other status: the receiver refuses this body. */
export function httpResult(res: Pick<Response, 'status' | 'ok' | 'headers'>, now: Date): DeliveryResult {
  if (res.ok) return { ok: true };
  const retryable = res.status === 429 || res.status >= 500;
  return { ok: false, retryable, retryAfterMs: retryable ? retryAfterMs(res.headers.get('retry-after'), now) : undefined, error: `HTTP ${res.status}` };
}

/** A failed fetch (no answer, refused connection, timeout) as a retryable result with a readable error. */
export function fetchFailure(e: unknown): DeliveryResult {
  const err = e as Error;
  const timedOut = err?.name === 'TimeoutError' || err?.name === 'AbortError';
  // undici says "fetch failed" and keeps the reason (ECONNREFUSED, a TLS error…) in its cause.
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return { ok: false, retryable: true, error: redactUrls(timedOut ? 'no answer in time' : cause?.code ?? cause?.message ?? err?.message ?? String(e)) };
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/**
 * Every URL in an error reduced to its origin: fetch quotes the URL it refused ("…includes credentials: https://user:pw@…"),
 * and a URL's user and password, query (…?token=) or path (Slack's hooks.slack.com/services/T…/B…/<secret>) may be
 * the secret itself. Errors are stored, listed to auditors and audited, so none of that may reach them.
 */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (found) => {
    try {
      const u = new URL(found);
      const rest = u.pathname !== '/' || u.search || u.hash || u.username || u.password;
      return `${u.protocol}//${u.host}${rest ? '/…' : ''}`;
    } catch {
      return `${found.slice(0, found.indexOf('://') + 3)}…`;
    }
  });
}
