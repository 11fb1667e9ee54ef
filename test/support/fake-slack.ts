// A local Slack for tests: the Web API methods Airlock calls (chat.postMessage, chat.update, chat.postEphemeral,
// users.info, views.open) answering in Slack's formats and checking the bot token, response_url endpoints, and a
// client side that sends interaction payloads to Airlock as Slack does (form-encoded payload=, signed with v0).
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface FakeSlackUser {
  id: string;
  name: string;
  email?: string;
  emailConfirmed?: boolean;
}

export interface SlackCall {
  method: string;
  /** The JSON body, or the query of a GET. */
  args: Json;
  contentType: string | undefined;
  authorization: string | undefined;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: Json[];
  /** Each chat.update's version, oldest first. */
  updates: { text: string; blocks: Json[] }[];
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

export interface FakeSlack {
  apiUrl: string;
  calls: SlackCall[];
  messages: FakeMessage[];
  /** What Airlock POSTed to response_url endpoints. */
  responses: Json[];
  /** Views opened (views.open), with the trigger_id used. */
  views: { trigger_id: string; view: Json; id: string }[];
  /** The next `count` calls of `method` answer HTTP 429 ratelimited with Retry-After. */
  rateLimit(method: string, count: number, retryAfterSeconds: number): void;
  /** A button click on a posted message, as Slack would send it (block_actions). */
  click(user: FakeSlackUser, message: FakeMessage, actionId: string, opts?: { timestamp?: number; secret?: string }): SignedRequest;
  /** A submitted modal (view_submission) with the comment typed into it. */
  submit(user: FakeSlackUser, view: { id: string; view: Json }, comment: string, opts?: { timestamp?: number }): SignedRequest;
  /** Sends a signed request to Airlock's interactivity endpoint; the answer's status and body. */
  send(url: string, req: SignedRequest): Promise<{ status: number; text: string; json: Json | null }>;
  close(): Promise<void>;
}

const CHANNEL_IDS: Record<string, string> = {};

/** A stable channel id for a "#name", as Slack answers with ids. */
function channelId(name: string): string {
  if (/^[CGD][A-Z0-9]+$/.test(name)) return name;
  CHANNEL_IDS[name] ??= `C${createHmac('sha256', 'ids').update(name).digest('hex').slice(0, 10).toUpperCase()}`;
  return CHANNEL_IDS[name]!;
}

export function slackSignature(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let raw = '';
  for await (const c of req) raw += c;
  return raw;
}

export async function startFakeSlack(opts: { botToken: string; signingSecret: string; users: FakeSlackUser[]; channels: string[]; team?: string }): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const messages: FakeMessage[] = [];
  const responses: Json[] = [];
  const views: FakeSlack['views'] = [];
  const triggers = new Set<string>();
  const limits = new Map<string, { count: number; retryAfter: number }>();
  const known = new Set(opts.channels.map(channelId));
  const team = opts.team ?? 'T0TEST';
  let seq = 0;

