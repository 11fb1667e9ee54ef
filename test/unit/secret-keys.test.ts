// Versioned keys of secrets at rest: which key is current, which are read, and what a rekey moves to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadSecretKeys } from '../../src/credentials/secret-keys.js';
import { decrypt, encrypt } from '../../src/credentials/encryption.js';

const k = () => randomBytes(32).toString('base64');

test('keys from the environment: NEXT is read and is the rekey target; afterwards the new key alone reads everything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
  try {
    const [k1, k2] = [k(), k()];
    const before = loadSecretKeys({ dataDir: dir, env: { AIRLOCK_SECRET_KEY: k1 } });
    const old = encrypt(before, 'pw', 'ctx');
    assert.match(old, /^v1:/);
    const during = loadSecretKeys({ dataDir: dir, env: { AIRLOCK_SECRET_KEY: k1, AIRLOCK_SECRET_KEY_NEXT: `v2:${k2}` } });
    assert.equal(during.current().version, 1);
    const target = during.rekeyTarget();
    assert.equal(target.version, 2);
    during.promote(2);
    const fresh = encrypt(during, decrypt(during, old, 'ctx'), 'ctx');
    assert.match(fresh, /^v2:/);
    const after = loadSecretKeys({ dataDir: dir, env: { AIRLOCK_SECRET_KEY: `v2:${k2}` } });
    assert.equal(decrypt(after, fresh, 'ctx'), 'pw');
    assert.throws(() => decrypt(after, old, 'ctx'), /key version 1, which this process was not given/);
    const withPrevious = loadSecretKeys({ dataDir: dir, env: { AIRLOCK_SECRET_KEY: `v2:${k2}`, AIRLOCK_SECRET_KEY_PREVIOUS: `v1:${k1}` } });
    assert.equal(decrypt(withPrevious, old, 'ctx'), 'pw');
    assert.ok(!existsSync(join(dir, 'secret.key')), 'no key file is made when the key comes from the environment');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key from the environment and no next key: rekey says what to set; a next key at or below the current version is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
  try {
    assert.throws(() => loadSecretKeys({ dataDir: dir, env: { AIRLOCK_SECRET_KEY: k() } }).rekeyTarget(), /AIRLOCK_SECRET_KEY_NEXT=v2:/);
    assert.throws(() => loadSecretKeys({ dataDir: dir, env: { AIRLOCK_SECRET_KEY: `v3:${k()}`, AIRLOCK_SECRET_KEY_NEXT: `v2:${k()}` } }), /version above the current key's \(v3\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys in files: the first start makes secret.key; a rekey makes secret.key.v2, which is current after a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
  try {
    const first = loadSecretKeys({ dataDir: dir, env: {} });
    assert.deepEqual(first.versions(), [1]);
    const t = first.rekeyTarget();
    assert.equal(t.file, join(dir, 'secret.key.v2'));
    rmSync(join(dir, 'secret.key'));
    const again = loadSecretKeys({ dataDir: dir, env: {} });
    assert.equal(again.current().version, 2);
    assert.ok(!existsSync(join(dir, 'secret.key')), 'no v1 key is made again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
