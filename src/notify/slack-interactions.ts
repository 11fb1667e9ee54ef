// Slack's interactivity requests: the v0 signature checked (timestamp window, constant time, no replays), the
// workspace and app checked when the policy names them, the Slack user mapped to a principal, and Approve / Deny turned into the same reviews the console makes (source 'slack').
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Log } from '../domain/log.js';
import type { Caller, Principal } from '../domain/model.js';
import type { Policy } from '../policy/compile.js';
import type { SecretRef, SlackDef } from '../policy/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import { makeSlackApi, type SlackApi } from './slack-api.js';
import { APPROVE_ACTION, DENY_ACTION } from './slack-messages.js';

/** Slack signs the time it sent a request; older ones are refused, and signatures seen within it are remembered. */
export const SIGNATURE_WINDOW_S = 300;
export const DENY_CALLBACK = 'airlock_deny';
const ID = /^(req|rev)_[A-Za-z0-9_-]{1,64}$/;
const NOT_LINKED = 'Your Slack account is not linked to an Airlock principal';

/** The decisions Slack may make: the same services the API calls. */
export interface SlackDecisions {
  approveRequest(caller: Caller, id: string): Promise<{ grant_id: string | null }>;
  denyRequest(caller: Caller, id: string, comment: string): Promise<unknown>;
  approveStatement(caller: Caller, id: string): Promise<{ status: string }>;
  denyStatement(caller: Caller, id: string, comment: string): Promise<unknown>;
}

export interface SlackInteractionDeps {
  slack: () => readonly SlackDef[];
  resolveSecret: (ref: SecretRef) => string;
  policy: () => Policy;
  clock: Clock;
  decisions: SlackDecisions;
  audit: Pick<AuditLog, 'append'>;
  log: Pick<Log, 'warn'>;
  /** The Web API client of a channel (tests may hand in their own base URL through the policy's api_url). */
  api?: (def: SlackDef) => SlackApi;
}

export interface SlackAnswer {
  status: number;
  /** A JSON body (view_submission errors); none: an empty 200, which is how Slack is acknowledged. */
  json?: unknown;
}

export function verifySlackSignature(secret: string, timestamp: string, raw: string, signature: string): boolean {
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${raw}`).digest('hex')}`);
  const got = Buffer.from(signature);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const unauthenticated = (why: string) => new AirlockError('AIRLOCK_UNAUTHENTICATED', `The Slack request was refused: ${why}.`);
const bad = (why: string) => new AirlockError('AIRLOCK_BAD_INPUT', `The Slack request could not be read: ${why}.`);

interface Payload {
  type?: unknown;
  user?: { id?: unknown; team_id?: unknown };
  team?: { id?: unknown };
  api_app_id?: unknown;
  trigger_id?: unknown;
  response_url?: unknown;
  channel?: { id?: unknown };
  actions?: { action_id?: unknown; value?: unknown }[];
  view?: { callback_id?: unknown; private_metadata?: unknown; state?: { values?: Record<string, Record<string, { value?: unknown }>> } };
}

