// From an IdP's claims to Airlock (src/identity/claims.ts), the policy overlay of IdP groups (withIdentities), and the
// identity.oidc section's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idpGroupsFrom, mapGroups, principalFrom } from '../../src/identity/claims.js';
import { withIdentities } from '../../src/policy/compile.js';
import { parsePolicy, PolicyError, formatProblem } from '../../src/policy/load.js';

const BASE = `
version: 1
principals:
  - { name: alice, groups: [staff, dba] }
roles: []
`;

const withOidc = (oidc: string) => `${BASE}identity:\n  oidc:\n${oidc.trim().split('\n').map((l) => `    ${l.trim()}`).join('\n')}\n`;

function problems(text: string): string[] {
  try {
    parsePolicy(text);
    return [];
  } catch (e) {
    if (e instanceof PolicyError) return e.problems.map(formatProblem);
    throw e;
  }
}


const principalCases: [string, Record<string, unknown>, string, string][] = [
  ['preferred_username, lower-cased', { preferred_username: 'Alice' }, 'preferred_username', 'alice'],
  ['the e-mail\'s local part', { email: 'Bob.Smith@acme.com' }, 'email_local_part', 'bob.smith'],
  ['any claim', { upn: 'carol' }, 'upn', 'carol'],
];
for (const [what, claims, rule, name] of principalCases) {
  test(`the principal from ${what}`, () => assert.deepEqual(principalFrom(claims, { principal_claim: rule }), { name }));
}

test('no principal from a missing claim, an unverified e-mail, or a name Airlock cannot use', () => {
  assert.match((principalFrom({}, { principal_claim: 'preferred_username' }) as { problem: string }).problem, /sent no "preferred_username" claim/);
  assert.match((principalFrom({ email: 'a@b.c', email_verified: false }, { principal_claim: 'email_local_part' }) as { problem: string }).problem, /not verified/);
  assert.match((principalFrom({ preferred_username: 'Alice Smith' }, { principal_claim: 'preferred_username' }) as { problem: string }).problem, /not a principal name/);
});

test('groups: a list or one string from the claim; mapped, or passed through under a prefix', () => {
  assert.deepEqual(idpGroupsFrom({ groups: ['A', 7, 'B'] }, { groups_claim: 'groups' }), ['A', 'B']);
  assert.deepEqual(idpGroupsFrom({ roles: 'A' }, { groups_claim: 'roles' }), ['A']);
  assert.deepEqual(idpGroupsFrom({}, { groups_claim: 'groups' }), []);
  assert.deepEqual(mapGroups(['DBA', 'Payments', 'Other'], { group_mapping: { DBA: ['dba', 'approvers'], Payments: ['payments-oncall', 'dba'] } }), ['approvers', 'dba', 'payments-oncall']);
  assert.deepEqual(mapGroups(['/Payments Team', 'ops'], { group_prefix: 'idp:' }), ['idp:ops', 'idp:payments-team']);
  assert.deepEqual(mapGroups(['ops'], {}), [], 'neither mapping nor prefix: the IdP gives no groups');
});

test('the overlay: file ∪ IdP groups for listed people, IdP groups only for unlisted ones while allow_unlisted is on', () => {
  const closed = parsePolicy(withOidc('issuer: https://idp.example.com\nclient_id: x'));
  const ids = [{ principal: 'alice', groups: ['dba', 'oncall'], email: null }, { principal: 'erin', groups: ['oncall'], email: 'erin@x' }];
  const p = withIdentities(closed, ids);
  assert.deepEqual(p.principal('alice')?.groups, ['staff', 'dba', 'oncall']);
  assert.deepEqual(p.groupSources('alice'), { staff: ['file'], dba: ['file', 'idp'], oncall: ['idp'] });
  assert.equal(p.principal('erin'), undefined);
  const open = withIdentities(parsePolicy(withOidc('issuer: https://idp.example.com\nclient_id: x\nallow_unlisted: true')), ids);
  assert.deepEqual(open.principal('erin'), { name: 'erin', kind: 'user', groups: ['oncall'], email: 'erin@x' });
  assert.equal(open.hash, parsePolicy(withOidc('issuer: https://idp.example.com\nclient_id: x\nallow_unlisted: true')).hash, 'the hash stays the file\'s');
});

test('identity.oidc: defaults, and what it refuses', () => {
  const oidc = parsePolicy(withOidc('issuer: https://idp.example.com\nclient_id: x')).doc.identity!.oidc!;
  assert.deepEqual([oidc.scopes, oidc.groups_claim, oidc.principal_claim, oidc.allow_unlisted, oidc.console_session_max], [['openid', 'profile', 'email', 'groups'], 'groups', 'preferred_username', false, 12 * 3600]);
  assert.match(problems(withOidc('issuer: http://idp.example.com\nclient_id: x')).join('\n'), /https:\/\/ URL/);
  assert.match(problems(withOidc('issuer: https://idp.example.com\nclient_id: x\nclient_secret: hunter2')).join('\n'), /inline secret is not allowed/);
  assert.doesNotMatch(problems(withOidc('issuer: https://idp.example.com\nclient_id: x\nclient_secret: hunter2')).join('\n'), /hunter2/);
  assert.match(problems(withOidc('issuer: https://idp.example.com\nclient_id: x\ngroup_prefix: "idp:"\ngroup_mapping: { A: [a] }')).join('\n'), /group_mapping or group_prefix, not both/);
  assert.match(problems(withOidc('issuer: https://idp.example.com\nclient_id: x\nscopes: [profile]')).join('\n'), /must include openid/);
  assert.deepEqual(problems(withOidc('issuer: http://127.0.0.1:9000\nclient_id: x')), [], 'http on loopback, for tests');
});
