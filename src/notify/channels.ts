// The notification channels the policy's notify section asks for, one factory per channel kind, rebuilt when the
// policy changes. Slack and e-mail plug in here: their factory replaces `noChannels` for their kind.
import type { Channel, ChannelKind } from './channel.js';
import type { Policy } from '../policy/compile.js';
import type { SecretRef } from '../policy/schema.js';
import type { Clock } from '../domain/clock.js';
import type { Log } from '../domain/log.js';
import { webhookChannel } from './webhooks.js';
import { emailChannels } from './email.js';
import { makeSlackChannel } from './slack.js';

/** What a channel may use besides its own part of the policy. */
export interface ChannelDeps {
  resolveSecret: (ref: SecretRef) => string;
  log: Pick<Log, 'info' | 'warn'>;
  clock: Clock;
  /** The console's public base URL without a trailing slash, for links in messages. */
  publicUrl: () => string;
}

/** Builds one kind's channels from the policy (its notify section, and e.g. principals for recipients). */
export type ChannelFactory = (policy: Policy, deps: ChannelDeps) => Channel[];

export const noChannels: ChannelFactory = () => [];

export const webhookChannels: ChannelFactory = (policy, deps) => policy.doc.notify.webhooks.map((w) => webhookChannel(w, { resolveSecret: deps.resolveSecret, now: () => deps.clock.now() }));

/** Every kind has its entry, so a kind without a factory is a type error rather than silence. */
export const channelFactories: Record<ChannelKind, ChannelFactory> = {
  webhook: webhookChannels,
  slack: (policy, deps) => policy.doc.notify.slack.map((s) => makeSlackChannel(s, { policy: () => policy, resolveSecret: deps.resolveSecret, publicUrl: deps.publicUrl })),
  email: emailChannels,
};

/** The channels of the policy in force, built once per policy version. Names are unique across kinds. */
export function makeChannelRegistry(policy: () => Policy, deps: ChannelDeps, factories: Record<ChannelKind, ChannelFactory> = channelFactories) {
  let built: { hash: string; channels: readonly Channel[] } | null = null;
  return {
    current(): readonly Channel[] {
      const p = policy();
      if (built?.hash !== p.hash) {
        const channels: Channel[] = [];
        const seen = new Set<string>();
        for (const [kind, factory] of Object.entries(factories) as [ChannelKind, ChannelFactory][]) {
          let made: Channel[];
          try {
            made = factory(p, deps);
          } catch (e) {
            // One kind's bad settings must not silence the others.
            deps.log.warn({ kind, err: (e as Error).message }, 'could not set up notification channels of this kind');
            continue;
          }
          for (const c of made) {
            // The outbox keys messages by channel name: a second channel of that name would share the first's rows.
            if (seen.has(c.name)) {
              deps.log.warn({ channel: c.name, kind }, 'a notification channel of this name already exists; this one is left out');
              continue;
            }
            seen.add(c.name);
            channels.push(c);
          }
        }
        built = { hash: p.hash, channels };
      }
      return built.channels;
    },
  };
}

export type ChannelRegistry = ReturnType<typeof makeChannelRegistry>;
