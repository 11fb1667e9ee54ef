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
  ['the e-mail\'s local part', { email: 'Bob.Smith@Acme.com', email_verified: true }, 'email_local_part', 'bob.smith'],
  ['any claim', { upn: 'carol' }, 'upn', 'carol'],
];
for (const [what, claims, rule, name] of principalCases) {
  test(`the principal from ${what}`, () => assert.deepEqual(principalFrom(claims, { principal_claim: rule, email_domains: ['acme.com'] }), { name }));
}

test('no principal from a missing claim, an unverified e-mail, or a name Airlock cannot use', () => {
  assert.match((principalFrom({}, { principal_claim: 'preferred_username' }) as { problem: string }).problem, /sent no "preferred_username" claim/);
  assert.match((principalFrom({ email: 'a@b.c', email_verified: false }, { principal_claim: 'email_local_part', email_domains: ['b.c'] }) as { problem: string }).problem, /not verified|does not say/);
  assert.match((principalFrom({ preferred_username: 'Alice Smith' }, { principal_claim: 'preferred_username' }) as { problem: string }).problem, /not a principal name/);
});

test('groups: a list or one string from the claim; mapped, or passed through under a prefix', () => {
  assert.deepEqual(idpGroupsFrom({ groups: ['A', 7, 'B'] }, { groups_claim: 'groups' }), ['A', 'B']);
  assert.deepEqual(idpGroupsFrom({ roles: 'A' }, { groups_claim: 'roles' }), ['A']);
  assert.deepEqual(idpGroupsFrom({}, { groups_claim: 'groups' }), []);
  assert.deepEqual(mapGroups(['DBA', 'Payments', 'Other'], { group_mapping: { DBA: ['dba', 'approvers'], Payments: ['payments-oncall', 'dba'] } }).groups, ['approvers', 'dba', 'payments-oncall']);
  assert.deepEqual(mapGroups(['/Payments Team', 'ops', 'payments.team'], { group_prefix: 'idp:' }), { groups: ['idp:ops', 'idp:payments.team'], dropped: ['/Payments Team'] });
  assert.deepEqual(mapGroups(['ops'], {}).groups, [], 'neither mapping nor prefix: the IdP gives no groups');
});

test('the overlay: file ∪ IdP groups for listed people, IdP groups only for unlisted ones while allow_unlisted is on', () => {
  const closed = parsePolicy(withOidc('issuer: https://idp.example.com\nclient_id: x'));
  const end = new Date(Date.now() + 3600_000).toISOString();
  const ids = [{ principal: 'alice', groups: ['dba', 'oncall'], email: null, expiresAt: end }, { principal: 'erin', groups: ['oncall'], email: 'erin@x', expiresAt: end }];
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

// Red team 16: pass-through folded distinct IdP groups into one Airlock group, and an empty prefix let an IdP group be
// the policy's admin group.
const foldedSpellings = ['Sec Admins', '/sec admins', 'Sec/Admins', 'sec\u00a0admins', 'SEC--ADMINS', 'séc-admins', 'sec admins', 'Sec-Admins', 'x'.repeat(70)];
for (const g of foldedSpellings) {
  test(`group_prefix passes ${JSON.stringify(g.slice(0, 20))} through as nothing: only names already in Airlock form pass`, () => {
    assert.deepEqual(mapGroups([g], { group_prefix: 'idp:' }), { groups: [], dropped: [g] });
  });
}

test('group_prefix: distinct IdP groups stay distinct, and the admin and auditor groups are never given by pass-through', () => {
  assert.deepEqual(mapGroups(['sec-admins', 'sec_admins', 'sec.admins'], { group_prefix: 'idp:' }).groups, ['idp:sec-admins', 'idp:sec.admins', 'idp:sec_admins']);
  assert.deepEqual(mapGroups(['sec-admins', 'audit', 'ops'], { group_prefix: 'idp:' }, new Set(['idp:sec-admins', 'idp:audit'])), { groups: ['idp:ops'], dropped: ['sec-admins', 'audit'] });
  assert.deepEqual(mapGroups(['SEC Admins'], { group_mapping: { 'SEC Admins': ['sec-admins'] } }, new Set(['sec-admins'])).groups, ['sec-admins'], 'group_mapping is how an admin group is given');
});

test('identity.oidc refuses an empty group_prefix, and email_local_part without email_domains', () => {
  for (const prefix of ['""', "''", '"-"', '":"']) assert.match(problems(withOidc(`issuer: https://idp.example.com\nclient_id: x\ngroup_prefix: ${prefix}`)).join('\n'), /group_prefix/, prefix);
  assert.match(problems(withOidc('issuer: https://idp.example.com\nclient_id: x\nprincipal_claim: email_local_part')).join('\n'), /email_domains/);
  assert.deepEqual(problems(withOidc('issuer: https://idp.example.com\nclient_id: x\nprincipal_claim: email_local_part\nemail_domains: [corp.example]')), []);
});

const localPartCases: [string, Record<string, unknown>, RegExp][] = [
  ['another domain', { email: 'alice@evil.example', email_verified: true }, /domain "evil.example"/],
  ['a look-alike subdomain', { email: 'alice@corp.example.evil.example', email_verified: true }, /domain/],
  ['a parent domain', { email: 'alice@example', email_verified: true }, /domain/],
  ['no email_verified claim', { email: 'alice@corp.example' }, /verified/],
  ['email_verified "true" as a string', { email: 'alice@corp.example', email_verified: 'true' }, /verified/],
  ['email_verified false', { email: 'Admin@corp.example', email_verified: false }, /verified/],
];
for (const [what, claims, why] of localPartCases) {
  test(`email_local_part refuses ${what}`, () => {
    const r = principalFrom(claims, { principal_claim: 'email_local_part', email_domains: ['corp.example'] });
    assert.ok('problem' in r, JSON.stringify(r));
    assert.match(r.problem, why);
  });
}
