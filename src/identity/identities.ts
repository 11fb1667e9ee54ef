// What the identity provider said about each person at their last single sign-on, kept in the store and laid over
// the policy's principals (withIdentities), so groups the IdP gives count, and those it takes away stop counting.
import type { Clock } from '../domain/clock.js';
import type { AuditInput } from '../domain/model.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Store } from '../store/store.js';
import { withIdentities, type IdpIdentity, type Policy } from '../policy/compile.js';

export interface SignInRecord {
  principal: string;
  subject: string;
  email: string | null;
  /** Whether the principal is in the policy file (otherwise signed in under allow_unlisted). */
  listed: boolean;
  /** The Airlock groups the IdP's groups map to. */
  groups: string[];
  /** The IdP's own group names, as its claim listed them. */
  idpGroups: string[];
  sessionExpiresAt: string;
  /** 'console' or 'cli': which sign-in this was. */
  via: string;
  source: string | null;
}

export function makeIdentities(deps: { store: Store; clock: Clock; audit: Pick<AuditLog, 'appendInTx' | 'published'> }) {
  const { store, clock, audit } = deps;
  let current: IdpIdentity[] = [];
  // policy() is called on every decision: one overlay per (policy, identities) pair, built on first use.
  let overlaid = new WeakMap<Policy, Policy>();

  function replace(list: IdpIdentity[]): void {
    current = list;
    overlaid = new WeakMap();
  }

  return {
    /** Reads every identity from the store (at start; after a sign-in on another process of a cluster). */
    async load(): Promise<void> {
      const rows = await store.db.selectFrom('identities').select(['principal', 'groups', 'email']).execute();
      replace(rows.map((r) => ({ principal: r.principal, groups: JSON.parse(r.groups) as string[], email: r.email })));
    },

    /** The policy with the IdP's groups of everyone who signed in. */
    overlay(base: Policy): Policy {
      let p = overlaid.get(base);
      if (!p) {
        p = withIdentities(base, current);
        overlaid.set(base, p);
      }
      return p;
    },

    /**
     * Records a sign-in: the person's groups become what the IdP says now (audited as sso.sign_in, and as
     * sso.groups_changed when they differ from the last sign-in's).
     */
    async recordSignIn(r: SignInRecord): Promise<{ added: string[]; removed: string[] }> {
      const now = clock.now().toISOString();
      const row = { principal: r.principal, source: 'oidc', subject: r.subject, email: r.email, listed: r.listed ? 1 : 0, groups: JSON.stringify(r.groups), groups_from_idp: JSON.stringify(r.idpGroups), last_sign_in_at: now, session_expires_at: r.sessionExpiresAt };
      // The row and its audit events commit together, as the access services' changes do (unit-of-work.ts).
      let events: Awaited<ReturnType<AuditLog['appendInTx']>> = [];
      const changed = await store.transaction(async (trx) => {
        const prev = await trx.selectFrom('identities').select(['groups']).where('principal', '=', r.principal).executeTakeFirst();
        if (prev) await trx.updateTable('identities').set(row).where('principal', '=', r.principal).execute();
        else await trx.insertInto('identities').values(row).execute();
        const was = prev ? (JSON.parse(prev.groups) as string[]) : [];
        const diff = { added: r.groups.filter((g) => !was.includes(g)), removed: was.filter((g) => !r.groups.includes(g)) };
        const entries: AuditInput[] = [{ actor: r.principal, action: 'sso.sign_in', target: r.principal, source: r.source, details: { subject: r.subject, groups: r.groups, idp_groups: r.idpGroups, source: 'oidc', via: r.via, listed: r.listed, session_expires_at: r.sessionExpiresAt } }];
        if (prev && (diff.added.length || diff.removed.length)) entries.push({ actor: r.principal, action: 'sso.groups_changed', target: r.principal, source: r.source, details: { added: diff.added, removed: diff.removed, groups: r.groups } });
        events = await audit.appendInTx(trx, entries);
        return diff;
      });
      audit.published(events);
      replace([...current.filter((i) => i.principal !== r.principal), { principal: r.principal, groups: r.groups, email: r.email }]);
      return changed;
    },

    async get(principal: string) {
      return store.db.selectFrom('identities').selectAll().where('principal', '=', principal).executeTakeFirst();
    },
  };
}

export type Identities = ReturnType<typeof makeIdentities>;
