// The versioned keys of secrets at rest: the current key (v1, v2, …), older ones kept for reading until a rekey
// re-encrypts what they wrote, and the next key a rekey moves to (docs/credentials.md, "Rekeying secrets at rest").
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError } from '../domain/errors.js';
import { KEY_BYTES, SECRET_KEY_ENV, loadOrCreateKey, parseKey, type KeyRing } from './encryption.js';

export const SECRET_KEY_NEXT_ENV = 'AIRLOCK_SECRET_KEY_NEXT';
export const SECRET_KEY_PREVIOUS_ENV = 'AIRLOCK_SECRET_KEY_PREVIOUS';
/** Version 1 lives in `secret.key` (the name it always had); version N ≥ 2 in `secret.key.vN`. */
export const KEY_FILE = 'secret.key';
const KEY_FILE_VERSION = /^secret\.key\.v([2-9]|[1-9][0-9]{1,5})$/;

export function keyFileName(version: number): string {
  return version === 1 ? KEY_FILE : `${KEY_FILE}.v${version}`;
}

export interface SecretKeys extends KeyRing {
  /** Versions this process can read, oldest first. */
  versions(): number[];
  /** Where the current key came from: the environment (a secret manager) or the data directory's key files. */
  readonly source: 'env' | 'file';
  /** AIRLOCK_SECRET_KEY_NEXT, when given: what `airlock secrets rekey` moves to. */
  readonly next: { version: number; key: Buffer } | undefined;
  /**
   * The key a rekey moves to: the next key from the environment, or (keys in files) a new key file secret.key.v<N+1>
   * made now. Refused when the key comes from the environment and no next key was given.
   */
  rekeyTarget(): { version: number; key: Buffer; file?: string };
  /** From now on, new ciphertexts are written with this version (it must be known). */
  promote(version: number): void;
}

/** `v<N>:<base64>` or a bare `<base64>` (then `defaultVersion`). */
export function parseVersionedKey(text: string, source: string, defaultVersion: number): { version: number; key: Buffer } {
  const m = /^v([1-9][0-9]{0,5}):(.*)$/s.exec(text.trim());
  return m ? { version: Number(m[1]), key: parseKey(m[2]!, source) } : { version: defaultVersion, key: parseKey(text, source) };
}

function keyFiles(dataDir: string): Map<number, string> {
  const out = new Map<number, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dataDir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n === KEY_FILE) out.set(1, join(dataDir, n));
    const m = KEY_FILE_VERSION.exec(n);
    if (m) out.set(Number(m[1]), join(dataDir, n));
  }
  return out;
}

/**
 * Reads every key this process is given. Current: AIRLOCK_SECRET_KEY when set (version from its `vN:` prefix, else 1),
 * else the highest-numbered key file; with neither, secret.key is made (first start). Also readable: every key file,
 * AIRLOCK_SECRET_KEY_PREVIOUS (`vN:<key>` entries, comma-separated) and AIRLOCK_SECRET_KEY_NEXT.
 */
export function loadSecretKeys(opts: { dataDir: string; env?: NodeJS.ProcessEnv }): SecretKeys {
  const env = opts.env ?? process.env;
  const keys = new Map<number, Buffer>();
  const add = (version: number, key: Buffer, source: string) => {
    const known = keys.get(version);
    if (known && !known.equals(key)) throw new AirlockError('AIRLOCK_BAD_INPUT', `${source} gives key version ${version} a different key than another source; each version has one key`);
    keys.set(version, key);
  };
  const files = keyFiles(opts.dataDir);
  for (const [version, file] of files) add(version, loadOrCreateKey(file), `the key file ${file}`);
  const fromEnv = env[SECRET_KEY_ENV] ? parseVersionedKey(env[SECRET_KEY_ENV]!, SECRET_KEY_ENV, 1) : undefined;
  if (fromEnv) add(fromEnv.version, fromEnv.key, SECRET_KEY_ENV);
  for (const [i, part] of (env[SECRET_KEY_PREVIOUS_ENV] ?? '').split(',').map((p) => p.trim()).filter(Boolean).entries()) {
    if (!/^v[1-9]/.test(part)) throw new AirlockError('AIRLOCK_BAD_INPUT', `${SECRET_KEY_PREVIOUS_ENV} entry ${i + 1} must name its version: v<N>:<base64 key>`);
    const k = parseVersionedKey(part, `${SECRET_KEY_PREVIOUS_ENV} entry ${i + 1}`, 1);
    add(k.version, k.key, SECRET_KEY_PREVIOUS_ENV);
  }
  if (!fromEnv && files.size === 0) {
    const file = join(opts.dataDir, KEY_FILE);
    add(1, loadOrCreateKey(file), `the key file ${file}`);
    files.set(1, file);
  }
  let currentVersion = fromEnv?.version ?? Math.max(...files.keys());
  const nextText = env[SECRET_KEY_NEXT_ENV];
  const next = nextText ? parseVersionedKey(nextText, SECRET_KEY_NEXT_ENV, Math.max(...keys.keys()) + 1) : undefined;
  if (next) {
    if (next.version <= currentVersion && !keys.get(next.version)?.equals(next.key)) {
      throw new AirlockError('AIRLOCK_BAD_INPUT', `${SECRET_KEY_NEXT_ENV} must have a version above the current key's (v${currentVersion}); write it as v${currentVersion + 1}:<base64 key>`);
    }
    add(next.version, next.key, SECRET_KEY_NEXT_ENV);
  }
  return {
    source: fromEnv ? 'env' : 'file',
    next,
    current: () => ({ version: currentVersion, key: keys.get(currentVersion)! }),
    key: (version) => keys.get(version),
    versions: () => [...keys.keys()].sort((a, b) => a - b),
    rekeyTarget() {
      if (next && next.version > currentVersion) return next;
      if (fromEnv) {
        throw new AirlockError('AIRLOCK_BAD_INPUT', `the key comes from ${SECRET_KEY_ENV}: give the new key as ${SECRET_KEY_NEXT_ENV}=v${currentVersion + 1}:<base64 key> (openssl rand -base64 32) to every Airlock process, then rekey`);
      }
      const version = Math.max(...keys.keys()) + 1;
      const file = join(opts.dataDir, keyFileName(version));
      const key = loadOrCreateKey(file);
      if (key.length !== KEY_BYTES) throw new AirlockError('AIRLOCK_INTERNAL', `the key file ${file} is not a key`);
      add(version, key, `the key file ${file}`);
      return { version, key, file };
    },
    promote(version) {
      if (!keys.has(version)) throw new AirlockError('AIRLOCK_INTERNAL', `key version ${version} is not known to this process`);
      currentVersion = version;
    },
  };
}
