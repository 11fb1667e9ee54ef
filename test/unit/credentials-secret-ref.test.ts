// Secret references: env and file lookups, refusal of inline values, and a Secret that never prints its value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, format } from 'node:util';
import { Secret, resolveSecret, parseSecretRef, loadSecret, describeSecretRef, type SecretRef } from '../../src/credentials/secret-ref.js';
import { AirlockError } from '../../src/domain/errors.js';

const VALUE = 'hunter2-S3cr3t';

function badInput(fn: () => unknown, mentions: RegExp): AirlockError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AirlockError, `expected an AirlockError, got ${String(caught)}`);
  assert.equal(caught.code, 'AIRLOCK_BAD_INPUT');
  assert.match(caught.message, mentions);
  assert.ok(!caught.message.includes(VALUE), 'the message must not carry the value');
  assert.ok(!JSON.stringify(caught.details ?? {}).includes(VALUE), 'the details must not carry the value');
  return caught;
}

test('an env reference reads the variable', () => {
  assert.equal(resolveSecret({ env: 'UPSTREAM_PW' }, { env: { UPSTREAM_PW: VALUE } }), VALUE);
});

test('a missing or empty env variable is named, its value is not', () => {
  badInput(() => resolveSecret({ env: 'UPSTREAM_PW' }, { env: {} }), /UPSTREAM_PW is not set/);
  badInput(() => resolveSecret({ env: 'UPSTREAM_PW' }, { env: { UPSTREAM_PW: '' } }), /UPSTREAM_PW is empty/);
});

test('process.env is the default environment', () => {
  process.env.AIRLOCK_TEST_SECRET_REF = VALUE;
  try {
    assert.equal(resolveSecret({ env: 'AIRLOCK_TEST_SECRET_REF' }), VALUE);
  } finally {
    delete process.env.AIRLOCK_TEST_SECRET_REF;
  }
});

test('a file reference reads the file and drops one trailing newline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-secret-'));
  writeFileSync(join(dir, 'pw'), `${VALUE}\n`);
  writeFileSync(join(dir, 'crlf'), `${VALUE}\r\n`);
  writeFileSync(join(dir, 'two'), ` ${VALUE}\n\n`);
  assert.equal(resolveSecret({ file: join(dir, 'pw') }), VALUE);
  assert.equal(resolveSecret({ file: join(dir, 'crlf') }), VALUE);
  // Only one newline is an editor's; everything else is part of the secret.
  assert.equal(resolveSecret({ file: join(dir, 'two') }), ` ${VALUE}\n`);
  assert.equal(resolveSecret({ file: 'pw' }, { baseDir: dir }), VALUE);
});

test('a missing, empty, unreadable or odd file is named, its content is not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-secret-'));
  badInput(() => resolveSecret({ file: join(dir, 'nope') }), /nope cannot be read \(ENOENT\)/);
  writeFileSync(join(dir, 'empty'), '\n');
  badInput(() => resolveSecret({ file: join(dir, 'empty') }), /empty is empty/);
  mkdirSync(join(dir, 'adir'));
  badInput(() => resolveSecret({ file: join(dir, 'adir') }), /adir is not a regular file/);
  writeFileSync(join(dir, 'big'), 'x'.repeat(70 * 1024));
  badInput(() => resolveSecret({ file: join(dir, 'big') }), /big is larger than/);
  if (process.getuid?.() !== 0) {
    writeFileSync(join(dir, 'locked'), VALUE);
    chmodSync(join(dir, 'locked'), 0);
    badInput(() => resolveSecret({ file: join(dir, 'locked') }), /locked cannot be read \(EACCES\)/);
  }
});

test('inline values and malformed references are refused without echoing them', () => {
  badInput(() => parseSecretRef({ value: VALUE }), /inline secret values are not allowed/);
  badInput(() => resolveSecret({ value: VALUE } as unknown as SecretRef), /inline secret values are not allowed/);
  badInput(() => parseSecretRef({ env: 'A', file: '/b' }), /both env and file/);
  badInput(() => parseSecretRef({ password: VALUE }), /unknown keys: password/);
  badInput(() => parseSecretRef({ env: VALUE }), /must name an environment variable/);
  badInput(() => parseSecretRef(VALUE), /must be an object/);
  badInput(() => parseSecretRef({}), /must be/);
  assert.deepEqual(parseSecretRef({ env: 'PGPASSWORD' }), { env: 'PGPASSWORD' });
  assert.equal(describeSecretRef({ file: '/run/secrets/pg' }), 'file:/run/secrets/pg');
});

test('a Secret prints as [secret] everywhere and reveals on request', () => {
  const s = new Secret(VALUE);
  assert.equal(s.reveal(), VALUE);
  const renderings = [
    String(s),
    `${s}`,
    'x' + s,
    JSON.stringify({ password: s }),
    inspect(s),
    inspect({ nested: { s } }, { showHidden: true, depth: 10 }),
    format('%s %o %O %j', s, s, s, { s }),
    Object.keys(s).join(','),
  ];
  for (const text of renderings) assert.ok(!text.includes(VALUE), `leaked through: ${text}`);
  assert.equal(JSON.stringify({ password: s }), '{"password":"[secret]"}');
  assert.equal(inspect(s), '[secret]');
  assert.equal(loadSecret({ env: 'X' }, { env: { X: VALUE } }).reveal(), VALUE);
});
