// Per-grant role names, markers and comments carry the deployment id, so two Airlocks on one server never share a role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDeploymentId, markerRoleName, newDeploymentId, parseRoleComment, pgRoleName, roleComment } from '../../src/credentials/pg-role-names.js';
import { AirlockError } from '../../src/domain/errors.js';

test('names, markers and comments carry the deployment id and stay under 63 bytes', () => {
  const grantId = 'grt_abcdefghijklmnop';
  assert.equal(pgRoleName('alice', grantId, 'q7m2x4ab'), 'airlock_q7m2x4ab_alice_abcdefgh');
  assert.equal(pgRoleName('alice', grantId), 'airlock_alice_abcdefgh', 'without a deployment, the older form');
  const longest = pgRoleName('x'.repeat(200), grantId, 'z'.repeat(12));
  assert.ok(Buffer.byteLength(longest) <= 63, longest);
  assert.equal(markerRoleName('q7m2x4ab'), 'airlock_managed_q7m2x4ab');
  assert.equal(markerRoleName(), 'airlock_managed');
  assert.equal(roleComment(grantId, 'q7m2x4ab'), `airlock q7m2x4ab grant ${grantId}`);
  for (let i = 0; i < 50; i++) assert.match(checkDeploymentId(newDeploymentId()), /^[a-z2-7]{8}$/);
  for (const bad of ['', 'UPPER', 'with_underscore', 'x'.repeat(13), 'a-b']) assert.throws(() => checkDeploymentId(bad), AirlockError, bad);
});

test('a comment is read only when it is this deployment\'s (or, when asked, the older form)', () => {
  const id = 'grt_abcdefghijklmnop';
  assert.equal(parseRoleComment(`airlock mine grant ${id}`, 'mine'), id);
  assert.equal(parseRoleComment(`airlock other grant ${id}`, 'mine'), null, 'another deployment\'s role');
  assert.equal(parseRoleComment(`airlock grant ${id}`, 'mine'), null);
  assert.equal(parseRoleComment(`airlock grant ${id}`, 'mine', true), id, 'a legacy role, when the store recorded it');
  assert.equal(parseRoleComment(`airlock mine grant ${id}; drop`, 'mine'), null);
  assert.equal(parseRoleComment(null, 'mine'), null);
});
