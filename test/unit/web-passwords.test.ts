// Console passwords: scrypt with the parameters stored alongside, a salt per hash, and answers that take the same
// time whether or not there is a password to compare with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPasswordRules, hashPassword, SCRYPT_PARAMS, verifyPassword } from '../../src/access/passwords.js';

test('a hash names scrypt and its parameters, with its own salt', async () => {
  const a = await hashPassword('correct horse battery staple');
  const b = await hashPassword('correct horse battery staple');
  assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.ok(SCRYPT_PARAMS.N >= 2 ** 15 && SCRYPT_PARAMS.r === 8 && SCRYPT_PARAMS.p === 1);
  assert.equal(await verifyPassword('correct horse battery staple', a), true);
  assert.equal(await verifyPassword('correct horse battery stapler', a), false);
  assert.equal(await verifyPassword('Correct horse battery staple', b), false);
});

test('unknown, malformed or tampered hashes never verify, and still cost a full scrypt', async () => {
  const good = await hashPassword('a password of some length');
  // The fastest of a few real checks: other tests share the CPU, and a shortcut would take well under a millisecond.
  let real = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    assert.equal(await verifyPassword('a password of some length', good), true);
    real = Math.min(real, performance.now() - t0);
  }
  for (const stored of [undefined, '', 'plain', 'scrypt$1024$8$1$c2FsdHNhbHQ$AAAA', good.replace('$32768$', '$4194304$'), good.replace(/\$[^$]+$/, '$')]) {
    const t = performance.now();
    assert.equal(await verifyPassword('a password of some length', stored), false, String(stored));
    const spent = performance.now() - t;
    assert.ok(spent > real / 4, `no shortcut for ${String(stored).slice(0, 20)}: ${spent.toFixed(0)} ms vs ${real.toFixed(0)} ms`);
  }
});

test('the rules a new password must meet are told in a sentence', () => {
  assert.throws(() => checkPasswordRules('short'), /at least 12 characters/);
  assert.throws(() => checkPasswordRules(' padded password '), /must not start or end with spaces/);
  assert.throws(() => checkPasswordRules('x'.repeat(1025)), /at most 1024/);
  assert.doesNotThrow(() => checkPasswordRules('a long enough passphrase'));
});
