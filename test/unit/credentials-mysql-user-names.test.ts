// Names, markers and SQL text for per-grant MySQL users: hostile principal names, quoting, policy GRANT bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AirlockError } from '../../src/domain/errors.js';
import { newId } from '../../src/domain/ids.js';
import { isMysqlUserName, mysqlExpiryEventName, mysqlMarkerComment, mysqlMarkerRole, mysqlPrincipalPart, mysqlUserName, parseMysqlMarker } from '../../src/credentials/mysql-user-names.js';
import { checkMysqlGrantBody, mysqlAccount, mysqlNativePasswordHash, quoteMysqlIdent, quoteMysqlString } from '../../src/credentials/mysql-sql.js';
import { expiryEventBody, serverExpiryMessage } from '../../src/credentials/mysql-grant-users.js';
import { mysqlPrivilegesFor, mysqlSchemas } from '../../src/gateway/mysql-credentials.js';
import type { RoleDef } from '../../src/policy/schema.js';

const GRANT = 'grt_abcdefghijklmnop';

test('user names: airlock_<principal>_<grant8>, at most 32 characters of [a-z0-9_], whatever the principal is called', () => {
  assert.equal(mysqlUserName('alice', GRANT), 'airlock_alice_abcdefgh');
  const hostile = ["o'brien", 'back\\slash', '100%_sure', 'a`b"c', "x'; DROP USER root; --", 'Ünïcødé', '   ', '', '%', '_', 'a'.repeat(300), 'ALICE@EXAMPLE.COM'];
  for (const p of hostile) {
    const name = mysqlUserName(p, GRANT);
    assert.match(name, /^airlock_[a-z0-9_]+_abcdefgh$/, p);
    assert.ok(name.length <= 32, `${name} for ${p}`);
    assert.ok(isMysqlUserName(name), name);
  }
  assert.equal(mysqlUserName("o'brien", GRANT), 'airlock_o_brien_abcdefgh');
  assert.equal(mysqlUserName('100%_sure', GRANT), 'airlock_100_sure_abcdefgh');
  assert.equal(mysqlUserName('%', GRANT), 'airlock_principal_abcdefgh');
  assert.equal(mysqlPrincipalPart('a'.repeat(14) + '_b'), 'a'.repeat(14), 'no trailing _ after the cut');
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (p) => {
    const name = mysqlUserName(p, newId('grt'));
    return name.length <= 32 && /^airlock_[a-z0-9_]+_[a-z2-7]{8}$/.test(name);
  }));
  assert.throws(() => mysqlUserName('alice', "grt_'x"), AirlockError);
});

test('only names of that shape count as Airlock\'s; the marker role is per deployment and never one of them', () => {
  for (const n of ['root', 'airlock', 'airlock_', 'airlock_managed_abc', 'app_airlock_x_abcdefgh', `airlock_${'a'.repeat(30)}_abcdefgh`]) assert.equal(isMysqlUserName(n), false, n);
  assert.equal(mysqlMarkerRole('abc123'), 'airlock_managed_abc123');
  assert.equal(mysqlMarkerRole(), 'airlock_managed');
  assert.throws(() => mysqlMarkerRole("x'"), AirlockError);
  assert.ok(mysqlExpiryEventName(mysqlUserName('a'.repeat(40), GRANT)).length <= 64);
});

test('the marker comment fits an event comment and reads back only when it is Airlock\'s', () => {
  const c = mysqlMarkerComment(newId('grt'), 'abcdefghijkl');
  assert.ok(c.length <= 64, c);
  assert.deepEqual(parseMysqlMarker(mysqlMarkerComment(GRANT, 'dep1')), { deployment: 'dep1', grantId: GRANT });
  assert.deepEqual(parseMysqlMarker(mysqlMarkerComment(GRANT)), { deployment: '', grantId: GRANT });
  for (const bad of [null, '', 'hello', '{}', '{"airlock":"x y","grant":"grt_a"}', `{"airlock":"d","grant":"grt_'"}`, '[1]', '{"airlock":1,"grant":"g"}']) assert.equal(parseMysqlMarker(bad), null, String(bad));
  assert.throws(() => mysqlMarkerComment(`grt_${'a'.repeat(60)}`, 'dep'), /too long/);
});

test('quoting: identifiers in backticks, strings by doubled quotes, backslashes refused (sql_mode decides what they mean)', () => {
  assert.equal(quoteMysqlIdent('shop'), '`shop`');
  assert.equal(quoteMysqlIdent('we`ird'), '`we``ird`');
  assert.throws(() => quoteMysqlIdent(''), AirlockError);
  assert.throws(() => quoteMysqlIdent('a\0b'), AirlockError);
  assert.throws(() => quoteMysqlIdent('x'.repeat(65)), AirlockError);
  assert.throws(() => quoteMysqlIdent('trailing '), AirlockError);
  assert.equal(quoteMysqlString("o'brien"), "'o''brien'");
  assert.throws(() => quoteMysqlString('a\\b'), AirlockError);
  assert.throws(() => quoteMysqlString('a\0'), AirlockError);
  assert.equal(mysqlAccount('airlock_a_b', '127.0.0.1'), "'airlock_a_b'@'127.0.0.1'");
  assert.throws(() => mysqlAccount('u', "x' OR '1"), AirlockError);
  assert.equal(mysqlAccount('u', '%'), "'u'@'%'");
});