export function makeSlackInteractions(deps: SlackInteractionDeps) {
  const apiFor = deps.api ?? ((def: SlackDef) => makeSlackApi({ apiUrl: def.api_url, token: () => deps.resolveSecret(def.bot_token), timeoutMs: 2500 }));
  /** Signatures seen, with when they stop mattering (their timestamp leaves the window). */
  const seen = new Map<string, number>();

  /** The channels whose signing secret signed this body (one app's secret may serve several channels). */
  function authenticate(headers: Record<string, string | string[] | undefined>, raw: string): SlackDef[] {
    const defs = deps.slack();
    if (!defs.length) throw new AirlockError('AIRLOCK_NOT_FOUND', 'Slack is not configured: the policy has no notify.slack channel.');
    const ts = headers['x-slack-request-timestamp'];
    const sig = headers['x-slack-signature'];
    if (typeof ts !== 'string' || typeof sig !== 'string') throw unauthenticated('X-Slack-Request-Timestamp and X-Slack-Signature are required');
    if (!/^\d{1,12}$/.test(ts)) throw unauthenticated('X-Slack-Request-Timestamp is not a Unix time');
    const now = Math.floor(deps.clock.now().getTime() / 1000);
    if (Math.abs(now - Number(ts)) > SIGNATURE_WINDOW_S) throw unauthenticated(`its timestamp is more than ${SIGNATURE_WINDOW_S / 60} minutes from this server's clock`);
    const signedBy = defs.filter((d) => {
      try {
        return verifySlackSignature(deps.resolveSecret(d.signing_secret), ts, raw, sig);
      } catch (e) {
        // A missing secret is the operator's to fix: logged, never told to whoever knocks.
        deps.log.warn({ channel: d.name, err: (e as Error).message }, "could not read a Slack channel's signing secret");
        return false;
      }
    });
    if (!signedBy.length) throw unauthenticated('the signature does not match any configured signing secret');
    for (const [k, until] of seen) if (until < now) seen.delete(k);
    if (seen.has(sig)) throw unauthenticated('this exact request was already received (a replay)');
    seen.set(sig, Number(ts) + SIGNATURE_WINDOW_S);
    return signedBy;
  }

  /**
   * The channel this request belongs to: one whose team_id and app_id (when set) are the payload's. The same app,
   * and so the same signing secret, may be installed in other workspaces; their clicks must not decide here.
   */
  async function channelFor(signedBy: SlackDef[], p: Payload): Promise<SlackDef> {
    const team = typeof p.team?.id === 'string' ? p.team.id : null;
    const app = typeof p.api_app_id === 'string' ? p.api_app_id : null;
    const teamOk = (d: SlackDef) => !d.team_id || d.team_id === team;
    const def = signedBy.find((d) => teamOk(d) && (!d.app_id || d.app_id === app));
    if (def) return def;
    const reason = signedBy.some(teamOk) ? 'other_app' : 'other_team';
    const message = reason === 'other_team' ? `Slack workspace ${team ?? '(none)'} is not the one this Airlock takes decisions from.` : `Slack app ${app ?? '(none)'} is not the one this Airlock takes decisions from.`;
    await refuse(signedBy[0]!, p, targetOf(p) ?? signedBy[0]!.name, reason, message);
    throw new AirlockError('AIRLOCK_FORBIDDEN', `The Slack request was refused: ${message}`);
  }

  function parse(raw: string): Payload {
    const payload = new URLSearchParams(raw).get('payload');
    if (payload === null) throw bad('the body has no payload= field');
    let p: unknown;
    try {
      p = JSON.parse(payload);
    } catch {
      throw bad('payload is not JSON');
    }
    if (typeof p !== 'object' || p === null || Array.isArray(p) || typeof (p as Payload).type !== 'string') throw bad('payload is not an interaction payload (no type)');
    const u = (p as Payload).user;
    if (typeof u !== 'object' || u === null || typeof u.id !== 'string') throw bad('payload has no user.id');
    return p as Payload;
  }

  /** The principal this Slack user is: the explicit mapping, else the policy principal with their verified e-mail. */
  async function principalOf(def: SlackDef, payload: Payload): Promise<{ principal: Principal } | { refused: string; reason: string }> {
    const userId = String(payload.user?.id);
    // A Slack Connect channel holds people of other organisations; their verified e-mail may still match a principal.
    if (def.team_id && payload.user?.team_id !== def.team_id) {
      return { refused: `${NOT_LINKED}: your account belongs to another Slack workspace (${String(payload.user?.team_id ?? 'unknown')}); only members of this workspace decide in Slack. Decide in the Airlock console instead.`, reason: 'external_user' };
    }
    const policy = deps.policy();
    const mapped = def.users[userId];
    if (mapped) {
      const p = policy.principal(mapped);
      return p ? { principal: p } : { refused: `${NOT_LINKED}: it is mapped to "${mapped}", who is not in the policy.`, reason: 'mapped_principal_unknown' };
    }
    const info = await apiFor(def).usersInfo(userId);
    if (!info.ok) return { refused: `${NOT_LINKED}: Slack did not tell Airlock who you are (${info.error}).`, reason: 'lookup_failed' };
    const user = info.body.user as { is_email_confirmed?: unknown; profile?: { email?: unknown } } | undefined;
    const email = typeof user?.profile?.email === 'string' ? user.profile.email.toLowerCase() : null;
    if (!email) return { refused: `${NOT_LINKED}: Slack shows no e-mail for your account. Ask an Airlock admin to map your Slack user id ${userId}.`, reason: 'no_email' };
    if (user?.is_email_confirmed !== true) return { refused: `${NOT_LINKED}: your Slack e-mail is not verified, so it cannot name you. Verify it in Slack, or ask an Airlock admin to map your Slack user id ${userId}.`, reason: 'email_unverified' };
    const p = policy.principals.find((x) => x.email?.toLowerCase() === email);
    return p ? { principal: p } : { refused: `${NOT_LINKED}: no principal has your e-mail. Ask an Airlock admin to add it to your principal, or to map your Slack user id ${userId}.`, reason: 'not_linked' };
  }

  async function refuse(def: SlackDef, p: Payload, target: string, reason: string, message: string): Promise<void> {
    await deps.audit.append({ actor: `slack:${String(p.user?.id)}`, action: 'slack.refused', target, source: 'slack', details: { channel: def.name, slack_user: p.user?.id, slack_team: p.team?.id ?? p.user?.team_id ?? null, reason, message } });
  }

  /** Tells the clicking user only: through the message's response_url, else an ephemeral message in the channel. */
  async function tell(def: SlackDef, p: Payload, text: string): Promise<void> {
    const url = typeof p.response_url === 'string' ? p.response_url : null;
    if (url && mayPostTo(def, url)) {
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }), signal: AbortSignal.timeout(2500) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch (e) {
        deps.log.warn({ channel: def.name, err: (e as Error).message }, 'could not answer through Slack response_url');
      }
    }
    const channel = p.channel?.id;
    if (typeof channel !== 'string') return;
    const res = await apiFor(def).postEphemeral({ channel, user: p.user?.id, text });
    if (!res.ok) deps.log.warn({ channel: def.name, error: res.error }, 'could not answer a Slack user');
  }

  async function blockActions(def: SlackDef, p: Payload): Promise<SlackAnswer> {
    const action = Array.isArray(p.actions) ? p.actions[0] : undefined;
    // Other buttons (Open in Airlock is a link) are acknowledged and nothing else.
    if (!action || (action.action_id !== APPROVE_ACTION && action.action_id !== DENY_ACTION)) return { status: 200 };
    const id = action.value;
    if (typeof id !== 'string' || !ID.test(id)) throw bad('the button carries no request or review id');
    const who = await principalOf(def, p);
    if ('refused' in who) {
      await refuse(def, p, id, who.reason, who.refused);
      await tell(def, p, who.refused);
      return { status: 200 };
    }
    const caller: Caller = { principal: who.principal, source: 'slack', token_id: null };
    if (action.action_id === DENY_ACTION) {
      if (typeof p.trigger_id !== 'string') throw bad('a Deny click carries no trigger_id');
      const opened = await apiFor(def).viewsOpen({ trigger_id: p.trigger_id, view: denyModal(id) });
      if (!opened.ok) await tell(def, p, `Airlock could not open the Deny form (${opened.error}); deny in the console or with: airlock deny ${id} --comment …`);
      return { status: 200 };
    }
    try {
      if (id.startsWith('rev_')) {
        const r = await deps.decisions.approveStatement(caller, id);
        await tell(def, p, r.status === 'approved' ? `You approved statement review ${id}; the statement runs once.` : `Your approval of statement review ${id} is recorded; it needs more approvals.`);
      } else {
        const r = await deps.decisions.approveRequest(caller, id);
        await tell(def, p, r.grant_id ? `You approved ${id}; the grant ${r.grant_id} is active.` : `Your approval of ${id} is recorded; it needs more approvals, or it was a review after the fact.`);
      }
    } catch (e) {
      await tell(def, p, describeError(e));
    }
    return { status: 200 };
  }

  async function viewSubmission(def: SlackDef, p: Payload): Promise<SlackAnswer> {
    if (p.view?.callback_id !== DENY_CALLBACK) return { status: 200 };
    let id: unknown;
    try {
      id = (JSON.parse(String(p.view.private_metadata)) as { id?: unknown }).id;
    } catch {
      throw bad('the Deny form lost which request it is about');
    }
    if (typeof id !== 'string' || !ID.test(id)) throw bad('the Deny form lost which request it is about');
    const comment = p.view.state?.values?.comment?.comment?.value;
    const errors = (text: string): SlackAnswer => ({ status: 200, json: { response_action: 'errors', errors: { comment: text.slice(0, 2000) } } });
    if (typeof comment !== 'string' || !comment.trim()) return errors('Say why you deny; the requester reads it.');
    const who = await principalOf(def, p);
    if ('refused' in who) {
      await refuse(def, p, id, who.reason, who.refused);
      return errors(who.refused);
    }
    const caller: Caller = { principal: who.principal, source: 'slack', token_id: null };
    try {
      if (id.startsWith('rev_')) await deps.decisions.denyStatement(caller, id, comment);
      else await deps.decisions.denyRequest(caller, id, comment);
    } catch (e) {
      return errors(describeError(e));
    }
    return { status: 200 };
  }

  return {
    /** One POST from Slack: the raw form body as received (the signature covers it byte for byte). */
    async handle(headers: Record<string, string | string[] | undefined>, raw: string): Promise<SlackAnswer> {
      const signedBy = authenticate(headers, raw);
      const p = parse(raw);
      const def = await channelFor(signedBy, p);
      if (p.type === 'block_actions') return blockActions(def, p);
      if (p.type === 'view_submission') return viewSubmission(def, p);
      return { status: 200 };
    },
  };
}

