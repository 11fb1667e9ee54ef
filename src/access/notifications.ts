// Turns committed changes into notices for people: who asks for what, break-glass alerts, decisions, revocations,
// statements held for review and their decisions.
import { formatDuration } from '../domain/duration.js';
import type { Access } from './access.js';
import type { Change } from './change-bus.js';
import type { Notice } from '../notify/webhooks.js';
import type { NoticeSubject } from '../notify/channel.js';
import { principalDef } from '../policy/statement-review-rule.js';
import type { StatementReview } from './statement-reviews.js';

/** "helper (agent of alice)" or "alice": who asks, naming an agent's sponsor. */
function asker(access: Access, principal: string): string {
  const p = access.policy();
  if (p.principal(principal)?.kind !== 'agent') return principal;
  const sponsor = principalDef(p.doc, principal)?.sponsor;
  return sponsor ? `${principal} (agent of ${sponsor})` : `${principal} (agent)`;
}

/** The held statement's notices. The literal text stays out of them (literals may hold secrets): the redacted text. */
function reviewNotice(access: Access, c: Change, r: StatementReview): Notice | undefined {
  const data = { review_id: r.id, principal: r.principal, principal_kind: r.principal_kind ?? 'user', sponsor: r.sponsor, resource: r.resource, role: r.role, grant_id: r.grant_id, session_id: r.session_id, status: r.status, summary: r.summary, redacted: r.redacted ?? null, expires_at: r.expires_at };
  const subject: NoticeSubject = { kind: 'statement_review', id: r.id };
  const what = r.redacted ? `"${r.redacted.length > 300 ? `${r.redacted.slice(0, 300)}…` : r.redacted}"` : `a ${r.summary.kinds.join('/') || 'statement'} on ${r.summary.tables.join(', ') || 'no table'}`;
  if (c.event === 'requested') {
    return { event: 'review.requested', subject, time: c.time, text: `${asker(access, r.principal)} waits for a review of ${what} on ${r.resource} (${r.role}). See it: airlock reviews show ${r.id}; then airlock approve ${r.id} / airlock deny ${r.id} --comment …`, data };
  }
  if (c.event === 'approved' || c.event === 'denied' || c.event === 'timed_out') {
    const how = c.event === 'approved' ? `approved by ${r.decided_by}` : c.event === 'denied' ? `denied by ${r.decided_by}: ${r.comment ?? ''}` : 'timed out without a decision';
    return { event: 'review.decided', subject, time: c.time, text: `${asker(access, r.principal)}'s statement ${r.id} on ${r.resource} was ${how}.`, data: { ...data, decided_by: r.decided_by, comment: r.comment } };
  }
  return undefined;
}

