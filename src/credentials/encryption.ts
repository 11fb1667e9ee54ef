// Secrets at rest: AES-256-GCM with a key from AIRLOCK_SECRET_KEY or a 0600 key file, in a versioned text format.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AirlockError } from '../domain/errors.js';
import { createPrivateFileOnce } from '../store/private-file.js';

export const KEY_BYTES = 32;
/** 96-bit IVs are GCM's native size; random ones are safe for far more messages than a secret store will ever hold. */
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SECRET_KEY_ENV = 'AIRLOCK_SECRET_KEY';

/**
 * Versioned keys (src/credentials/secret-keys.ts): the ciphertext's prefix `v<N>` names the key version it was
 * encrypted with, so keys can be rotated while older ciphertexts stay readable until they are re-encrypted.
 */
export interface KeyRing {
  /** The key new ciphertexts are written with. */
  current(): { version: number; key: Buffer };
  /** The key of this version, if this process has it. */
  key(version: number): Buffer | undefined;
}

/** A bare key is key version 1 (what every ciphertext written before key rotation was made with). */
export type KeySource = Buffer | KeyRing;

function currentKey(keys: KeySource): { version: number; key: Buffer } {
  return Buffer.isBuffer(keys) ? { version: 1, key: keys } : keys.current();
}

/** The key version a ciphertext names (`v2:…` → 2), or undefined when the text is not in the format. */
export function keyVersionOf(text: string): number | undefined {
  const m = /^v([1-9][0-9]{0,5}):/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Parses a base64 key and checks it is exactly 32 bytes. `source` names where it came from, for the error message. */
export function parseKey(text: string, source: string): Buffer {
  const key = decodeBase64Strict(text.trim());
  if (!key || key.length !== KEY_BYTES) {
    throw new AirlockError(
      'AIRLOCK_BAD_INPUT',
      `${source} must be ${KEY_BYTES} random bytes in base64 (e.g. the output of: openssl rand -base64 32)`,
    );
  }
  return key;
}

/** The key from AIRLOCK_SECRET_KEY, or undefined when the variable is not set. */
export function keyFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const text = env[SECRET_KEY_ENV];
  if (text === undefined || text === '') return undefined;
  return parseKey(text, SECRET_KEY_ENV);
}

/**
 * Reads the key file, or creates it with a fresh random key when absent. Creation writes a temporary file with mode 0600
 * and hard-links it into place, so two processes starting together agree on one key and nobody reads a half-written file.
 */
export function loadOrCreateKey(path: string): Buffer {
  const existing = readKeyFile(path);
  if (existing) return existing;
  createPrivateFileOnce(path, `${randomBytes(KEY_BYTES).toString('base64')}\n`);
  const key = readKeyFile(path);
  if (!key) throw new AirlockError('AIRLOCK_INTERNAL', `the key file ${path} could not be created`);
  return key;
}

function readKeyFile(path: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new AirlockError('AIRLOCK_BAD_INPUT', `the key file ${path} cannot be read (${code ?? 'unknown error'})`);
  }
  return parseKey(text, `the key file ${path}`);
}

/** The key Airlock uses: AIRLOCK_SECRET_KEY when set (a deployment's secret manager), else the key file, created on first start. */
export function loadKey(opts: { keyFile: string; env?: NodeJS.ProcessEnv }): Buffer {
  return keyFromEnv(opts.env ?? process.env) ?? loadOrCreateKey(opts.keyFile);
}

/**
 * Encrypts to `v1:<iv>:<tag>:<ciphertext>` (standard base64 parts). `context`, when given, is authenticated but not
 * stored: pass e.g. the resource name so a ciphertext copied onto another row fails to decrypt there.
 */
export function encrypt(keys: KeySource, plaintext: string, context?: string): string {
  const { version, key } = currentKey(keys);
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (context !== undefined) cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [`v${version}`, iv.toString('base64'), tag.toString('base64'), ciphertext.toString('base64')].join(':');
}

/** Decrypts what encrypt() wrote. Throws AIRLOCK_INTERNAL when the text was altered or the key (or context) differs. */
export function decrypt(keys: KeySource, text: string, context?: string): string {
  const parts = text.split(':');
  const version = keyVersionOf(text);
  if (parts.length !== 4 || version === undefined) {
    throw unreadable(parts.length === 4 ? `unknown format version "${parts[0]?.slice(0, 8)}"` : 'not in the v<N>:<iv>:<tag>:<ciphertext> format');
  }
  const key = Buffer.isBuffer(keys) ? (version === 1 ? keys : undefined) : keys.key(version);
  if (!key) {
    throw unreadable(`it was encrypted with key version ${version}, which this process was not given (AIRLOCK_SECRET_KEY=v${version}:<key>, AIRLOCK_SECRET_KEY_PREVIOUS, or the key file secret.key${version === 1 ? '' : `.v${version}`}; see docs/credentials.md, "Rekeying secrets at rest")`);
  }
  checkKey(key);
  const iv = decodeBase64Strict(parts[1]!);
  const tag = decodeBase64Strict(parts[2]!);
  const ciphertext = decodeBase64Strict(parts[3]!);
  if (!iv || iv.length !== IV_BYTES || !tag || tag.length !== TAG_BYTES || !ciphertext) {
    throw unreadable('its parts are not valid base64 of the right lengths (was it altered?)');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  if (context !== undefined) decipher.setAAD(Buffer.from(context, 'utf8'));
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // OpenSSL's message ("Unsupported state or unable to authenticate data") is accurate but tells an operator nothing.
    throw unreadable(`the authentication tag does not match: the data was altered, or it was encrypted with another key (${SECRET_KEY_ENV} or the key file)`);
  }
}

/** True when the text looks like encrypt()'s output, e.g. to tell an encrypted column from a legacy plain one. */
export function isEncrypted(text: string): boolean {
  return keyVersionOf(text) !== undefined && text.split(':').length === 4;
}

function unreadable(why: string): AirlockError {
  return new AirlockError('AIRLOCK_INTERNAL', `a stored secret cannot be decrypted: ${why}`);
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new AirlockError('AIRLOCK_INTERNAL', `the encryption key must be ${KEY_BYTES} bytes, not ${key.length}`);
}

/**
 * Buffer.from(x, 'base64') skips invalid characters and ignores the spare bits of the last character, so two different
 * texts can decode to the same bytes. Only canonical base64 is accepted, so any change to the stored text is detected.
 */
function decodeBase64Strict(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
