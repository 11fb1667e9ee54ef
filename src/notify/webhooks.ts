// Webhooks: a JSON POST per event to each configured URL (Slack-compatible `text`), signed with HMAC-SHA256,
// retried a few times, and never in the way of the change that caused it.
import { createHmac } from 'node:crypto';
import type { NotifyEvent, WebhookDef, SecretRef } from '../policy/schema.js';
import type { Log } from '../domain/log.js';
import type { NoticeSubject } from './channel.js';

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

export interface WebhookDeps {
  webhooks: () => readonly WebhookDef[];
  resolveSecret: (ref: SecretRef) => string;
  log: Pick<Log, 'warn'>;
  /** Delivery outcomes, e.g. for the audit log. */
  onDelivery?: (d: { webhook: string; event: NotifyEvent; ok: boolean; status: number | null; attempts: number; error?: string }) => void;
  retries?: number;
  timeoutMs?: number;
  backoffMs?: number;
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function makeWebhookNotifier(deps: WebhookDeps) {
  const retries = deps.retries ?? 3;
  const timeoutMs = deps.timeoutMs ?? 5000;
  const backoffMs = deps.backoffMs ?? 500;
  const inflight = new Set<Promise<void>>();

  async function deliver(w: WebhookDef, n: Notice): Promise<void> {
    const body = JSON.stringify({ text: n.text, event: n.event, time: n.time, ...n.data });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'airlock-webhook', 'x-airlock-event': n.event };
    if (w.secret) headers['x-airlock-signature'] = signBody(deps.resolveSecret(w.secret), body);
    let status: number | null = null;
    let error: string | undefined;
    for (let attempt = 1; attempt <= retries; attempt++) {
      try {
        const res = await fetch(w.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          deps.onDelivery?.({ webhook: w.name, event: n.event, ok: true, status, attempts: attempt });
          return;
        }
        error = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break; // the receiver refuses this body: retrying will not help
      } catch (e) {
        error = (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e as Error).message;
      }
      if (attempt < retries) await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
    }
    deps.log.warn({ webhook: w.name, event: n.event, status, error }, 'webhook delivery failed');
    deps.onDelivery?.({ webhook: w.name, event: n.event, ok: false, status, attempts: retries, error });
  }

  return {
    /** Fire and forget: deliveries run in the background. */
    send(n: Notice): void {
      for (const w of deps.webhooks()) {
        if (!w.events.includes(n.event)) continue;
        const p = deliver(w, n).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    },
    /** Waits for deliveries in flight (shutdown, tests). */
    async drain(): Promise<void> {
      while (inflight.size) await Promise.all([...inflight]);
    },
  };
}

export type WebhookNotifier = ReturnType<typeof makeWebhookNotifier>;
