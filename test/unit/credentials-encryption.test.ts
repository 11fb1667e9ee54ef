// Secrets at rest: AES-256-GCM round trips, every altered part or wrong key is detected, and the key file is made 0600.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encrypt, decrypt, loadOrCreateKey, loadKey, keyFromEnv, parseKey, isEncrypted, KEY_BYTES } from '../../src/credentials/encryption.js';
import { AirlockError } from '../../src/domain/errors.js';

const PLAIN = 'postgres-password-ümlaut-🔑';

function refused(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AirlockError);
    assert.match(e.message, mentions);
    assert.ok(!e.message.includes(PLAIN), 'no plaintext in the message');
    return true;
  });
}

/** Changes one character of one part to another valid base64 character. */
function alter(text: string, part: number, at = 0): string {
  const parts = text.split(':');
  const p = parts[part]!;
  const c = p[at]!;
  parts[part] = p.slice(0, at) + (c === 'A' ? 'B' : 'A') + p.slice(at + 1);
  return parts.join(':');
}

test('encrypt then decrypt returns the plaintext, with a fresh IV each time', () => {
  const key = randomBytes(KEY_BYTES);
  const a = encrypt(key, PLAIN);
  const b = encrypt(key, PLAIN);
  assert.match(a, /^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b);
  assert.ok(!a.includes(Buffer.from(PLAIN).toString('base64')));
  assert.equal(decrypt(key, a), PLAIN);
  assert.equal(decrypt(key, b), PLAIN);
  assert.equal(decrypt(key, encrypt(key, '')), '');
  assert.ok(isEncrypted(a));
  assert.ok(!isEncrypted('plain'));
});

test('altering any part of the text is detected', () => {
  const key = randomBytes(KEY_BYTES);
  const text = encrypt(key, PLAIN);
  refused(() => decrypt(key, text.replace(/^v1/, 'v2')), /key version 2, which this process was not given/);
  for (const part of [1, 2, 3]) {
    const len = text.split(':')[part]!.replace(/=+$/, '').length;
    for (const at of [0, Math.floor(len / 2), len - 1]) {
      refused(() => decrypt(key, alter(text, part, at)), /cannot be decrypted/);
    }
  }
  // The last character of a padded part has spare bits; a lenient decoder would accept this change unnoticed.
  const tag = text.split(':')[2]!;
  assert.ok(tag.endsWith('=='));
  const last = tag[tag.length - 3]!;
  const sibling = String.fromCharCode(last.charCodeAt(0) ^ 1);
  refused(() => decrypt(key, text.replace(tag, tag.slice(0, -3) + sibling + '==')), /cannot be decrypted/);
  refused(() => decrypt(key, text.split(':').slice(0, 3).join(':')), /format/);
  refused(() => decrypt(key, `${text}:extra`), /format/);
  refused(() => decrypt(key, text.replace(/:([^:]*)$/, ':')), /cannot be decrypted/);
  refused(() => decrypt(key, text.replace(/:([^:]*)$/, ':$1AAAA')), /cannot be decrypted/);
});

test('a wrong key is detected, as is a different context', () => {
  const text = encrypt(randomBytes(KEY_BYTES), PLAIN);
  refused(() => decrypt(randomBytes(KEY_BYTES), text), /altered, or it was encrypted with another key/);
  const key = randomBytes(KEY_BYTES);
  const bound = encrypt(key, PLAIN, 'resource:prod-orders');
  assert.equal(decrypt(key, bound, 'resource:prod-orders'), PLAIN);
  refused(() => decrypt(key, bound, 'resource:prod-billing'), /cannot be decrypted/);
  refused(() => decrypt(key, bound), /cannot be decrypted/);
  refused(() => encrypt(randomBytes(16), PLAIN), /32 bytes/);
});

test('the key file is created with mode 0600 and a random key, then reused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-key-'));
  const path = join(dir, 'nested', 'secret.key');
  const key = loadOrCreateKey(path);
  assert.equal(key.length, KEY_BYTES);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'nested')).mode & 0o077, 0);
  assert.match(readFileSync(path, 'utf8'), /^[A-Za-z0-9+/]{43}=\n$/);
  assert.deepEqual(loadOrCreateKey(path), key);
  assert.notDeepEqual(loadOrCreateKey(join(dir, 'other.key')), key);
  // Only the key file remains: the temporary file used for the atomic creation is gone.
  assert.deepEqual(readdirSync(join(dir, 'nested')), ['secret.key']);
});

test('AIRLOCK_SECRET_KEY wins over the key file; bad keys are refused clearly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-key-'));
  const envKey = randomBytes(KEY_BYTES);
  const env = { AIRLOCK_SECRET_KEY: envKey.toString('base64') };
  assert.deepEqual(loadKey({ keyFile: join(dir, 'k'), env }), envKey);
  assert.deepEqual(keyFromEnv({}), undefined);
  const fileKey = loadKey({ keyFile: join(dir, 'k'), env: {} });
  assert.deepEqual(loadKey({ keyFile: join(dir, 'k'), env: {} }), fileKey);
  refused(() => keyFromEnv({ AIRLOCK_SECRET_KEY: randomBytes(16).toString('base64') }), /AIRLOCK_SECRET_KEY must be 32 random bytes/);
  refused(() => parseKey('not base64!', 'the key'), /must be 32 random bytes/);
  writeFileSync(join(dir, 'short'), 'abcd\n');
  refused(() => loadOrCreateKey(join(dir, 'short')), /the key file .*short must be 32/);
});
