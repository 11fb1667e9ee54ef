// Turns a validated policy document into fast lookups: by name, by resource, by group.
import { createHash } from 'node:crypto';
import type { Principal } from '../domain/model.js';
import { canonicalJson } from '../domain/canonical-json.js';
import type { PolicyDoc, ResourceDef, RoleDef, TimeWindow } from './schema.js';

/** The identity that the bootstrap token belongs to; always an admin, even when the policy does not name it. */
export const BOOTSTRAP_ADMIN = 'admin';

export interface Policy {
  readonly file: string;
  readonly doc: PolicyDoc;
  /** SHA-256 of the validated document, to tell versions apart in the audit log. */
  readonly hash: string;
  readonly principals: readonly Principal[];
  readonly resources: readonly ResourceDef[];
  readonly roles: readonly RoleDef[];
  principal(name: string): Principal | undefined;
  resource(name: string): ResourceDef | undefined;
  role(name: string): RoleDef | undefined;
  roleCovers(role: RoleDef, resource: ResourceDef): boolean;
  rolesFor(resource: ResourceDef): RoleDef[];
  canRequest(p: Principal, role: RoleDef): boolean;
  isApprover(p: Principal, role: RoleDef): boolean;
  approversFor(role: RoleDef): Principal[];
  isAdmin(p: Principal): boolean;
  isAuditor(p: Principal): boolean;
  /** Index of the first auto-approval rule that matches, or -1. */
  autoApproveRule(p: Principal, role: RoleDef, durationSeconds: number, now: Date): number;
  /** Where each of a principal's groups comes from: the policy file, the identity provider's last sign-in, or both. */
  groupSources(name: string): Record<string, GroupSource[]>;
}

export type GroupSource = 'file' | 'idp';

/** What a principal's last single sign-on said (src/identity/identities.ts), laid over the file's principals. */
export interface IdpIdentity {
  principal: string;
  groups: readonly string[];
  email: string | null;
  /** When the sign-in these groups came from ends; the overlay drops the identity then (identities.ts). */
  expiresAt: string;
}

type Day = TimeWindow['days'][number];

function inGroups(p: Principal, groups: readonly string[]): boolean {
  for (const g of groups) if (p.groups.includes(g)) return true;
  return false;
}

// Building an Intl.DateTimeFormat costs ~60 µs, a hundred times the rest of a decision: one per zone, kept.
const wallClocks = new Map<string, Intl.DateTimeFormat>();

function wallClock(zone: string): Intl.DateTimeFormat {
  let f = wallClocks.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    wallClocks.set(zone, f);
  }
  return f;
}

/** Whether `now` falls inside the window, read on the wall clock of the window's zone. */
export function inTimeWindow(w: TimeWindow, now: Date): boolean {
  const parts = wallClock(w.zone).formatToParts(now);
  const get = (t: string) => parts.find((x) => x.type === t)?.value ?? '';
  const day = get('weekday').slice(0, 3).toLowerCase();
  if (!w.days.includes(day as Day)) return false;
  const minutes = Number(get('hour')) * 60 + Number(get('minute'));
  const [fh, fm] = w.from.split(':').map(Number) as [number, number];
  const [th, tm] = w.to.split(':').map(Number) as [number, number];
  return minutes >= fh * 60 + fm && minutes < th * 60 + tm;
}

export function compilePolicy(doc: PolicyDoc, file: string): Policy {
  const principals: Principal[] = doc.principals.map((p) => ({ name: p.name, kind: p.kind, groups: p.groups, email: p.email }));
  if (!principals.some((p) => p.name === BOOTSTRAP_ADMIN)) principals.push({ name: BOOTSTRAP_ADMIN, kind: 'user', groups: [] });
  const byPrincipal = new Map(principals.map((p) => [p.name, p]));
  const byResource = new Map(doc.resources.map((r) => [r.name, r]));
  const byRole = new Map(doc.roles.map((r) => [r.name, r]));

  const roleCovers = (role: RoleDef, resource: ResourceDef): boolean => {
    if (role.resources.names.includes(resource.name)) return true;
    const labels = role.resources.labels;
    if (!labels) return false;
    for (const [k, v] of Object.entries(labels)) if (resource.labels[k] !== v) return false;
    return true;
  };
  const rolesByResource = new Map(doc.resources.map((res) => [res.name, doc.roles.filter((role) => roleCovers(role, res))]));

  const isApprover = (p: Principal, role: RoleDef) => role.approval.approver_principals.includes(p.name) || inGroups(p, role.approval.approver_groups);

  return {
    file,
    doc,
    hash: createHash('sha256').update(canonicalJson(doc)).digest('hex'),
    principals,
    resources: doc.resources,
    roles: doc.roles,
    principal: (n) => byPrincipal.get(n),
    resource: (n) => byResource.get(n),
    role: (n) => byRole.get(n),
    roleCovers,
    rolesFor: (res) => rolesByResource.get(res.name) ?? doc.roles.filter((role) => roleCovers(role, res)),
    canRequest: (p, role) => role.requestable_by.principals.includes(p.name) || inGroups(p, role.requestable_by.groups),
    isApprover,
    approversFor: (role) => principals.filter((p) => isApprover(p, role)),
    isAdmin: (p) => p.name === BOOTSTRAP_ADMIN || doc.admins.principals.includes(p.name) || inGroups(p, doc.admins.groups),
    isAuditor: (p) => doc.auditors.principals.includes(p.name) || inGroups(p, doc.auditors.groups),
    groupSources: (n) => Object.fromEntries((byPrincipal.get(n)?.groups ?? []).map((g) => [g, ['file' as const]])),
    autoApproveRule(p, role, durationSeconds, now) {
      return role.approval.auto_approve.findIndex(
        (rule) =>
          inGroups(p, rule.requester_groups) &&
          (rule.max_duration === undefined || durationSeconds <= rule.max_duration) &&
          (rule.time_window === undefined || inTimeWindow(rule.time_window, now)),
      );
    },
  };
}

/**
 * The policy with what the identity provider said at each person's last sign-in: a listed principal has the file's
 * groups plus the IdP's; a person not in the file exists (with the IdP's groups only) while allow_unlisted is on.
 */
export function withIdentities(base: Policy, identities: readonly IdpIdentity[]): Policy {
  if (identities.length === 0) return base;
  const allowUnlisted = base.doc.identity?.oidc?.allow_unlisted ?? false;
  const fromIdp = new Map<string, readonly string[]>();
  const principals: Principal[] = base.principals.map((p) => p);
  const index = new Map(principals.map((p, i) => [p.name, i]));
  for (const id of identities) {
    const at = index.get(id.principal);
    if (at !== undefined) {
      const p = principals[at]!;
      principals[at] = { ...p, groups: [...new Set([...p.groups, ...id.groups])] };
    } else if (allowUnlisted) {
      index.set(id.principal, principals.length);
      principals.push({ name: id.principal, kind: 'user', groups: [...id.groups], ...(id.email ? { email: id.email } : {}) });
    } else continue;
    fromIdp.set(id.principal, id.groups);
  }
  const byPrincipal = new Map(principals.map((p) => [p.name, p]));
  return {
    ...base,
    principals,
    principal: (n) => byPrincipal.get(n),
    approversFor: (role) => principals.filter((p) => base.isApprover(p, role)),
    groupSources(n) {
      const out: Record<string, GroupSource[]> = base.groupSources(n);
      for (const g of fromIdp.get(n) ?? []) out[g] = [...(out[g] ?? []), 'idp'];
      return out;
    },
  };
}
