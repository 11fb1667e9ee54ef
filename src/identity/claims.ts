// From an IdP's claims to Airlock: which principal a person is, and which Airlock groups their IdP groups give.
import type { OidcDef } from '../policy/schema.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Why the claims name no principal, or the name. */
export function principalFrom(claims: Record<string, unknown>, def: Pick<OidcDef, 'principal_claim'>): { name: string } | { problem: string } {
  const claim = def.principal_claim === 'email_local_part' ? 'email' : def.principal_claim;
  const raw = claims[claim];
  if (typeof raw !== 'string' || raw === '') return { problem: `the identity provider sent no "${claim}" claim to name the principal by (principal_claim: ${def.principal_claim})` };
  if (def.principal_claim === 'email_local_part' && claims.email_verified === false) return { problem: 'the identity provider says this e-mail address is not verified' };
  const name = (def.principal_claim === 'email_local_part' ? raw.split('@')[0]! : raw).toLowerCase();
  if (!NAME.test(name)) return { problem: `"${name}" (from the "${claim}" claim) is not a principal name Airlock accepts (1-63 of a-z 0-9 . _ -)` };
  return { name };
}

/** The IdP's group names from its claim: a list of strings, or one string. */
export function idpGroupsFrom(claims: Record<string, unknown>, def: Pick<OidcDef, 'groups_claim'>): string[] {
  const v = claims[def.groups_claim];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
}

/** The Airlock groups IdP groups give: by group_mapping, or passed through under group_prefix; sorted, once each. */
export function mapGroups(idpGroups: readonly string[], def: Pick<OidcDef, 'group_mapping' | 'group_prefix'>): string[] {
  const out = new Set<string>();
  if (def.group_mapping) {
    for (const g of idpGroups) for (const a of def.group_mapping[g] ?? []) out.add(a);
  } else if (def.group_prefix !== undefined) {
    for (const g of idpGroups) {
      // "/Payments Team" (Keycloak paths, display names) becomes "payments-team": a group name the policy can use.
      const n = `${def.group_prefix}${g.toLowerCase().replace(/^\/+/, '').replace(/[^a-z0-9._:-]+/g, '-')}`.slice(0, 63);
      if (/^[a-z0-9]/.test(n)) out.add(n);
    }
  }
  return [...out].sort();
}
