// What every per-grant login provider (PostgreSQL roles, MySQL users) keeps alike in the store's grant_credentials:
// the audit events of a login made, dropped or not dropped, the back-off of failed drops, and their retry timer.
import type { Grant, AuditInput } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import { decrypt, encrypt, type KeySource } from '../credentials/encryption.js';
import { resolveSecret } from '../credentials/secret-ref.js';
import type { ResourceDef } from '../policy/schema.js';
import type { Access } from '../access/access.js';
import type { PendingDrop } from '../credentials/provider.js';
import type { Log } from '../domain/log.js';

/** The resource's own credential, as the policy names it: the injected login, or the admin of per-grant logins. */
export function injectedLogin(resource: ResourceDef, stored?: (resource: string) => string | undefined): { user: string; password: string } {
  const ref = resource.credential?.password;
  if (!ref) throw new AirlockError('AIRLOCK_BAD_INPUT', `Resource "${resource.name}" has no upstream credential in the policy; an admin must add one.`);
  if (!('stored' in ref)) return { user: resource.credential!.username, password: resolveSecret(ref) };
  // A password Airlock keeps (src/credentials/stored-credentials.ts): the caller read it from the store just before.
  const password = stored?.(resource.name);
  if (password === undefined) throw new AirlockError('AIRLOCK_BAD_INPUT', `No password is stored for resource "${resource.name}" yet; an admin sets it with: airlock credential set ${resource.name}`);
  return { user: resource.credential!.username, password };
}

/** First retry of a failed drop after 5 s, doubling up to 15 min: quick for a passing lock, gentle for a lasting fault. */
export function dropRetryDelayMs(attempts: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempts - 1), 15 * 60_000);
}

/** A login made, dropped, or whose drop failed, as a provider's server-side manager reports it. */
export type LoginEvent =
  | { kind: 'created'; grantId: string; role: string; details: Record<string, unknown> }
  | { kind: 'dropped'; grantId: string | null; role: string; reason?: string | null; terminated: number }
  | { kind: 'drop_failed'; grantId: string | null; role: string; reason?: string | null; error: string };

export interface LoginRecords {
  /** Refuses (AIRLOCK_NO_GRANT) unless the grant, read again now, is still active: no login is made for an ended one. */
  stillActive(grant: Grant): Promise<void>;
  /** Keeps a login just made (its password encrypted, bound to the grant), then checks the grant did not end meanwhile. */
  save(grant: Grant, resource: string, login: { username: string; password: string }): Promise<void>;
  /** The grant's kept login; null when none was made; refuses (AIRLOCK_NO_GRANT) when it was dropped. */
  stored(grant: Grant, resource: string): Promise<{ username: string; password: string } | null>;
  /** The grant's login is gone from the server without our drop (its own expiry, another process, by hand). */
  gone(grantId: string): Promise<void>;
  /** Audits the event; a failed drop is also recorded with its next attempt, and the retry timer set. */
  record(resource: string, e: LoginEvent): Promise<void>;
  /** This kind's logins whose grant ended but whose drop failed, soonest retry first. */
  pendingDrops(): Promise<PendingDrop[]>;
  /** Tries every pending drop that is due. */
  retryDue(): Promise<void>;
  /** Stops the retry timer; nothing is retried after. */
  close(): void;
}

/**
 * `kind`: the resource kind whose rows these are (grant_credentials holds every kind's); `dropFor`: the provider's
 * drop of a grant's login; `what`: the login's name in log lines ('database role', 'database user'); `meanwhile`: what
 * still ends a login whose drop failed, for the log line.
 */
