// Block Kit messages for Slack: a request or held statement with who, what, why and the risk hints, its Approve /
// Deny buttons, and the same message once decided (buttons gone, who decided and when).
import { formatDuration } from '../domain/duration.js';
import { riskHints } from '../domain/risk-hints.js';
import type { Policy } from '../policy/compile.js';
import type { Notice } from './webhooks.js';

export const APPROVE_ACTION = 'airlock_approve';
export const DENY_ACTION = 'airlock_deny';
export const OPEN_ACTION = 'airlock_open';

/** Events that open a message with buttons. */
export const OPENING_EVENTS = new Set(['request.created', 'request.break_glass', 'review.requested']);
/** Events that update the message an opening event posted. */
export const DECISION_EVENTS = new Set(['request.approved', 'request.denied', 'request.timed_out', 'request.reviewed', 'review.decided']);

type Block = Record<string, unknown>;

/** Slack reads &, < and > as markup (<!channel>, <url|label>): text from users is escaped so it cannot mention or link. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const md = (text: string): Block => ({ type: 'mrkdwn', text });

/** A time a reader sees in their own zone (Slack's date formatting), with the UTC instant as the fallback and alongside. */
export function slackTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return escapeMrkdwn(iso);
  const utc = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `<!date^${Math.floor(d.getTime() / 1000)}^{date_short_pretty} at {time_secs}|${utc}> (${utc} UTC)`;
}

/** "*helper* `agent` of *alice*" or "*alice*". */
function who(n: Notice, policy: Policy): string {
  const name = String(n.data.principal ?? '?');
  const agent = n.data.principal_kind === 'agent' || policy.principal(name)?.kind === 'agent';
  const sponsor = str(n.data.sponsor);
  return `*${escapeMrkdwn(name)}*${agent ? ' `agent`' : ''}${agent && sponsor ? ` of *${escapeMrkdwn(sponsor)}* (sponsor)` : ''}`;
}

function riskLine(n: Notice, policy: Policy): Block | null {
  const resource = policy.resource(String(n.data.resource));
  const role = policy.role(String(n.data.role));
  const hints = riskHints({
    breakGlass: n.data.break_glass === true || n.event === 'request.break_glass',
    createdAt: new Date(str(n.data.created_at) ?? n.time),
    labels: resource?.labels,
    readOnly: role ? role.privileges.sql === 'read' : undefined,
  });
  if (!hints.length) return null;
  return { type: 'context', elements: hints.map((h) => md(`:warning: *${h.label}*: ${escapeMrkdwn(h.why)}`)) };
}