  function method(name: string, args: Json): Json {
    switch (name) {
      case 'chat.postMessage': {
        if (typeof args.channel !== 'string' || !known.has(channelId(args.channel))) return { ok: false, error: 'channel_not_found' };
        if (!args.text && !args.blocks) return { ok: false, error: 'no_text' };
        const ts = `${1_700_000_000 + ++seq}.000100`;
        const m: FakeMessage = { channel: channelId(args.channel), ts, text: args.text, blocks: args.blocks ?? [], updates: [] };
        messages.push(m);
        return { ok: true, channel: m.channel, ts, message: { type: 'message', text: m.text, blocks: m.blocks, ts, bot_id: 'B0AIRLOCK' } };
      }
      case 'chat.update': {
        const m = messages.find((x) => x.channel === args.channel && x.ts === args.ts);
        if (!m) return { ok: false, error: /^[CGD][A-Z0-9]+$/.test(String(args.channel)) ? 'message_not_found' : 'channel_not_found' };
        m.text = args.text;
        m.blocks = args.blocks ?? [];
        m.updates.push({ text: m.text, blocks: m.blocks });
        return { ok: true, channel: m.channel, ts: m.ts, text: m.text, message: { text: m.text, blocks: m.blocks } };
      }
      case 'chat.postEphemeral':
        if (!known.has(channelId(String(args.channel)))) return { ok: false, error: 'channel_not_found' };
        return { ok: true, message_ts: `${1_700_000_000 + ++seq}.000200` };
      case 'users.info': {
        const u = opts.users.find((x) => x.id === args.user);
        if (!u) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: { id: u.id, team_id: team, name: u.name, is_bot: false, is_email_confirmed: u.emailConfirmed ?? false, profile: { real_name: u.name, display_name: u.name, ...(u.email ? { email: u.email } : {}) } } };
      }
      case 'views.open': {
        if (typeof args.trigger_id !== 'string' || !triggers.delete(args.trigger_id)) return { ok: false, error: 'invalid_trigger_id' };
        const id = `V${String(++seq).padStart(8, '0')}`;
        views.push({ trigger_id: args.trigger_id, view: args.view, id });
        return { ok: true, view: { id, team_id: team, ...args.view, state: { values: {} } } };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = await readBody(req);
      if (url.pathname.startsWith('/response/')) {
        responses.push(JSON.parse(raw) as Json);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
      const name = url.pathname.replace(/^\/api\//, '');
      let args: Json = Object.fromEntries(url.searchParams);
      if (req.method === 'POST' && raw) args = /json/.test(req.headers['content-type'] ?? '') ? (JSON.parse(raw) as Json) : Object.fromEntries(new URLSearchParams(raw));
      calls.push({ method: name, args, contentType: req.headers['content-type'], authorization: req.headers.authorization });
      const answer = (status: number, body: Json, headers: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
      const limit = limits.get(name);
      if (limit && limit.count > 0) {
        limit.count--;
        return answer(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limit.retryAfter) });
      }
      if (req.headers.authorization !== `Bearer ${opts.botToken}`) return answer(200, { ok: false, error: req.headers.authorization ? 'invalid_auth' : 'not_authed' });
      answer(200, method(name, args));
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function sign(payload: Json, o: { timestamp?: number; secret?: string } = {}): SignedRequest {
    const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
    return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': slackSignature(o.secret ?? opts.signingSecret, ts, body), 'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)' } };
  }

  return {
    apiUrl: `${base}/api`,
    calls,
    messages,
    responses,
    views,
    rateLimit(m, count, retryAfter) {
      limits.set(m, { count, retryAfter });
    },
    click(user, message, actionId, o = {}) {
      const button = message.blocks.flatMap((b) => (b.type === 'actions' ? (b.elements as Json[]) : [])).find((e) => e.action_id === actionId);
      if (!button) throw new Error(`the message has no ${actionId} button`);
      const trigger = `${++seq}.${randomBytes(6).toString('hex')}`;
      triggers.add(trigger);
      const payload = {
        type: 'block_actions',
        user: { id: user.id, username: user.name, name: user.name, team_id: team },
        api_app_id: 'A0AIRLOCK',
        token: 'verification-token-is-deprecated',
        container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
        trigger_id: trigger,
        team: { id: team, domain: 'example' },
        channel: { id: message.channel, name: 'airlock-approvals' },
        message: { type: 'message', ts: message.ts, text: message.text, blocks: message.blocks },
        response_url: `${base}/response/${randomBytes(6).toString('hex')}`,
        actions: [{ action_id: actionId, block_id: 'airlock_decide', value: button.value, type: 'button', action_ts: `${Date.now() / 1000}`, text: button.text, ...(button.style ? { style: button.style } : {}) }],
      };
      return sign(payload, o);
    },
    submit(user, opened, comment, o = {}) {
      const input = (opened.view.blocks as Json[]).find((b) => b.type === 'input')!;
      const payload = {
        type: 'view_submission',
        team: { id: team, domain: 'example' },
        user: { id: user.id, username: user.name, name: user.name, team_id: team },
        api_app_id: 'A0AIRLOCK',
        trigger_id: `${++seq}.${randomBytes(6).toString('hex')}`,
        view: {
          id: opened.id, team_id: team, type: 'modal', callback_id: opened.view.callback_id, private_metadata: opened.view.private_metadata, blocks: opened.view.blocks, title: opened.view.title,
          state: { values: { [input.block_id]: { [input.element.action_id]: { type: 'plain_text_input', value: comment === '' ? null : comment } } } },
        },
        response_urls: [],
      };
      return sign(payload, o);
    },
    async send(url, r) {
      const res = await fetch(url, { method: 'POST', headers: r.headers, body: r.body });
      const text = await res.text();
      let json: Json | null = null;
      try {
        json = JSON.parse(text) as Json;
      } catch {
        json = null;
      }
      return { status: res.status, text, json };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
