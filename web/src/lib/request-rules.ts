// The request form's checks, the same the server makes, so a mistake shows next to its field before sending.
import type { RoleOffer } from '../api/models.js';
import { parseDuration } from './time.js';

/** Checks the form like the server will, so mistakes show next to the field before sending. */
export function checkRequestForm(offer: RoleOffer | undefined, v: { duration: string; reason: string; ticket: string }): { duration?: string; reason?: string; ticket?: string } {
  const out: { duration?: string; reason?: string; ticket?: string } = {};
  const seconds = parseDuration(v.duration);
  if (seconds === undefined) out.duration = `"${v.duration}" is not a duration; write e.g. 30m, 1h or 1h30m.`;
  else if (offer && seconds > offer.maxDurationSeconds) out.duration = `At most ${offer.maxDuration} for this role.`;
  if (offer) {
    const j = offer.justification;
    if (j.required && !v.reason.trim()) out.reason = j.hint ?? 'Say why you need access.';
    else if (j.pattern && v.reason.trim()) {
      let ok = true;
      try {
        ok = new RegExp(j.pattern).test(v.reason);
      } catch {
        ok = true; // the server has the last word on a pattern the browser cannot read
      }
      if (!ok) out.reason = j.hint ?? `The reason must match ${j.pattern}.`;
    }
    if (j.ticketRequired && !v.ticket.trim()) out.ticket = 'This role needs a ticket reference.';
  }
  return out;
}
