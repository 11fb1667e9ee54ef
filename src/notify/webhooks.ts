// Webhooks: a channel that POSTs each notice as JSON (Slack-compatible `text`), signed with HMAC-SHA256. One POST per
// attempt; the outbox (outbox.ts) retries and keeps what fails.
import { createHmac } from 'node:crypto';
import type { NotifyEvent, WebhookDef, SecretRef } from '../policy/schema.js';
import type { Channel, NoticeSubject } from './channel.js';
import { fetchFailure, httpResult } from './http-result.js';

export interface Notice {
  event: NotifyEvent;
  /** One line a person reads in chat. */
  text: string;
  time: string;
  /** Structured facts for machines: ids, principal, resource, role, links. */
  data: Record<string, unknown>;
  /** What it is about (the request, statement review, grant…): one message per subject and event per channel. */
  subject?: NoticeSubject;
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The body receivers have always got: `text`, `event`, `time` and the facts, flat. The subject stays internal. */
export function webhookBody(n: Notice): string {
  return JSON.stringify({ text: n.text, event: n.event, time: n.time, ...n.data });
}

export function webhookChannel(w: WebhookDef, deps: { resolveSecret: (ref: SecretRef) => string; now?: () => Date }): Channel {
  const now = deps.now ?? (() => new Date());
  return {
    name: w.name,
    kind: 'webhook',
    wants: (n) => w.events.includes(n.event),
    async deliver(n, ctx) {
      const body = webhookBody(n);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'airlock-webhook', 'x-airlock-event': n.event };
      // Resolved per delivery: a rotated secret applies to the next message without a reload.
      if (w.secret) headers['x-airlock-signature'] = signBody(deps.resolveSecret(w.secret), body);
      try {
        const res = await fetch(w.url, { method: 'POST', headers, body, signal: ctx.signal });
        await res.arrayBuffer().catch(() => undefined);
        return httpResult(res, now());
      } catch (e) {
        return fetchFailure(e);
      }
    },
  };
}
