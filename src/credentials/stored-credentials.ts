// Upstream passwords Airlock keeps itself (`password: { stored: true }`): set by an admin, encrypted at rest, read by
// the gateways per connection, and rotated on demand or on the resource's `rotate_every` schedule.
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../domain/clock.js';
import type { AuditInput } from '../domain/model.js';
import type { Log } from '../domain/log.js';
import { AirlockError } from '../domain/errors.js';
import { formatDuration } from '../domain/duration.js';
import type { DB, StoredCredentialsTable } from '../store/schema.js';
import type { Policy } from '../policy/compile.js';
import type { ResourceDef } from '../policy/schema.js';
import { randomBytes } from 'node:crypto';
import { decrypt, encrypt, type KeySource } from './encryption.js';
import { generatePassword } from './pg-sql.js';

/** What `airlock credential list` shows: never the password. Times are ISO-8601 UTC. */
export interface StoredCredentialView {
  resource: string;
  kind: string;
  username: string;
  /** False when the policy says stored but no admin has set it yet (sessions to the resource fail until then). */
  set: boolean;
  version: number | null;
  set_at: string | null;
  set_by: string | null;
  rotated_at: string | null;
  rotate_every: string | null;
  next_rotation_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
}

/** The upstream side of a rotation (src/gateway/upstream-password.ts), injected so this layer stays free of drivers. */
export type ChangePassword = (resource: ResourceDef, username: string, candidates: string[], next: string) => Promise<{ loggedInWith: number; revert(): Promise<void>; close(): Promise<void> }>;

/** Which of `candidates` the account logs in with, or -1: how an uncertain pending password is resolved. */
export type TryLogin = (resource: ResourceDef, username: string, candidates: string[]) => Promise<number>;

/** last_error starts so when the account may hold pending_secret instead of secret (docs/credentials.md, "Rotation"). */
const UNCERTAIN = 'uncertain: ';

/** A rotation that finds its lease taken by another (after LEASE_MS) stops here and leaves the row to that one. */
class LostLease extends Error {}

/** A rotation holds its row this long at most; one that died mid-way is taken over after it. */
const LEASE_MS = 2 * 60_000;
/** A failed scheduled rotation is tried again after this (or its own period, when shorter). */
const RETRY_MS = 60_000;
/** The schedule looks again at least this often, so a policy reload that adds rotate_every is noticed. */
const TICK_MS = 60_000;

/** The access layer's unit of work, as far as this uses it: one transaction for a change and its audit events. */
type UnitOfWork = <T>(fn: (trx: Transaction<DB>, rec: { audit(e: AuditInput): void }) => Promise<T>) => Promise<T>;

const context = (resource: string) => `stored-credential:${resource}`;

export function isStoredPassword(r: ResourceDef | undefined): r is ResourceDef {
  const p = r?.credential?.password;
  return !!p && 'stored' in p && (r!.kind === 'postgres' || r!.kind === 'mysql');
}