/** What a refusal is about, for the audit: the request or review the button or form names. */
function targetOf(p: Payload): string | null {
  const fromButton = Array.isArray(p.actions) ? p.actions[0]?.value : undefined;
  if (typeof fromButton === 'string' && ID.test(fromButton)) return fromButton;
  try {
    const fromForm = (JSON.parse(String(p.view?.private_metadata)) as { id?: unknown }).id;
    return typeof fromForm === 'string' && ID.test(fromForm) ? fromForm : null;
  } catch {
    return null;
  }
}

function describeError(e: unknown): string {
  if (e instanceof AirlockError) return `${e.code}: ${e.message}`;
  return 'AIRLOCK_INTERNAL: Something went wrong inside Airlock; try again, or decide in the console.';
}

/** Only Slack's own hosts, or the API's own origin (a test's fake Slack, an Enterprise Grid URL), get a reply. */
function mayPostTo(def: SlackDef, url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'https:' && (u.hostname === 'hooks.slack.com' || u.hostname.endsWith('.slack.com'))) || u.origin === new URL(def.api_url).origin;
  } catch {
    return false;
  }
}

function denyModal(id: string): Record<string, unknown> {
  const what = id.startsWith('rev_') ? 'statement' : 'request';
  return {
    type: 'modal',
    callback_id: DENY_CALLBACK,
    private_metadata: JSON.stringify({ id }),
    title: { type: 'plain_text', text: `Deny ${what}` },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `Deny ${what} \`${id}\`?` } },
      { type: 'input', block_id: 'comment', label: { type: 'plain_text', text: 'Why (the requester reads it)' }, element: { type: 'plain_text_input', action_id: 'comment', multiline: true, max_length: 1000 } },
    ],
  };
}
