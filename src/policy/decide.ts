// The policy's answer to "may P ask for role R on resource X like this?": one place, used by requests and by explain.
import { AirlockError, type ErrorCode } from '../domain/errors.js';
import { formatDuration } from '../domain/duration.js';
import type { Principal } from '../domain/model.js';
import type { Policy } from './compile.js';
import type { ResourceDef, RoleDef } from './schema.js';

export interface Refusal {
  code: ErrorCode;
  rule: string;
  message: string;
}

/** Refusals that depend only on who asks for what (not on the duration or reason). */
export function eligibility(policy: Policy, p: Principal, role: RoleDef, resource: ResourceDef): Refusal[] {
  const out: Refusal[] = [];
  if (!policy.roleCovers(role, resource)) {
    out.push({ code: 'AIRLOCK_ROLE_NOT_FOR_RESOURCE', rule: `roles.${role.name}.resources`, message: `role "${role.name}" does not cover resource "${resource.name}"` });
  }
  if (!policy.canRequest(p, role)) {
    const groups = role.requestable_by.groups.length ? `groups ${role.requestable_by.groups.join(', ')}` : 'no groups';
    out.push({ code: 'AIRLOCK_NOT_REQUESTABLE', rule: `roles.${role.name}.requestable_by`, message: `role "${role.name}" may be requested only by ${groups}${role.requestable_by.principals.length ? ` or ${role.requestable_by.principals.join(', ')}` : ''}; ${p.name} is in ${p.groups.length ? p.groups.join(', ') : 'no group'}` });
  }
  return out;
}

export interface RequestAsk {
  resource: string;
  role: string;
  duration_seconds: number;
  reason: string;
  ticket?: string | null | undefined;
  break_glass?: boolean | undefined;
}

/** Checks a request against the policy; throws the first refusal as an AirlockError a person can act on. */
export function checkRequest(policy: Policy, p: Principal, ask: RequestAsk): { role: RoleDef; resource: ResourceDef } {
  const resource = policy.resource(ask.resource);
  if (!resource) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `There is no resource named "${ask.resource}". List them with: airlock resources`);
  const role = policy.role(ask.role);
  if (!role) {
    const names = policy.rolesFor(resource).map((r) => r.name);
    throw new AirlockError('AIRLOCK_UNKNOWN_ROLE', `There is no role named "${ask.role}".${names.length ? ` Roles for ${resource.name}: ${names.join(', ')}` : ''}`);
  }
  const refusals = eligibility(policy, p, role, resource);
  if (refusals.length > 0) {
    const r = refusals[0]!;
    throw new AirlockError(r.code, `${capitalize(r.message)}.`, { rule: r.rule });
  }
  if (!Number.isSafeInteger(ask.duration_seconds) || ask.duration_seconds <= 0) {
    throw new AirlockError('AIRLOCK_BAD_DURATION', 'The duration must be positive, e.g. --for 30m.');
  }
  if (ask.duration_seconds > role.max_duration) {
    throw new AirlockError('AIRLOCK_BAD_DURATION', `Role "${role.name}" allows at most ${formatDuration(role.max_duration)}; you asked for ${formatDuration(ask.duration_seconds)}. Ask for less and extend later if needed.`, { rule: `roles.${role.name}.max_duration`, max_seconds: role.max_duration });
  }
  const j = role.justification;
  const hint = j.hint ? ` ${j.hint}` : '';
  const reason = ask.reason.trim();
  if (j.required && reason.length === 0) {
    throw new AirlockError('AIRLOCK_JUSTIFICATION', `Role "${role.name}" needs a reason: say why you need access.${hint}`, { rule: `roles.${role.name}.justification.required` });
  }
  if (j.pattern && !new RegExp(j.pattern).test(reason)) {
    throw new AirlockError('AIRLOCK_JUSTIFICATION', `The reason does not match the rule for role "${role.name}".${hint || ` It must match ${j.pattern}.`}`, { rule: `roles.${role.name}.justification.pattern` });
  }
  const ticket = ask.ticket?.trim() ?? '';
  if (j.ticket_required && ticket.length === 0) {
    throw new AirlockError('AIRLOCK_JUSTIFICATION', `Role "${role.name}" needs a ticket (--ticket).${hint}`, { rule: `roles.${role.name}.justification.ticket_required` });
  }
  if (ticket && j.ticket_pattern && !new RegExp(j.ticket_pattern).test(ticket)) {
    throw new AirlockError('AIRLOCK_JUSTIFICATION', `The ticket "${ticket}" does not match the rule for role "${role.name}".${hint || ` It must match ${j.ticket_pattern}.`}`, { rule: `roles.${role.name}.justification.ticket_pattern` });
  }
  if (ask.break_glass && !role.break_glass) {
    throw new AirlockError('AIRLOCK_BREAK_GLASS_NOT_ALLOWED', `Role "${role.name}" does not allow break-glass access; ask for a normal review.`, { rule: `roles.${role.name}.break_glass` });
  }
  return { role, resource };
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