export function makeStoredCredentials(deps: {
  db: Kysely<DB>;
  clock: Clock;
  policy: () => Policy;
  keys: KeySource;
  /** Each change commits with its audit event in one transaction (src/access/unit-of-work.ts). */
  uow: UnitOfWork;
  changePassword: ChangePassword;
  /** Resolves an uncertain pending password on the next connection; without it only the next rotation does. */
  tryLogin?: TryLogin;
  log: Log;
}) {
  const { db, clock, log } = deps;
  /** resource → password: read per connection by the gateways' upstreamFor (refresh), synchronously by admin managers. */
  const cache = new Map<string, string>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  function resourceOf(name: string): ResourceDef {
    const r = deps.policy().resource(name);
    if (!r) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `There is no resource "${name}" in the policy.`);
    if (!isStoredPassword(r)) throw new AirlockError('AIRLOCK_BAD_INPUT', `The credential of ${name} is not stored by Airlock; to store it, write password: { stored: true } in its credential in the policy.`);
    return r;
  }

  const row = (name: string) => db.selectFrom('stored_credentials').selectAll().where('resource', '=', name).executeTakeFirst();

  function nextRotation(r: ResourceDef, s: StoredCredentialsTable | undefined): string | null {
    const every = r.credential?.rotate_every;
    if (!every || !s) return null;
    let due = Date.parse(s.rotated_at ?? s.set_at) + every * 1000;
    if (s.last_error_at) due = Math.max(due, Date.parse(s.last_error_at) + Math.min(RETRY_MS, every * 1000));
    return new Date(due).toISOString();
  }

  function view(r: ResourceDef, s: StoredCredentialsTable | undefined): StoredCredentialView {
    const every = r.credential?.rotate_every;
    return {
      resource: r.name, kind: r.kind, username: r.credential!.username, set: !!s, version: s?.version ?? null,
      set_at: s?.set_at ?? null, set_by: s?.set_by ?? null, rotated_at: s?.rotated_at ?? null,
      rotate_every: every ? formatDuration(every) : null, next_rotation_at: nextRotation(r, s),
      last_error: s?.last_error ?? null, last_error_at: s?.last_error_at ?? null,
    };
  }

  /** The stored password of a resource as it is now in the store (another process may have rotated it). */
  async function refresh(name: string): Promise<string | undefined> {
    let s = await row(name);
    if (!s) {
      cache.delete(name);
      return undefined;
    }
    if (s.pending_secret && s.last_error?.startsWith(UNCERTAIN)) s = (await recover(name).catch((e: unknown) => void log.warn({ resource: name, err: (e as Error).message }, 'could not resolve an uncertain stored credential'))) ?? s;
    const p = decrypt(deps.keys, s.secret, context(name));
    cache.set(name, p);
    return p;
  }

  async function set(name: string, password: string, by: { actor: string; source?: string | null }): Promise<StoredCredentialView> {
    const r = resourceOf(name);
    if (password.length === 0 || password.length > 1024 || password.includes('\0')) throw new AirlockError('AIRLOCK_BAD_INPUT', 'The password must be 1-1024 characters without NUL.');
    const now = clock.now().toISOString();
    const secret = encrypt(deps.keys, password, context(name));
    const before = await row(name);
    const version = (before?.version ?? 0) + 1;
    const values = { username: r.credential!.username, secret, pending_secret: null, version, set_at: now, set_by: by.actor, rotated_at: null, rotation_lease_until: null, rotation_lease_token: null, last_error: null, last_error_at: null };
    await deps.uow(async (trx, rec) => {
      // Not over a running rotation: it may already have changed the account's password, and would then lose it.
      const done = await trx.insertInto('stored_credentials').values({ resource: name, ...values })
        .onConflict((oc) => oc.column('resource').doUpdateSet(values).where((eb) => eb.or([eb('stored_credentials.rotation_lease_until', 'is', null), eb('stored_credentials.rotation_lease_until', '<', now)])))
        .executeTakeFirst();
      if (Number(done.numInsertedOrUpdatedRows ?? 0) === 0) throw inProgress(name);
      rec.audit({ actor: by.actor, action: 'credential.set', target: name, source: by.source ?? null, details: { username: r.credential!.username, version, replaced: !!before } });
    });
    cache.set(name, password);
    schedule();
    return view(r, await row(name));
  }

  async function list(): Promise<StoredCredentialView[]> {
    const rows = new Map((await db.selectFrom('stored_credentials').selectAll().execute()).map((s) => [s.resource, s]));
    return deps.policy().resources.filter(isStoredPassword).map((r) => view(r, rows.get(r.name)));
  }

  const inProgress = (name: string) => new AirlockError('AIRLOCK_ROTATION_IN_PROGRESS', `A rotation of ${name}'s password is already running; try again when it is done.`);

  /** Leases the row to a new token; the row as read under that lease. */
  async function claim(name: string): Promise<{ s: StoredCredentialsTable; token: string }> {
    const now = clock.now();
    const token = randomBytes(12).toString('base64url');
    const leased = await db.updateTable('stored_credentials').set({ rotation_lease_until: new Date(now.getTime() + LEASE_MS).toISOString(), rotation_lease_token: token })
      .where('resource', '=', name).where((eb) => eb.or([eb('rotation_lease_until', 'is', null), eb('rotation_lease_until', '<', now.toISOString())])).executeTakeFirst();
    const s = await row(name);
    if (!s) throw new AirlockError('AIRLOCK_NOT_FOUND', `No password is stored for ${name} yet; set it first: airlock credential set ${name}`);
    if (Number(leased.numUpdatedRows) === 0 || s.rotation_lease_token !== token) throw inProgress(name);
    return { s, token };
  }

  /** Writes to the row only while this holder's lease and the version it read still stand. */
  async function whileMine(trx: Kysely<DB> | Transaction<DB>, name: string, lease: { s: StoredCredentialsTable; token: string }, values: Partial<StoredCredentialsTable>): Promise<boolean> {
    const done = await trx.updateTable('stored_credentials').set(values).where('resource', '=', name)
      .where('version', '=', lease.s.version).where('rotation_lease_token', '=', lease.token).executeTakeFirst();
    return Number(done.numUpdatedRows) > 0;
  }

  /**
   * An uncertain pending password (a failed revert, a lost connection): logs in with the stored one, then the pending
   * one, and keeps whichever works. Undefined when another holds the lease or neither logs in.
   */
  async function recover(name: string): Promise<StoredCredentialsTable | undefined> {
    const r = deps.policy().resource(name);
    if (!deps.tryLogin || !isStoredPassword(r)) return undefined;
    const lease = await claim(name).catch(() => undefined);
    if (!lease) return undefined;
    const { s } = lease;
    const release = { rotation_lease_until: null, rotation_lease_token: null };
    if (!s.pending_secret || !s.last_error?.startsWith(UNCERTAIN)) return void (await whileMine(db, name, lease, release));
    const username = r.credential!.username;
    const i = await deps.tryLogin(r, username, [decrypt(deps.keys, s.secret, context(name)), decrypt(deps.keys, s.pending_secret, context(name))]).catch(() => -1);
    if (i < 0) return void (await whileMine(db, name, lease, release));
    const version = i === 1 ? s.version + 1 : s.version;
    await deps.uow(async (trx, rec) => {
      if (!(await whileMine(trx, name, lease, { ...(i === 1 ? { secret: s.pending_secret!, version } : {}), pending_secret: null, ...release, last_error: null, last_error_at: null }))) return;
      rec.audit({ actor: 'airlock', action: 'credential.recovered', target: name, source: null, details: { username, version, kept: i === 1 ? 'pending' : 'stored' } });
    });
    log.warn({ resource: name, kept: i === 1 ? 'pending' : 'stored' }, 'resolved an uncertain stored credential by logging in');
    return row(name);
  }

  /**
   * A rotation that lost its lease after it may have changed the account: the one that took over read our `next` as a
   * candidate (our pending write came first), unless it has already finished; then `next` waits as uncertain pending.
   */
  async function keepAfterLostLease(name: string, next: string, why: string): Promise<void> {
    const now = clock.now().toISOString();
    const kept = await db.updateTable('stored_credentials').set({ pending_secret: encrypt(deps.keys, next, context(name)), last_error: `${UNCERTAIN}lease: ${why}`, last_error_at: now })
      .where('resource', '=', name).where('pending_secret', 'is', null).where((eb) => eb.or([eb('rotation_lease_until', 'is', null), eb('rotation_lease_until', '<', now)])).executeTakeFirst();
    if (Number(kept.numUpdatedRows) === 0) log.error({ resource: name }, 'a rotation lost its lease after changing the upstream password; the rotation that took over tries it');
  }

  interface Failure { step: string; why: string; mayHoldNext: boolean; loggedInWith: number }

  /**
   * Records a failed rotation. pending_secret is cleared only when the account certainly does not hold it (the server
   * refused the change, or the revert worked); otherwise it stays, marked uncertain, for recover() or the next rotation.
   */
  async function fail(name: string, username: string, by: { actor: string; source?: string | null }, lease: { s: StoredCredentialsTable; token: string }, next: string, f: Failure, scheduled: boolean): Promise<never> {
    const { s } = lease;
    const now = clock.now().toISOString();
    // Logged in with the pending one of an interrupted rotation: the account held it then, so it becomes the stored one.
    const promote = f.loggedInWith === 1 && s.pending_secret ? { secret: s.pending_secret, version: s.version + 1 } : {};
    const pending = f.mayHoldNext ? encrypt(deps.keys, next, context(name)) : f.loggedInWith < 0 ? s.pending_secret : null;
    const uncertain = !!pending;
    const values = { ...promote, pending_secret: pending, rotation_lease_until: null, rotation_lease_token: null, last_error: `${uncertain ? UNCERTAIN : ''}${f.step}: ${f.why}`, last_error_at: now };
    const written = await deps.uow(async (trx, rec) => {
      if (!(await whileMine(trx, name, lease, values))) return false;
      rec.audit({ actor: by.actor, action: 'credential.rotate_failed', target: name, source: by.source ?? null, details: { username, step: f.step, error: f.why, scheduled, uncertain } });
      if (promote.secret) rec.audit({ actor: by.actor, action: 'credential.recovered', target: name, source: by.source ?? null, details: { username, version: promote.version, kept: 'pending' } });
      return true;
    });
    if (!written && f.mayHoldNext) await keepAfterLostLease(name, next, f.why);
    log.error({ resource: name, step: f.step, err: f.why, uncertain }, 'could not rotate the stored upstream password');
    const outcome = f.mayHoldNext
      ? 'The account may already have the new password: Airlock keeps it as pending (marked uncertain in last_error), and the next gateway connection or rotation logs in with the stored one, then the pending one, and keeps whichever works (audited credential.recovered).'
      : 'The previous password is unchanged and still in use.';
    throw new AirlockError('AIRLOCK_ROTATION_FAILED', `The password of ${name} was not rotated (${f.step}): ${f.why}. ${outcome}`);
  }

  /**
   * Sets a new random password on the upstream account, proves a new login with it, and only then stores it. The new
   * one waits in pending_secret meanwhile, so a process that dies mid-way leaves both known: the next rotation logs in
   * with whichever the account has. Every write is conditioned on this rotation's lease token and the version it read.
   */
  async function rotate(name: string, by: { actor: string; source?: string | null }, scheduled = false): Promise<StoredCredentialView> {
    const r = resourceOf(name);
    const lease = await claim(name);
    const { s } = lease;
    const username = r.credential!.username;
    const candidates = [decrypt(deps.keys, s.secret, context(name))];
    if (s.pending_secret) candidates.push(decrypt(deps.keys, s.pending_secret, context(name)));
    const next = generatePassword();
    if (!(await whileMine(db, name, lease, { pending_secret: encrypt(deps.keys, next, context(name)) }))) throw inProgress(name);
    let change: Awaited<ReturnType<ChangePassword>>;
    try {
      change = await deps.changePassword(r, username, candidates, next);
    } catch (e) {
      const x = e as { step?: string; mayHoldNext?: boolean; loggedInWith?: number };
      return fail(name, username, by, lease, next, { step: x.step ?? 'change', why: (e as Error).message, mayHoldNext: x.mayHoldNext ?? false, loggedInWith: x.loggedInWith ?? -1 }, scheduled);
    }
    try {
      const version = s.version + 1;
      await deps.uow(async (trx, rec) => {
        const values = { secret: encrypt(deps.keys, next, context(name)), pending_secret: null, version, rotated_at: clock.now().toISOString(), rotation_lease_until: null, rotation_lease_token: null, last_error: null, last_error_at: null };
        if (!(await whileMine(trx, name, lease, values))) throw new LostLease('another rotation took over the lease');
        rec.audit({ actor: by.actor, action: 'credential.rotate', target: name, source: by.source ?? null, details: { username, version, scheduled, ...(change.loggedInWith === 1 ? { recovered_interrupted_rotation: true } : {}) } });
        if (change.loggedInWith === 1) rec.audit({ actor: by.actor, action: 'credential.recovered', target: name, source: by.source ?? null, details: { username, version, kept: 'pending' } });
      });
      cache.set(name, next);
    } catch (e) {
      if (e instanceof LostLease) {
        // No revert: the account may already be the new owner's; it knows `next` as a candidate.
        await change.close();
        await keepAfterLostLease(name, next, e.message);
        throw new AirlockError('AIRLOCK_ROTATION_IN_PROGRESS', `The rotation of ${name}'s password ran past its lease and another rotation took it over; that one finishes it.`);
      }
      let reverted = true;
      await change.revert().catch(() => (reverted = false));
      await change.close();
      return fail(name, username, by, lease, next, { step: 'store', why: (e as Error).message, mayHoldNext: !reverted, loggedInWith: change.loggedInWith }, scheduled);
    }
    await change.close();
    schedule();
    return view(r, await row(name));
  }

  /** Rotates every stored credential whose rotate_every has come due (overdue ones at start too), then re-arms. */
  async function runDue(): Promise<void> {
    const now = clock.now().toISOString();
    for (const v of await list()) {
      if (stopped || !v.next_rotation_at || v.next_rotation_at > now) continue;
      await rotate(v.resource, { actor: 'airlock' }, true).catch((e: unknown) => {
        if ((e as AirlockError).code !== 'AIRLOCK_ROTATION_FAILED') log.warn({ resource: v.resource, err: (e as Error).message }, 'scheduled rotation did not run');
      });
    }
  }

  function schedule(): void {
    if (stopped || !started) return;
    void list().then((views) => {
      if (stopped) return;
      const due = views.map((v) => v.next_rotation_at).filter((t): t is string => !!t).sort()[0];
      const wait = due === undefined ? TICK_MS : Math.min(TICK_MS, Math.max(0, Date.parse(due) - clock.now().getTime()));
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void runDue().catch((e) => log.warn({ err: (e as Error).message }, 'scheduled credential rotation failed')).finally(schedule);
      }, wait);
      timer.unref?.();
    }).catch((e) => log.warn({ err: (e as Error).message }, 'could not read the stored credentials to schedule rotations'));
  }
  let started = false;

  return {
    set,
    list,
    rotate,
    refresh,
    /** The password last read for a resource in this process (for code that cannot wait: the per-grant admin managers). */
    cached: (name: string) => cache.get(name),
    /** Reads every stored password into the cache and arms the schedule; overdue rotations run right away. */
    async start(): Promise<void> {
      started = true;
      for (const v of await list()) if (v.set) await refresh(v.resource).catch((e) => log.warn({ resource: v.resource, err: (e as Error).message }, 'could not read a stored credential'));
      for (const v of await list()) if (!v.set) log.warn({ resource: v.resource }, `no password is stored for this resource yet; sessions to it fail until an admin runs: airlock credential set ${v.resource}`);
      schedule();
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}

export type StoredCredentials = ReturnType<typeof makeStoredCredentials>;