/** Every notice names its subject: the outbox sends it once per channel, and a channel can update its first message. */
export function attachNotifications(access: Access, send: (n: Notice) => void, onError: (e: unknown) => void): () => void {
  async function noticeFor(c: Change): Promise<Notice | undefined> {
    if (c.kind === 'request' && ['created', 'break_glass', 'approved', 'denied', 'timed_out', 'reviewed'].includes(c.event)) {
      const r = await access.requests.get(c.id);
      if (!r) return undefined;
      const what = `${r.role} on ${r.resource} for ${formatDuration(r.duration_seconds)}`;
      const who = asker(access, r.principal);
      const subject: NoticeSubject = { kind: 'request', id: r.id };
      const data: Record<string, unknown> = { request_id: r.id, principal: r.principal, sponsor: principalDef(access.policy().doc, r.principal)?.sponsor ?? null, resource: r.resource, role: r.role, duration_seconds: r.duration_seconds, reason: r.reason, ticket: r.ticket, grant_id: r.grant_id, break_glass: r.break_glass, created_at: r.created_at, decided_by: r.decided_by ?? null };
      // Chat messages show the deny comment, and a break-glass grant's one review after the fact.
      if (c.event === 'denied' || c.event === 'reviewed') {
        const reviews = await access.reviews.forRequest(r.id);
        const last = c.event === 'denied' ? reviews.filter((v) => v.decision === 'deny').at(-1) : reviews.find((v) => v.post_hoc);
        if (c.event === 'reviewed') {
          if (!last) return undefined;
          return { event: 'request.reviewed', subject, time: c.time, text: `${last.reviewer} ${last.decision === 'approve' ? 'approved' : 'denied (and revoked)'} ${r.principal}'s break-glass ${what} after the fact${last.comment ? `: ${last.comment}` : ''}.`, data: { ...data, decided_by: last.reviewer, decision: last.decision, comment: last.comment } };
        }
        data.comment = last?.comment ?? null;
      }
      switch (c.event) {
        case 'created':
          return r.status === 'pending' ? { event: 'request.created', subject, time: c.time, text: `${who} asks for ${what}: "${r.reason}"${r.ticket ? ` (${r.ticket})` : ''}. Review: airlock approve ${r.id} / airlock deny ${r.id} --comment …`, data } : undefined;
        case 'break_glass':
          return { event: 'request.break_glass', subject, time: c.time, text: `BREAK-GLASS: ${who} took ${what} without review: "${r.reason}". It needs a review now: airlock approve ${r.id} (or deny to revoke it)`, data };
        case 'approved':
          return { event: 'request.approved', subject, time: c.time, text: `${r.principal} was granted ${what}${r.auto_approved_by ? ' by rule' : ` by ${r.decided_by}`}.`, data };
        case 'denied':
          return { event: 'request.denied', subject, time: c.time, text: `${r.principal}'s request for ${what} was denied by ${r.decided_by}.`, data };
        case 'timed_out':
          return { event: 'request.timed_out', subject, time: c.time, text: `${r.principal}'s request for ${what} timed out without a decision.`, data };
      }
    }
    // Another process announces its own held statements; this one would only repeat them.
    if (c.kind === 'statement_review' && c.origin === undefined) {
      const r = await access.statementReviews.get(c.id);
      return r ? reviewNotice(access, c, r) : undefined;
    }
    if (c.kind === 'grant' && c.event === 'revoked') {
      const g = await access.grants.get(c.id);
      if (!g) return undefined;
      return { event: 'grant.revoked', subject: { kind: 'grant', id: g.id }, time: c.time, text: `${g.principal}'s ${g.role} access to ${g.resource} was revoked by ${g.ended_by}: ${g.end_reason}`, data: { grant_id: g.id, principal: g.principal, resource: g.resource, role: g.role, reason: g.end_reason } };
    }
    if (c.kind === 'grant' && c.event === 'expiring') {
      const g = await access.grants.get(c.id);
      if (!g || g.status !== 'active') return undefined;
      const secondsLeft = Math.round((Date.parse(g.expires_at) - Date.parse(c.time)) / 1000);
      return { event: 'grant.expiring', time: c.time, subject: { kind: 'grant', id: g.id }, text: `${g.principal}'s ${g.role} access to ${g.resource} ends in ${formatDuration(secondsLeft)} (at ${g.expires_at}); for more time, ask again: airlock request ${g.resource} --role ${g.role} --extends ${g.id} --for … --reason …`, data: { grant_id: g.id, request_id: g.request_id, principal: g.principal, resource: g.resource, role: g.role, expires_at: g.expires_at, seconds_left: secondsLeft } };
    }
    if (c.kind === 'lock' && c.event === 'created') {
      const lock = (await access.locks.list({ active: true })).find((l) => l.id === c.id);
      if (!lock) return undefined;
      return { event: 'lock.created', subject: { kind: 'lock', id: lock.id }, time: c.time, text: `${lock.created_by} locked ${lock.target_kind} ${lock.target}: ${lock.reason}`, data: { lock_id: lock.id, target_kind: lock.target_kind, target: lock.target, reason: lock.reason } };
    }
    return undefined;
  }
  return access.bus.subscribe((c) => {
    noticeFor(c).then((n) => n && send(n), onError);
  });
}