/** A statement for a code block: its literals already replaced, and no ``` that would end the block early. */
function codeBlock(s: string): string {
  const cut = s.length > 2500 ? `${s.slice(0, 2500)}…` : s;
  return '```' + escapeMrkdwn(cut).replace(/```/g, '`\u200b``') + '```';
}

function requestBlocks(n: Notice, policy: Policy): Block[] {
  const d = n.data;
  const breakGlass = d.break_glass === true || n.event === 'request.break_glass';
  const what = `*${escapeMrkdwn(String(d.role))}* on *${escapeMrkdwn(String(d.resource))}* for *${formatDuration(Number(d.duration_seconds) || 0)}*`;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: breakGlass ? 'Break-glass: access taken without review' : 'Access request' } },
    { type: 'section', text: md(`${who(n, policy)} ${breakGlass ? 'took' : 'asks for'} ${what}`) },
    { type: 'section', fields: [md(`*Why*\n${escapeMrkdwn(String(d.reason ?? ''))}`), md(`*Ticket*\n${escapeMrkdwn(str(d.ticket) ?? '—')}`)] },
  ];
  const risk = riskLine(n, policy);
  if (risk) blocks.push(risk);
  return blocks;
}

function summaryLine(summary: unknown): string {
  const s = summary as { kinds?: string[]; tables?: string[]; has_where?: boolean | null; writes?: boolean } | undefined;
  if (!s) return '';
  const parts = [`${(s.kinds ?? []).join(', ') || 'statement'} on ${(s.tables ?? []).join(', ') || 'no table'}`];
  if (s.has_where === false) parts.push('*no WHERE clause*');
  if (s.writes) parts.push('may write');
  return escapeMrkdwn(parts.join(' · '));
}

function statementBlocks(n: Notice, policy: Policy): Block[] {
  const d = n.data;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: 'Statement held for review' } },
    { type: 'section', text: md(`${who(n, policy)} wants to run a statement on *${escapeMrkdwn(String(d.resource))}* (role *${escapeMrkdwn(String(d.role))}*)`) },
  ];
  // Only the redacted text: the literals may hold secrets, and chat history is kept far longer than the audit log is read.
  const redacted = str(d.redacted);
  if (redacted) blocks.push({ type: 'section', text: md(codeBlock(redacted)) });
  blocks.push({ type: 'context', elements: [md(summaryLine(d.summary) || 'no summary')] });
  const risk = riskLine(n, policy);
  if (risk) blocks.push(risk);
  return blocks;
}

function idOf(n: Notice): string {
  return String(n.data.review_id ?? n.data.request_id ?? '');
}

function buttons(n: Notice, publicUrl: string | undefined): Block {
  const id = idOf(n);
  const postHoc = n.event === 'request.break_glass';
  const elements: Block[] = [
    { type: 'button', action_id: APPROVE_ACTION, style: 'primary', value: id, text: { type: 'plain_text', text: postHoc ? 'Approve after the fact' : 'Approve' } },
    { type: 'button', action_id: DENY_ACTION, style: 'danger', value: id, text: { type: 'plain_text', text: postHoc ? 'Deny and revoke' : 'Deny' } },
  ];
  // The console shows a request at /requests/<id>; held statements are listed on /reviews.
  if (publicUrl) elements.push({ type: 'button', action_id: OPEN_ACTION, url: id.startsWith('rev_') ? `${publicUrl}/reviews` : `${publicUrl}/requests/${encodeURIComponent(id)}`, text: { type: 'plain_text', text: 'Open in Airlock' } });
  return { type: 'actions', block_id: `airlock_decide:${id}`, elements };
}

function decisionLine(n: Notice): string {
  const by = str(n.data.decided_by);
  const comment = str(n.data.comment);
  const when = slackTime(n.time);
  const because = comment ? `: “${escapeMrkdwn(comment)}”` : '';
  switch (n.event) {
    case 'request.approved':
      return `:white_check_mark: *Approved* by ${escapeMrkdwn(by ?? 'rule')} on ${when}`;
    case 'request.denied':
      return `:no_entry: *Denied* by ${escapeMrkdwn(by ?? '?')} on ${when}${because}`;
    case 'request.timed_out':
      return `:hourglass: *Timed out* without a decision on ${when}`;
    case 'request.reviewed':
      return n.data.decision === 'deny' ? `:no_entry: *Denied after the fact* by ${escapeMrkdwn(by ?? '?')} on ${when}; the access was revoked${because}` : `:white_check_mark: *Approved after the fact* by ${escapeMrkdwn(by ?? '?')} on ${when}${because}`;
    default: {
      const status = String(n.data.status ?? '');
      if (status === 'denied') return `:no_entry: *Denied* by ${escapeMrkdwn(by ?? '?')} on ${when}${because}`;
      if (status === 'timed_out') return `:hourglass: *Timed out* without a decision on ${when}`;
      return `:white_check_mark: *Approved* by ${escapeMrkdwn(by ?? '?')} on ${when}${because}`;
    }
  }
}

/** The chat.postMessage / chat.update arguments (without channel and ts) for a notice. */
export function slackMessage(n: Notice, policy: Policy, publicUrl?: string): { text: string; blocks: Block[] } {
  const isReview = n.event.startsWith('review.');
  const isRequest = n.event.startsWith('request.');
  if (!isReview && !isRequest) return { text: escapeMrkdwn(n.text), blocks: [{ type: 'section', text: md(escapeMrkdwn(n.text)) }] };
  const blocks = isReview ? statementBlocks(n, policy) : requestBlocks(n, policy);
  const id = idOf(n);
  if (OPENING_EVENTS.has(n.event)) blocks.push(buttons(n, publicUrl));
  else blocks.push({ type: 'section', text: md(decisionLine(n)) });
  const asked = str(n.data.created_at) ?? (OPENING_EVENTS.has(n.event) ? n.time : null);
  blocks.push({ type: 'context', elements: [md(`${escapeMrkdwn(id)}${asked ? ` · asked on ${slackTime(asked)}` : ''}`)] });
  // `text` is what notifications and screen readers show (Slack reads markup in it too: escaped as the blocks are).
  return { text: escapeMrkdwn(n.text), blocks };
}
