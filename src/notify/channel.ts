// What every notification channel (webhook, Slack, e-mail) implements, and what the shared outbox hands it.
//
// CONTRACT (issue 16): the outbox (src/notify/outbox.ts) stores one message per notice per channel, delivers it with
// retries and back-off (honouring retryAfterMs), and moves it to a dead-letter state after its last attempt. Channels
// only format and send; they never retry on their own.
import type { Notice } from './webhooks.js';

export type ChannelKind = 'webhook' | 'slack' | 'email';

/** What the notice is about, so a later notice on the same subject can find what an earlier delivery left (e.g. a Slack message to update). */
export interface NoticeSubject {
  kind: 'request' | 'statement_review' | 'grant' | 'lock' | 'policy';
  id: string;
}

export type DeliveryResult =
  /** Sent. `ref`: what a later delivery on the same subject needs (a Slack message's channel and ts), stored by the outbox. */
  | { ok: true; ref?: string }
  /** Not sent. retryable false: a permanent refusal (goes to dead letter at once); retryAfterMs: the receiver's Retry-After. */
  | { ok: false; retryable: boolean; retryAfterMs?: number; error: string };

export interface DeliveryContext {
  /** The ref an earlier successful delivery of this channel left for the same subject (e.g. the first message's ts), if any. */
  ref: string | null;
  /** 1 for the first attempt. */
  attempt: number;
  signal: AbortSignal;
}

export interface Channel {
  /** Unique among channels (the policy's name for it, e.g. "ops-slack"). */
  readonly name: string;
  readonly kind: ChannelKind;
  /** Whether this channel sends anything for this notice (its event filter, its routing rules). */
  wants(n: Notice): boolean;
  deliver(n: Notice, ctx: DeliveryContext): Promise<DeliveryResult>;
}

/** The key that makes a notice one message per channel, even when several processes of a cluster build it. */
export function noticeKey(n: Pick<Notice, 'event' | 'time'> & { subject?: NoticeSubject | null }): string {
  return n.subject ? `${n.event}:${n.subject.kind}:${n.subject.id}` : `${n.event}:${n.time}`;
}
