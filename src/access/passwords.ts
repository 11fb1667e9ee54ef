// Local console passwords: scrypt (memory-hard) with a per-principal random salt, compared in constant time.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Caller } from '../domain/model.js';
import type { Store } from '../store/store.js';
import type { UnitOfWork } from './unit-of-work.js';
import type { PolicyView } from './tokens.js';

/** N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s of one core per guess; stored with the hash, so it can be raised later. */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;
// A stored hash names its own parameters; these bounds stop an edited row from asking for a huge computation.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, KEY_BYTES, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$key`, the salt and key in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, SCRYPT_PARAMS);
  return ['scrypt', SCRYPT_PARAMS.N, SCRYPT_PARAMS.r, SCRYPT_PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

function parseHash(text: string): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every(Number.isSafeInteger) || N < 2 || (N & (N - 1)) !== 0 || N > MAX_N || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length !== KEY_BYTES) return undefined;
  return { N, r, p, salt, key };
}

// Used when there is no stored hash, so "no such principal" and "wrong password" take the same time.
const DUMMY = { ...SCRYPT_PARAMS, salt: Buffer.alloc(SALT_BYTES, 7), key: Buffer.alloc(KEY_BYTES) };

/** True when `password` matches `stored`; always spends one scrypt computation, match or not. */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parsed = (stored && parseHash(stored)) || undefined;
  const target = parsed ?? DUMMY;
  const key = await derive(password, target.salt, target);
  return timingSafeEqual(key, target.key) && parsed !== undefined;
}

export function checkPasswordRules(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new AirlockError('AIRLOCK_BAD_INPUT', `A password needs at least ${MIN_PASSWORD_LENGTH} characters; a few unrelated words make a good one.`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new AirlockError('AIRLOCK_BAD_INPUT', `A password may have at most ${MAX_PASSWORD_LENGTH} characters.`);
  if (password.trim() !== password) throw new AirlockError('AIRLOCK_BAD_INPUT', 'A password must not start or end with spaces (they are easy to lose when typing it).');
}

export function makePasswordService(deps: { store: Store; clock: Clock; uow: UnitOfWork; policy: () => PolicyView }) {
  const { store, clock, uow } = deps;
  return {
    /** Admins set anyone's password; others only their own. Ends the principal's password sessions in the console. */
    async set(caller: Caller, principalName: string, password: string): Promise<{ principal: string; updated_at: string; console_sessions_ended: number }> {
      const policy = deps.policy();
      const self = caller.principal.name === principalName;
      if (!self && !policy.isAdmin(caller.principal)) throw new AirlockError('AIRLOCK_FORBIDDEN', 'Only an admin can set someone else\'s password.');
      if (!policy.principal(principalName)) throw new AirlockError('AIRLOCK_UNKNOWN_PRINCIPAL', `There is no principal named "${principalName}" in the policy.`);
      checkPasswordRules(password);
      const hash = await hashPassword(password);
      const now = clock.now().toISOString();
      return uow(async (trx, rec) => {
        const existed = await trx.selectFrom('passwords').select('principal').where('principal', '=', principalName).executeTakeFirst();
        if (existed) await trx.updateTable('passwords').set({ hash, updated_at: now, updated_by: caller.principal.name }).where('principal', '=', principalName).execute();
        else await trx.insertInto('passwords').values({ principal: principalName, hash, updated_at: now, updated_by: caller.principal.name }).execute();
        // Whoever knew the old password is signed out; sessions opened with a token are not about the password.
        const ended = await trx.deleteFrom('console_sessions').where('principal', '=', principalName).where('method', '=', 'password').executeTakeFirst();
        const n = Number(ended.numDeletedRows ?? 0);
        rec.audit({ actor: caller.principal.name, action: 'password.set', target: principalName, source: caller.source, details: { self, first: !existed, console_sessions_ended: n } });
        return { principal: principalName, updated_at: now, console_sessions_ended: n };
      });
    },

    /** Checks a principal's password; false for unknown principals and principals without one, in the same time. */
    async verify(principalName: string, password: string): Promise<boolean> {
      if (password.length > MAX_PASSWORD_LENGTH) return false;
      const row = await store.db.selectFrom('passwords').select('hash').where('principal', '=', principalName).executeTakeFirst();
      return verifyPassword(password, row?.hash);
    },

    async list(): Promise<{ principal: string; updated_at: string; updated_by: string }[]> {
      return store.db.selectFrom('passwords').select(['principal', 'updated_at', 'updated_by']).orderBy('principal').execute();
    },
  };
}

export type PasswordService = ReturnType<typeof makePasswordService>;
