// Role-management SQL text: identifier and literal quoting, role naming, grant-body checks and SCRAM verifiers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quoteIdent, quoteLiteral, checkGrantBody, checkPlainRoleName, generatePassword, grantWrites, scramVerifier } from '../../src/credentials/pg-sql.js';
import { scramVerifier as domainVerifier } from '../../src/domain/scram.js';
import { pgRoleName, sanitizePrincipal } from '../../src/credentials/pg-grant-roles.js';
import { newId } from '../../src/domain/ids.js';
import { AirlockError } from '../../src/domain/errors.js';

function badInput(fn: () => unknown, mentions?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AirlockError && e.code === 'AIRLOCK_BAD_INPUT' && (!mentions || mentions.test(e.message)));
}

test('quoteIdent always quotes and doubles inner quotes', () => {
  assert.equal(quoteIdent('alice'), '"alice"');
  assert.equal(quoteIdent('Select'), '"Select"');
  assert.equal(quoteIdent('a"b'), '"a""b"');
  assert.equal(quoteIdent('x"; DROP ROLE postgres; --'), '"x""; DROP ROLE postgres; --"');
  badInput(() => quoteIdent(''));
  badInput(() => quoteIdent('a\0b'));
  badInput(() => quoteIdent('x'.repeat(64)), /longer than 63 bytes/);
  assert.equal(quoteIdent('x'.repeat(63)).length, 65);
});

test('quoteLiteral doubles quotes and uses E-strings for backslashes', () => {
  assert.equal(quoteLiteral('abc'), "'abc'");
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(quoteLiteral('a\\b'), "E'a\\\\b'");
  assert.equal(quoteLiteral("\\'; x"), "E'\\\\''; x'");
  badInput(() => quoteLiteral('a\0'));
});

test('role names: airlock_<principal>_<grant>, sanitized, at most 63 bytes', () => {
  const grantId = 'grt_abcdefghijklmnop';
  assert.equal(pgRoleName('alice', grantId), 'airlock_alice_abcdefgh');
  assert.equal(pgRoleName('Alice.Smith@Example.COM', grantId), 'airlock_alice_smith_example_com_abcdefgh');
  assert.equal(pgRoleName('agent:claude--ops', grantId), 'airlock_agent_claude_ops_abcdefgh');
  assert.equal(pgRoleName('"; DROP ROLE x; --', grantId), 'airlock_drop_role_x_abcdefgh');
  assert.equal(pgRoleName('日本語', grantId), 'airlock_principal_abcdefgh');
  assert.equal(sanitizePrincipal('a'.repeat(29) + '-b'), 'a'.repeat(29));
  for (const p of ['x'.repeat(500), 'ü'.repeat(200), `${'a_'.repeat(40)}z`]) {
    const name = pgRoleName(p, newId('grt'));
    assert.ok(Buffer.byteLength(name) <= 63, name);
    assert.match(name, /^airlock_[a-z0-9_]{1,30}_[a-z2-7]{8}$/);
  }
  assert.notEqual(pgRoleName('alice', newId('grt')), pgRoleName('alice', newId('grt')));
  badInput(() => pgRoleName('alice', 'grant with spaces'));
  badInput(() => pgRoleName('alice', ''));
});

test('grant bodies that could escape the statement or pick another grantee are refused', () => {
  assert.equal(checkGrantBody(' SELECT ON ALL TABLES IN SCHEMA public '), 'SELECT ON ALL TABLES IN SCHEMA public');
  assert.equal(checkGrantBody('INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public'), 'INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public');
  assert.equal(checkGrantBody('USAGE ON SCHEMA public'), 'USAGE ON SCHEMA public');
  badInput(() => checkGrantBody('SELECT ON t; DROP TABLE t'), /';'/);
  badInput(() => checkGrantBody('SELECT ON t TO PUBLIC --'), /comment/);
  badInput(() => checkGrantBody('SELECT ON t /* x */'), /comment/);
  badInput(() => checkGrantBody('SELECT ON t TO PUBLIC,'), /grantee/);
  badInput(() => checkGrantBody('SELECT ON t\nTO x'), /line break/);
  badInput(() => checkGrantBody('pg_read_all_data'), /member_of/);
  badInput(() => checkGrantBody(''), /empty/);
});

test('grants that write are recognised, so read_only roles cannot carry them', () => {
  for (const body of ['SELECT ON ALL TABLES IN SCHEMA public', 'USAGE ON SCHEMA public', 'SELECT (id, name) ON items', 'EXECUTE ON ALL FUNCTIONS IN SCHEMA public']) {
    assert.equal(grantWrites(body), false, body);
  }
  for (const body of ['INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public', 'ALL ON items', 'all privileges on items', 'CREATE ON SCHEMA public', 'UPDATE (name) ON items', 'TRUNCATE ON items']) {
    assert.equal(grantWrites(body), true, body);
  }
});

test('member_of names must be plain role names', () => {
  assert.equal(checkPlainRoleName('pg_read_all_data', 'member_of entry'), 'pg_read_all_data');
  badInput(() => checkPlainRoleName('a b', 'member_of entry'), /not a plain role name/);
  badInput(() => checkPlainRoleName('x"; --', 'member_of entry'));
  badInput(() => checkPlainRoleName('', 'member_of entry'));
});

test('passwords are 32 random bytes in base64url', () => {
  const a = generatePassword();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, generatePassword());
});

test('the SCRAM verifier is the one PostgreSQL computes, and does not contain the password', async () => {
  const password = generatePassword();
  const v = await scramVerifier(password);
  const m = /^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(v);
  assert.ok(m, v);
  assert.ok(!v.includes(password));
  // Recomputed from the salt with the SCRAM module the RFC 7677 vectors pin (test/unit/pg-scram.test.ts).
  const again = domainVerifier(password, Buffer.from(m[1]!, 'base64'));
  assert.equal(m[2], again.stored_key.toString('base64'));
  assert.equal(m[3], again.server_key.toString('base64'));
});
