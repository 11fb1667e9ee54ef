// From an IdP's claims to Airlock: which principal a person is, and which Airlock groups their IdP groups give.
import type { OidcDef } from '../policy/schema.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** An IdP group already in Airlock's own form: passed through under group_prefix as it is, or not at all. */
const CANONICAL_GROUP = /^[a-z0-9][a-z0-9._:-]*$/;

/** Why a sign-in names no principal: a stable code (the sign-in page's ?sso_error=) and a sentence. */
export interface ClaimProblem {
  code: 'no_principal_claim' | 'email_unverified' | 'email_domain' | 'bad_principal_name';
  problem: string;
}

/** Why the claims name no principal, or the name. */
export function principalFrom(claims: Record<string, unknown>, def: Pick<OidcDef, 'principal_claim'> & { email_domains?: readonly string[] }): { name: string } | ClaimProblem {
  const claim = def.principal_claim === 'email_local_part' ? 'email' : def.principal_claim;
  const raw = claims[claim];
  if (typeof raw !== 'string' || raw === '') return { code: 'no_principal_claim', problem: `the identity provider sent no "${claim}" claim to name the principal by (principal_claim: ${def.principal_claim})` };
  let name = raw.toLowerCase();
  if (def.principal_claim === 'email_local_part') {
    // The local part names a person only inside the organisation's own, verified domains: alice@evil.example is not alice.
    if (claims.email_verified !== true) return { code: 'email_unverified', problem: 'the identity provider does not say this e-mail address is verified (email_verified), which principal_claim: email_local_part needs' };
    const at = name.lastIndexOf('@');
    const domain = at < 0 ? '' : name.slice(at + 1);
    if (!(def.email_domains ?? []).some((d) => d.toLowerCase() === domain)) return { code: 'email_domain', problem: `the e-mail address's domain "${domain}" is not one of identity.oidc.email_domains` };
    name = name.slice(0, at);
  }
  if (!NAME.test(name)) return { code: 'bad_principal_name', problem: `"${name}" (from the "${claim}" claim) is not a principal name Airlock accepts (1-63 of a-z 0-9 . _ -)` };
  return { name };
}

/** The IdP's group names from its claim: a list of strings, or one string. */
export function idpGroupsFrom(claims: Record<string, unknown>, def: Pick<OidcDef, 'groups_claim'>): string[] {
  const v = claims[def.groups_claim];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
}

/**
 * The Airlock groups IdP groups give: by group_mapping, or passed through under group_prefix; sorted, once each.
 * Pass-through never rewrites a name (folding "Sec Admins" and "sec-admins" into one would merge distinct groups):
 * an IdP group not already in Airlock's form, or whose prefixed name is `reserved` (the policy's admin and auditor
 * groups, which only group_mapping may give), is dropped and listed in `dropped`.
 */
export function mapGroups(idpGroups: readonly string[], def: Pick<OidcDef, 'group_mapping' | 'group_prefix'>, reserved: ReadonlySet<string> = new Set()): { groups: string[]; dropped: string[] } {
  const out = new Set<string>();
  const dropped: string[] = [];
  if (def.group_mapping) {
    for (const g of idpGroups) for (const a of def.group_mapping[g] ?? []) out.add(a);
  } else if (def.group_prefix) {
    for (const g of idpGroups) {
      const n = `${def.group_prefix}${g}`;
      if (CANONICAL_GROUP.test(g) && n.length <= 63 && !reserved.has(n)) out.add(n);
      else dropped.push(g);
    }
  }
  return { groups: [...out].sort(), dropped };
}