test('the stored password hash is mysql_native_password\'s, so CREATE USER never carries the password', () => {
  // The server's own PASSWORD('test').
  assert.equal(mysqlNativePasswordHash('test'), '*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29');
  assert.match(mysqlNativePasswordHash('x'.repeat(43)), /^\*[0-9A-F]{40}$/);
});

test('policy GRANT bodies: only <privileges> ON <one of the schemas>.<table or *>; nothing that names a grantee, delegates or escapes', () => {
  const schemas = ['shop', 'we`ird'];
  assert.deepEqual(checkMysqlGrantBody('SELECT ON shop.*', schemas), { text: 'SELECT ON `shop`.*', schema: 'shop', writes: false });
  assert.deepEqual(checkMysqlGrantBody('SELECT (id, name), SHOW VIEW ON `shop`.orders', schemas), { text: 'SELECT (id, name), SHOW VIEW ON `shop`.`orders`', schema: 'shop', writes: false });
  assert.equal(checkMysqlGrantBody('INSERT, UPDATE ON shop.orders', schemas).writes, true);
  assert.equal(checkMysqlGrantBody('EXECUTE ON PROCEDURE shop.refund', schemas).text, 'EXECUTE ON PROCEDURE `shop`.`refund`');
  assert.equal(checkMysqlGrantBody('ALL PRIVILEGES ON `we``ird`.*', schemas).text, 'ALL PRIVILEGES ON `we``ird`.*');
  const refused: Array<[string, RegExp]> = [
    ['SELECT ON *.*', /never \*\.\*/],
    ['SELECT ON orders', /never \*\.\* or a bare name/],
    ['SELECT ON other.*', /not one the resource covers/],
    ['SELECT ON shop.* TO root', /refused/],
    ['SELECT ON shop.*; DROP USER root', /;/],
    ['SELECT ON shop.* -- x', /comment/],
    ['SELECT ON shop.* # x', /comment/],
    ['SELECT /* x */ ON shop.*', /comment/],
    ['GRANT OPTION ON shop.*', /GRANT, OPTION cannot be granted/],
    ['PROXY ON shop.*', /PROXY cannot be granted/],
    ['SELECT ON shop.*\nWITH GRANT OPTION', /line break/],
    ["SELECT ON 'shop'.*", /quote/],
    ['SELECT ON shop.* ON x.*', /not of the form/],
    ['', /empty/],
  ];
  for (const [body, why] of refused) assert.throws(() => checkMysqlGrantBody(body, schemas), (e: unknown) => e instanceof AirlockError && why.test(e.message), body);
});

test('what a role means for a MySQL user: read, write, admin on each schema, or its explicit grants', () => {
  const role = (privileges: RoleDef['privileges']) => ({ privileges }) as RoleDef;
  assert.deepEqual(mysqlPrivilegesFor(role({ sql: 'read' }), ['a', 'b']), { read_only: true, grants: ['SELECT, SHOW VIEW ON `a`.*', 'SELECT, SHOW VIEW ON `b`.*'] });
  assert.deepEqual(mysqlPrivilegesFor(role({ sql: 'write' }), ['a']), { read_only: false, grants: ['SELECT, SHOW VIEW, INSERT, UPDATE, DELETE ON `a`.*'] });
  const admin = mysqlPrivilegesFor(role({ sql: 'admin' }), ['a']);
  assert.equal(admin.grants.length, 1);
  assert.match(admin.grants[0]!, /^SELECT, SHOW VIEW, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, .*, TRIGGER ON `a`\.\*$/);
  assert.doesNotMatch(admin.grants[0]!, /EVENT|ALL|GRANT/);
  // Explicit grants are privilege names (as the policy checks them), given on each schema.
  assert.deepEqual(mysqlPrivilegesFor(role({ sql: 'read', grants: ['select', 'show  view'] }), ['a', 'b']), { read_only: true, grants: ['SELECT, SHOW VIEW ON `a`.*', 'SELECT, SHOW VIEW ON `b`.*'] });
  assert.deepEqual(mysqlSchemas({ database: 'b', databases: ['a', 'b'] }), ['b', 'a']);
  assert.deepEqual(mysqlSchemas({}), []);
});

test('the expiry event locks, kills and drops exactly its own account; the scheduler report says how to turn it on', () => {
  const body = expiryEventBody('airlock_a_abcdefgh', '127.0.0.1');
  assert.match(body, /ALTER USER IF EXISTS 'airlock_a_abcdefgh'@'127.0.0.1' ACCOUNT LOCK/);
  assert.match(body, /WHERE USER = 'airlock_a_abcdefgh'/);
  assert.match(body, /KILL CONNECTION cid/);
  assert.match(body, /DROP USER IF EXISTS 'airlock_a_abcdefgh'@'127.0.0.1';\nEND$/);
  assert.equal(serverExpiryMessage('ON').ok, true);
  const off = serverExpiryMessage('OFF');
  assert.deepEqual([off.event_scheduler, off.ok], ['OFF', false]);
  assert.match(off.message, /SET GLOBAL event_scheduler = ON.*event_scheduler=ON under \[mysqld\] in my\.cnf/);
  assert.match(serverExpiryMessage('DISABLED').message, /restart/);
});
