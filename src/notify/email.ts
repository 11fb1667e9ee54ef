// The e-mail channel: one message per notice to the people it concerns (approvers, reviewers, the requester, the
// security group), over SMTP with STARTTLS, with a subject a person can scan and links into the console.
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { Policy } from '../policy/compile.js';
import type { EmailDef, NotifyEvent, SecretRef } from '../policy/schema.js';
import { isStatementReviewer, mayDecide, principalDef } from '../policy/statement-review-rule.js';
import { formatDuration } from '../domain/duration.js';
import type { Log } from '../domain/log.js';
import type { Channel, DeliveryContext, DeliveryResult } from './channel.js';
import type { ChannelFactory } from './channels.js';
import type { Notice } from './webhooks.js';

export interface EmailDeps {
  /** The channel's name among channels (logs, the outbox, the audit log). */
  name?: string;
  /** The policy's notify.email, read at each delivery so a reload applies at once. */
  config: () => EmailDef | undefined;
  policy: () => Policy;
  /** The console's public URL without a trailing slash (ServerContext.publicUrl). */
  publicUrl: () => string;
  resolveSecret: (ref: SecretRef) => string;
  log: Pick<Log, 'warn'>;
  /** Connection, greeting and per-command timeout; default 9 s, inside the outbox's 10 s per attempt. */
  timeoutMs?: number;
}

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  html: string;
}

type Data = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

/** The names of the principals a notice is for, before their addresses are looked up. */
function recipientNames(n: Notice, policy: Policy, cfg: EmailDef): string[] {
  const d = n.data as Data;
  const requester = str(d.principal);
  const role = policy.role(str(d.role));
  // An agent's notices about itself go to its sponsor too: the person answerable for it reads e-mail, the agent does not.
  const owner = [requester, principalDef(policy.doc, requester)?.sponsor].filter((x): x is string => Boolean(x));
  const approvers = () => (role ? policy.approversFor(role).filter((p) => mayDecide(policy.doc, p)).map((p) => p.name) : []);
  const securityGroup = () => (cfg.security_group ? policy.principals.filter((p) => p.groups.includes(cfg.security_group!)).map((p) => p.name) : []);
  switch (n.event) {
    case 'request.created':
      return approvers().filter((p) => p !== requester);
    case 'request.break_glass':
      return [...securityGroup(), ...approvers()].filter((p) => p !== requester);
    case 'review.requested':
      return role ? policy.principals.filter((p) => p.name !== requester && isStatementReviewer(policy.doc, p, role)).map((p) => p.name) : [];
    case 'request.approved':
    case 'request.denied':
    case 'request.timed_out':
    case 'request.reviewed':
    case 'review.decided':
    case 'grant.expiring':
    case 'grant.revoked':
      return owner;
    case 'lock.created':
    case 'policy.reload_refused':
      return securityGroup();
  }
}

/** The scannable subject line of each event. */
function subjectLine(n: Notice): string {
  const d = n.data as Data;
  const what = `${str(d.role)} on ${str(d.resource)}`;
  const span = typeof d.duration_seconds === 'number' ? ` for ${formatDuration(d.duration_seconds)}` : '';
  const secondsLeft = typeof d.seconds_left === 'number' ? d.seconds_left : 0;
  const minutes = Math.max(1, Math.round(secondsLeft / 60));
  const left = secondsLeft >= 90 ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${Math.max(0, secondsLeft)} seconds`;
  const s: Record<NotifyEvent, () => string> = {
    'request.created': () => `${str(d.principal)} asks for ${what}${span}`,
    'request.break_glass': () => `BREAK-GLASS: ${str(d.principal)} took ${what}${span} without review`,
    'request.approved': () => `Approved: ${what}${span} for ${str(d.principal)}`,
    'request.denied': () => `Denied: ${what}${span} for ${str(d.principal)}`,
    'request.timed_out': () => `Timed out: ${str(d.principal)}'s request for ${what}${span}`,
    'request.reviewed': () => `Break-glass reviewed: ${what} for ${str(d.principal)} ${str(d.decision) === 'approve' ? 'approved' : 'denied and revoked'} by ${str(d.decided_by)}`,
    'review.requested': () => `${str(d.principal)} waits for a review of a statement on ${str(d.resource)}`,
    'review.decided': () => `Statement ${str(d.status).replace('_', ' ')}: ${str(d.review_id)} on ${str(d.resource)}`,
    'grant.expiring': () => `Your access to ${str(d.resource)} ends in ${left}`,
    'grant.revoked': () => `Revoked: ${str(d.principal)}'s access to ${str(d.resource)}`,
    'lock.created': () => `Locked: ${str(d.target_kind)} ${str(d.target)}`,
    'policy.reload_refused': () => 'The policy file was not loaded',
  };
  // Header-safe: one line, whatever a name or reason holds.
  return `[Airlock] ${s[n.event]()}`.replace(/[\r\n]+/g, ' ');
}

