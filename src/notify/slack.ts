// The Slack channel: posts a request or held statement to the channel its routing picks (chat.postMessage, with
// Approve / Deny buttons), and rewrites that same message when it is decided (chat.update, buttons removed).
import type { Policy } from '../policy/compile.js';
import type { SecretRef, SlackDef } from '../policy/schema.js';
import type { Channel, DeliveryContext, DeliveryResult } from './channel.js';
import type { Notice } from './webhooks.js';
import { makeSlackApi, type SlackApi } from './slack-api.js';
import { DECISION_EVENTS, slackMessage } from './slack-messages.js';

export interface SlackChannelDeps {
  policy: () => Policy;
  resolveSecret: (ref: SecretRef) => string;
  /** The console's base URL, for the "Open in Airlock" button; none: no button. */
  publicUrl?: () => string;
}

/** Where a posted message is, as the outbox keeps it (DeliveryResult.ref): chat.update needs the channel's id and ts. */
export interface SlackMessageRef {
  channel: string;
  ts: string;
}

export function parseSlackRef(ref: string | null): SlackMessageRef | null {
  if (!ref) return null;
  try {
    const r = JSON.parse(ref) as Partial<SlackMessageRef>;
    return typeof r.channel === 'string' && typeof r.ts === 'string' ? { channel: r.channel, ts: r.ts } : null;
  } catch {
    return null;
  }
}

/** The channel a notice goes to: the role's rule, else the first label rule the resource matches, else the default. */
export function slackChannelFor(def: SlackDef, n: Notice, policy: Policy): string {
  const role = typeof n.data.role === 'string' ? n.data.role : undefined;
  if (role && def.channels.roles[role]) return def.channels.roles[role];
  const resource = typeof n.data.resource === 'string' ? policy.resource(n.data.resource) : undefined;
  if (resource) {
    for (const [label, channel] of Object.entries(def.channels.labels)) {
      const eq = label.indexOf('=');
      if (resource.labels[label.slice(0, eq)] === label.slice(eq + 1)) return channel;
    }
  }
  return def.channel;
}

export function makeSlackChannel(def: SlackDef, deps: SlackChannelDeps, api: SlackApi = makeSlackApi({ apiUrl: def.api_url, token: () => deps.resolveSecret(def.bot_token) })): Channel {
  const events = new Set<string>(def.events);
  return {
    name: def.name,
    kind: 'slack',
    wants: (n: Notice) => events.has(n.event),
    async deliver(n: Notice, ctx: DeliveryContext): Promise<DeliveryResult> {
      const policy = deps.policy();
      let message: ReturnType<typeof slackMessage>;
      try {
        message = slackMessage(n, policy, deps.publicUrl?.() || undefined);
      } catch (e) {
        return { ok: false, retryable: false, error: `could not build the Slack message: ${(e as Error).message}` };
      }
      if (DECISION_EVENTS.has(n.event)) {
        const at = parseSlackRef(ctx.ref);
        // Nothing was posted for this subject (auto-approved, or the opening event is not in `events`): nothing to update.
        if (!at) return { ok: true };
        const res = await api.update({ channel: at.channel, ts: at.ts, ...message }, ctx.signal);
        return res.ok ? { ok: true, ref: ctx.ref ?? undefined } : res;
      }
      const res = await api.postMessage({ channel: slackChannelFor(def, n, policy), unfurl_links: false, unfurl_media: false, ...message }, ctx.signal);
      if (!res.ok) return res;
      const channel = res.body.channel;
      const ts = res.body.ts;
      return typeof channel === 'string' && typeof ts === 'string' ? { ok: true, ref: JSON.stringify({ channel, ts } satisfies SlackMessageRef) } : { ok: true };
    },
  };
}