export function makeLoginRecords(deps: { access: Access; key: KeySource; kind: string; log: Log; what: string; meanwhile: string; dropFor(grant: Grant): Promise<void> }): LoginRecords {
  const { access, log, what } = deps;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;
  const audit = (e: AuditInput) => access.audit.append(e);

  async function pendingDrops(): Promise<PendingDrop[]> {
    const ofKind = access.policy().resources.filter((r) => r.kind === deps.kind).map((r) => r.name);
    if (ofKind.length === 0) return [];
    const rows = await access.store.db.selectFrom('grant_credentials').select(['grant_id', 'resource', 'username', 'drop_attempts', 'drop_error', 'next_drop_at'])
      .where('dropped_at', 'is', null).where('next_drop_at', 'is not', null).where('resource', 'in', ofKind).orderBy('next_drop_at').execute();
    return rows.map((r) => ({ grant_id: r.grant_id, resource: r.resource, username: r.username, attempts: r.drop_attempts, error: r.drop_error, next_attempt_at: r.next_drop_at }));
  }

  async function retryDue(): Promise<void> {
    const now = access.clock.now().toISOString();
    for (const p of await pendingDrops()) {
      if (closed || (p.next_attempt_at && p.next_attempt_at > now)) continue;
      const grant = await access.grants.get(p.grant_id);
      if (!grant || grant.status === 'active') continue;
      // A failure reschedules itself through record().
      await deps.dropFor(grant).catch(() => {});
    }
  }

  function scheduleRetry(): void {
    if (closed) return;
    void pendingDrops().then((pending) => {
      const first = pending[0]?.next_attempt_at;
      if (closed || !first) return;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        void retryDue().catch((e) => log.warn({ err: (e as Error).message }, `retrying per-grant ${what} drops failed`)).finally(scheduleRetry);
      }, Math.max(0, Date.parse(first) - access.clock.now().getTime()));
      retryTimer.unref?.();
    }).catch((e) => log.warn({ err: (e as Error).message }, `could not read the pending per-grant ${what} drops`));
  }

  async function record(resource: string, e: LoginEvent): Promise<void> {
    const now = access.clock.now();
    const db = access.store.db;
    if (e.kind === 'created') {
      await audit({ actor: 'airlock', action: 'credential.created', target: resource, details: { grant_id: e.grantId, role: e.role, ...e.details } });
      return;
    }
    if (e.kind === 'dropped') {
      await db.updateTable('grant_credentials').set({ dropped_at: now.toISOString(), next_drop_at: null }).where('resource', '=', resource).where('username', '=', e.role).where('dropped_at', 'is', null).execute();
      await audit({ actor: 'airlock', action: 'credential.dropped', target: resource, details: { grant_id: e.grantId, role: e.role, reason: e.reason ?? null, sessions_ended: e.terminated } });
      return;
    }
    const row = await db.selectFrom('grant_credentials').select(['drop_attempts']).where('resource', '=', resource).where('username', '=', e.role).where('dropped_at', 'is', null).executeTakeFirst();
    const attempts = (row?.drop_attempts ?? 0) + 1;
    const next = row ? new Date(now.getTime() + dropRetryDelayMs(attempts)).toISOString() : null;
    if (row) await db.updateTable('grant_credentials').set({ drop_attempts: attempts, drop_error: e.error, next_drop_at: next }).where('resource', '=', resource).where('username', '=', e.role).where('dropped_at', 'is', null).execute();
    await audit({ actor: 'airlock', action: 'credential.drop_failed', target: resource, details: { grant_id: e.grantId, role: e.role, reason: e.reason ?? null, attempt: attempts, error: e.error, next_attempt_at: next } });
    log.error({ resource, grant_id: e.grantId, role: e.role, attempt: attempts, next_attempt_at: next, err: e.error }, `could not drop a per-grant ${what}; ${deps.meanwhile}, and it will be tried again`);
    scheduleRetry();
  }

  async function stillActive(grant: Grant): Promise<void> {
    const now = await access.grants.get(grant.id);
    if (!now || now.status !== 'active' || now.expires_at <= access.clock.now().toISOString()) {
      throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${grant.resource}: grant ${grant.id} ended; request access again`);
    }
  }

  async function save(grant: Grant, resource: string, login: { username: string; password: string }): Promise<void> {
    await access.store.db
      .insertInto('grant_credentials')
      .values({ grant_id: grant.id, resource, username: login.username, secret: encrypt(deps.key, login.password, grant.id), created_at: access.clock.now().toISOString(), dropped_at: null })
      .execute();
    // The grant ended while its login was being made: the end's drop may have looked before the login was recorded,
    // so drop it here (a second drop finds it gone) and refuse.
    try {
      await stillActive(grant);
    } catch (e) {
      await deps.dropFor(grant).catch((err: unknown) => log.error({ grant_id: grant.id, err: (err as Error).message }, `could not drop a per-grant ${what} made as its grant ended; it is retried`));
      throw e;
    }
  }

  async function stored(grant: Grant, resource: string): Promise<{ username: string; password: string } | null> {
    const row = await access.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grant.id).executeTakeFirst();
    if (row?.dropped_at) throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${resource}: the database login of grant ${grant.id} was removed when it ended; request access again`);
    return row ? { username: row.username, password: decrypt(deps.key, row.secret, grant.id) } : null;
  }

  async function gone(grantId: string): Promise<void> {
    await access.store.db.updateTable('grant_credentials').set({ dropped_at: access.clock.now().toISOString(), next_drop_at: null }).where('grant_id', '=', grantId).where('dropped_at', 'is', null).execute();
  }

  return {
    stillActive,
    save,
    stored,
    gone,
    record,
    pendingDrops,
    retryDue,
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
    },
  };
}
