// What the identity provider said about each person at their last single sign-on, kept in the store and laid over
// the policy's principals (withIdentities) while that sign-in lasts, so groups the IdP gives count, and stop counting.
import type { Clock } from '../domain/clock.js';
import type { AuditInput } from '../domain/model.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Store } from '../store/store.js';
import { withIdentities, type IdpIdentity, type Policy } from '../policy/compile.js';

export interface SignInRecord {
  principal: string;
  /** The IdP's issuer and subject: a principal is pinned to the first pair that signs in as it. */
  issuer: string;
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
  /** Extra details for the sso.sign_in event (the device flow's starting address). */
  details?: Record<string, unknown>;
}

export function makeIdentities(deps: { store: Store; clock: Clock; audit: Pick<AuditLog, 'appendInTx' | 'published'> }) {
  const { store, clock, audit } = deps;
  let current: IdpIdentity[] = [];
  // policy() is called on every decision: one overlay per (policy, live identities) pair, built on first use, and
  // thrown away when the earliest live sign-in ends (its IdP groups then stop counting).
  let overlaid = new WeakMap<Policy, Policy>();
  let live: IdpIdentity[] = [];
  let nextEnd = -Infinity;

  function replace(list: IdpIdentity[]): void {
    current = list;
    nextEnd = -Infinity;
  }

  function refresh(now: number): void {
    if (now < nextEnd) return;
    live = current.filter((i) => Date.parse(i.expiresAt) > now);
    nextEnd = live.reduce((m, i) => Math.min(m, Date.parse(i.expiresAt)), Infinity);
    overlaid = new WeakMap();
  }

  return {
    /** Reads every identity from the store (at start; after a sign-in on another process of a cluster). */
    async load(): Promise<void> {
      const rows = await store.db.selectFrom('identities').select(['principal', 'groups', 'email', 'session_expires_at']).execute();
      replace(rows.map((r) => ({ principal: r.principal, groups: JSON.parse(r.groups) as string[], email: r.email, expiresAt: r.session_expires_at })));
    },

    /** The policy with the IdP's groups of everyone whose sign-in has not ended yet. */
    overlay(base: Policy): Policy {
      refresh(clock.now().getTime());
      let p = overlaid.get(base);
      if (!p) {
        p = withIdentities(base, live);
        overlaid.set(base, p);
      }
      return p;
    },

    /**
     * Records a sign-in: the person's groups become what the IdP says now (audited as sso.sign_in, and as
     * sso.groups_changed when they differ from the last sign-in's). A principal already signed in with another
     * issuer or subject is refused ('subject_mismatch'), nothing written: an admin unlinks it first.
     */
    async recordSignIn(r: SignInRecord): Promise<{ added: string[]; removed: string[] } | 'subject_mismatch'> {
      const now = clock.now().toISOString();
      // `source` keeps the issuer: the pin is the pair (issuer, subject). Rows from before the pin say 'oidc'.
      const row = { principal: r.principal, source: r.issuer, subject: r.subject, email: r.email, listed: r.listed ? 1 : 0, groups: JSON.stringify(r.groups), groups_from_idp: JSON.stringify(r.idpGroups), last_sign_in_at: now, session_expires_at: r.sessionExpiresAt };
      // The row and its audit events commit together, as the access services' changes do (unit-of-work.ts).
      let events: Awaited<ReturnType<AuditLog['appendInTx']>> = [];
      const changed = await store.transaction(async (trx) => {
        const prev = await trx.selectFrom('identities').select(['groups', 'source', 'subject']).where('principal', '=', r.principal).executeTakeFirst();
        if (prev && (prev.subject !== r.subject || (prev.source !== 'oidc' && prev.source !== r.issuer))) return 'subject_mismatch' as const;
        if (prev) await trx.updateTable('identities').set(row).where('principal', '=', r.principal).execute();
        else await trx.insertInto('identities').values(row).execute();
        const was = prev ? (JSON.parse(prev.groups) as string[]) : [];
        const diff = { added: r.groups.filter((g) => !was.includes(g)), removed: was.filter((g) => !r.groups.includes(g)) };
        const entries: AuditInput[] = [{ actor: r.principal, action: 'sso.sign_in', target: r.principal, source: r.source, details: { subject: r.subject, issuer: r.issuer, groups: r.groups, idp_groups: r.idpGroups, source: 'oidc', via: r.via, listed: r.listed, session_expires_at: r.sessionExpiresAt, ...r.details } }];
        if (prev && (diff.added.length || diff.removed.length)) entries.push({ actor: r.principal, action: 'sso.groups_changed', target: r.principal, source: r.source, details: { added: diff.added, removed: diff.removed, groups: r.groups } });
        events = await audit.appendInTx(trx, entries);
        return diff;
      });
      if (changed === 'subject_mismatch') return changed;
      audit.published(events);
      replace([...current.filter((i) => i.principal !== r.principal), { principal: r.principal, groups: r.groups, email: r.email, expiresAt: r.sessionExpiresAt }]);
      return changed;
    },

    /** Forgets what the IdP said about a principal, and the subject it is pinned to (audited sso.identity_unlinked). */
    async unlink(principal: string, actor: string, source: string | null): Promise<{ principal: string; subject: string; issuer: string } | undefined> {
      let events: Awaited<ReturnType<AuditLog['appendInTx']>> = [];
      const gone = await store.transaction(async (trx) => {
        const prev = await trx.selectFrom('identities').select(['source', 'subject']).where('principal', '=', principal).executeTakeFirst();
        if (!prev) return undefined;
        await trx.deleteFrom('identities').where('principal', '=', principal).execute();
        events = await audit.appendInTx(trx, [{ actor, action: 'sso.identity_unlinked', target: principal, source, details: { subject: prev.subject, issuer: prev.source } }]);
        return { principal, subject: prev.subject, issuer: prev.source };
      });
      audit.published(events);
      if (gone) replace(current.filter((i) => i.principal !== principal));
      return gone;
    },

    async get(principal: string) {
      return store.db.selectFrom('identities').selectAll().where('principal', '=', principal).executeTakeFirst();
    },
  };
}

export type Identities = ReturnType<typeof makeIdentities>;