/** Where in the console the reader acts on the notice (web/src/api/urls.ts, `page`). */
export function consoleLink(n: Notice, base: string): string {
  const d = n.data as Data;
  if (n.event.startsWith('request.') && d.request_id) return `${base}/requests/${encodeURIComponent(str(d.request_id))}`;
  if (n.event.startsWith('review.')) return `${base}/reviews`;
  if (n.event === 'lock.created' || n.event === 'policy.reload_refused') return `${base}/admin`;
  return `${base}/`;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** The facts shown under the notice's sentence; never a statement's literal text (the notice holds only the redacted one). */
function facts(n: Notice): [string, string][] {
  const d = n.data as Data;
  const rows: [string, string][] = [];
  const add = (label: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') rows.push([label, str(v)]);
  };
  add('Who', d.principal);
  add('Sponsor', d.sponsor);
  add('Resource', d.resource);
  add('Role', d.role);
  if (typeof d.duration_seconds === 'number') add('For', formatDuration(d.duration_seconds));
  add('Reason', d.reason);
  add('Ticket', d.ticket);
  add('Statement', d.redacted);
  add('Ends at', d.expires_at && n.event === 'grant.expiring' ? d.expires_at : undefined);
  add('Request', d.request_id);
  add('Review', d.review_id);
  add('Grant', d.grant_id);
  return rows;
}

/** The message for a notice, given the addresses it goes to. */
export function composeMail(n: Notice, to: string[], base: string): Mail {
  const link = consoleLink(n, base);
  const rows = facts(n);
  const width = Math.max(...rows.map(([k]) => k.length), 0);
  const text = [n.text, '', ...rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`), '', `Open in the Airlock console: ${link}`, ''].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family: sans-serif">',
    `<p>${esc(n.text)}</p>`,
    rows.length ? `<table>${rows.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>` : '',
    `<p><a href="${esc(link)}">Open in the Airlock console</a></p>`,
    '</body></html>',
  ].join('\n');
  return { to, subject: subjectLine(n), text, html };
}

/** Mails on the same request or review thread together in the reader's mail program (the ref is the first one's Message-ID). */
function threading(ref: string | null): { inReplyTo?: string; references?: string } {
  return ref && /^<[^\s<>]+>$/.test(ref) ? { inReplyTo: ref, references: ref } : {};
}

type SmtpError = Error & { code?: string; responseCode?: number; response?: string };

/** What an SMTP failure means for the outbox: try again later, or give up at once with a clear reason. */
export function classifySmtpError(e: unknown, host: string): DeliveryResult {
  const err = e as SmtpError;
  const said = err.response ? `: ${err.response}` : '';
  if (err.code === 'EAUTH') return { ok: false, retryable: false, error: `the SMTP server ${host} refused the username or password${said} (check notify.email.smtp.username and password)` };
  if (err.code === 'ETLS' || (err.code === 'ESOCKET' && /certificate|self.signed|TLS/i.test(err.message))) {
    return { ok: false, retryable: false, error: `TLS with the SMTP server ${host} failed: ${err.message} (check notify.email.smtp.starttls and ca)` };
  }
  if (typeof err.responseCode === 'number') {
    // 4xx: the server asks us to come back later (greylisting, a full queue); 5xx: it refuses this message for good.
    return { ok: false, retryable: err.responseCode < 500, error: `the SMTP server ${host} answered ${err.responseCode}${said || `: ${err.message}`}` };
  }
  return { ok: false, retryable: true, error: `could not reach the SMTP server ${host}: ${err.message}` };
}

export function makeEmailChannel(deps: EmailDeps): Channel & { recipients(n: Notice): string[]; compose(n: Notice): Mail | null } {
  const name = deps.name ?? 'email';
  const timeoutMs = deps.timeoutMs ?? 9_000;
  /** Principals already reported as having no address: once per process, not once per notice. */
  const noAddress = new Set<string>();

  function recipients(n: Notice): string[] {
    const cfg = deps.config();
    if (!cfg) return [];
    const policy = deps.policy();
    const out = new Set<string>();
    for (const who of recipientNames(n, policy, cfg)) {
      const email = policy.principal(who)?.email;
      if (email) out.add(email);
      else if (!noAddress.has(who)) {
        noAddress.add(who);
        deps.log.warn({ channel: name, principal: who, event: n.event }, 'principal has no email in the policy; they are left out of e-mail notices');
      }
    }
    return [...out];
  }

  function compose(n: Notice): Mail | null {
    const to = recipients(n);
    return to.length ? composeMail(n, to, deps.publicUrl()) : null;
  }

  function transport(cfg: EmailDef) {
    const smtp = cfg.smtp;
    const implicit = smtp.starttls === 'implicit';
    return nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port ?? (implicit ? 465 : 587),
      secure: implicit,
      requireTLS: smtp.starttls === true,
      ignoreTLS: smtp.starttls === false,
      auth: smtp.username ? { user: smtp.username, pass: smtp.password ? deps.resolveSecret(smtp.password) : '' } : undefined,
      tls: smtp.ca ? { ca: readFileSync(smtp.ca, 'utf8') } : {},
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  return {
    name,
    kind: 'email',
    recipients,
    compose,
    wants(n: Notice): boolean {
      const cfg = deps.config();
      return cfg !== undefined && cfg.events.includes(n.event) && recipients(n).length > 0;
    },
    async deliver(n: Notice, ctx: DeliveryContext): Promise<DeliveryResult> {
      const cfg = deps.config();
      if (!cfg) return { ok: false, retryable: false, error: 'notify.email is no longer in the policy' };
      const mail = compose(n);
      // Nobody left to tell (the policy changed since): nothing to send is not a failure.
      if (!mail) return { ok: true };
      let t: ReturnType<typeof transport>;
      try {
        t = transport(cfg);
      } catch (e) {
        return { ok: false, retryable: false, error: `cannot set up e-mail to ${cfg.smtp.host}: ${(e as Error).message}` };
      }
      const abort = () => t.close();
      ctx.signal.addEventListener('abort', abort, { once: true });
      try {
        const info = await t.sendMail({ from: cfg.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, headers: { 'X-Airlock-Event': n.event }, ...threading(ctx.ref) });
        // Some recipients refused, others took it: sending again would repeat it to those who have it.
        const rejected = (info.rejected ?? []).map(String);
        if (rejected.length) deps.log.warn({ channel: name, event: n.event, rejected }, 'the SMTP server refused some recipients');
        return { ok: true, ref: info.messageId };
      } catch (e) {
        if (ctx.signal.aborted) return { ok: false, retryable: true, error: `gave up on the SMTP server ${cfg.smtp.host}: delivery aborted` };
        return classifySmtpError(e, cfg.smtp.host);
      } finally {
        ctx.signal.removeEventListener('abort', abort);
        t.close();
      }
    },
  };
}

/** The registry's e-mail entry: one channel named "email" when the policy has notify.email. */
export const emailChannels: ChannelFactory = (policy, deps) => {
  const cfg = policy.doc.notify.email;
  return cfg ? [makeEmailChannel({ config: () => cfg, policy: () => policy, publicUrl: deps.publicUrl, resolveSecret: deps.resolveSecret, log: deps.log })] : [];
};
