// Turns committed changes into notices for people: who asks for what, break-glass alerts, decisions, revocations.
import { formatDuration } from '../domain/duration.js';
import type { Access } from './access.js';
import type { Change } from './change-bus.js';
import type { Notice } from '../notify/webhooks.js';

export function attachNotifications(access: Access, send: (n: Notice) => void, onError: (e: unknown) => void): () => void {
  async function noticeFor(c: Change): Promise<Notice | undefined> {
    if (c.kind === 'request' && ['created', 'break_glass', 'approved', 'denied', 'timed_out'].includes(c.event)) {
      const r = await access.requests.get(c.id);
      if (!r) return undefined;
      const what = `${r.role} on ${r.resource} for ${formatDuration(r.duration_seconds)}`;
      const data = { request_id: r.id, principal: r.principal, resource: r.resource, role: r.role, duration_seconds: r.duration_seconds, reason: r.reason, ticket: r.ticket, grant_id: r.grant_id };
      switch (c.event) {
        case 'created':
          return r.status === 'pending' ? { event: 'request.created', time: c.time, text: `${r.principal} asks for ${what}: "${r.reason}"${r.ticket ? ` (${r.ticket})` : ''}. Review: airlock approve ${r.id} / airlock deny ${r.id} --comment …`, data } : undefined;
        case 'break_glass':
          return { event: 'request.break_glass', time: c.time, text: `BREAK-GLASS: ${r.principal} took ${what} without review: "${r.reason}". It needs a review now: airlock approve ${r.id} (or deny to revoke it)`, data };
        case 'approved':
          return { event: 'request.approved', time: c.time, text: `${r.principal} was granted ${what}${r.auto_approved_by ? ' by rule' : ` by ${r.decided_by}`}.`, data };
        case 'denied':
          return { event: 'request.denied', time: c.time, text: `${r.principal}'s request for ${what} was denied by ${r.decided_by}.`, data };
        case 'timed_out':
          return { event: 'request.timed_out', time: c.time, text: `${r.principal}'s request for ${what} timed out without a decision.`, data };
      }
    }
    if (c.kind === 'grant' && c.event === 'revoked') {
      const g = await access.grants.get(c.id);
      if (!g) return undefined;
      return { event: 'grant.revoked', time: c.time, text: `${g.principal}'s ${g.role} access to ${g.resource} was revoked by ${g.ended_by}: ${g.end_reason}`, data: { grant_id: g.id, principal: g.principal, resource: g.resource, role: g.role, reason: g.end_reason } };
    }
    if (c.kind === 'lock' && c.event === 'created') {
      const lock = (await access.locks.list({ active: true })).find((l) => l.id === c.id);
      if (!lock) return undefined;
      return { event: 'lock.created', time: c.time, text: `${lock.created_by} locked ${lock.target_kind} ${lock.target}: ${lock.reason}`, data: { lock_id: lock.id, target_kind: lock.target_kind, target: lock.target, reason: lock.reason } };
    }
    return undefined;
  }
  return access.bus.subscribe((c) => {
    noticeFor(c).then((n) => n && send(n), onError);
  });
}
