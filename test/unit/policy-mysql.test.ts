// MySQL resources in the policy: address, schemas, credential modes and the privilege names roles may give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, PolicyError, formatProblem } from '../../src/policy/load.js';
import { mysqlPrivilegesFor } from '../../src/policy/mysql-privileges.js';

/** A policy with one mysql resource (and a postgres one) and one role on it; each part can be replaced. */
function policy(o: { resource?: string; role?: string; extra?: string } = {}): string {
  return [
    'version: 1',
    'principals: [{ name: alice, groups: [eng] }, { name: bob, groups: [dba] }]',
    'resources:',
    o.resource ?? '  - { name: shop-db, kind: mysql, address: "127.0.0.1:3306", database: shop, credential: { username: airlock, password: { env: SHOP_PW } } }',
    '  - { name: orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod }, credential: { username: airlock, password: { env: PG_PW } } }',
    ...(o.extra ? [o.extra] : []),
    'roles:',
    '  - name: shop-read',
    '    resources: { names: [shop-db] }',
    o.role ?? '    privileges: { sql: read }',
    '    max_duration: 4h',
    '    requestable_by: { groups: [eng] }',
    '    approval: { approver_groups: [dba] }',
  ].join('\n') + '\n';
}

function problems(text: string): string[] {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.problems.map(formatProblem);
  }
  assert.fail('expected the policy to be refused');
}

test('a mysql resource: the default credential mode is per_grant_user, and per_grant_role is read as the same', () => {
  const p = parsePolicy(policy());
  assert.equal(p.resource('shop-db')!.credential!.mode, 'per_grant_user');
  assert.equal(p.resource('orders')!.credential!.mode, 'per_grant_role');
  const q = parsePolicy(policy({ resource: '  - { name: shop-db, kind: mysql, address: db.internal, databases: [shop, shop_archive], credential: { username: airlock, password: { env: P }, mode: per_grant_role } }' }));
  assert.equal(q.resource('shop-db')!.credential!.mode, 'per_grant_user');
  const inj = parsePolicy(policy({ resource: '  - { name: shop-db, kind: mysql, address: "[::1]:3307", database: shop, credential: { username: app, password: { env: P }, mode: injected } }' }));
  assert.equal(inj.resource('shop-db')!.credential!.mode, 'injected');
});

test('per_grant_user on a postgres resource is refused with the word to use instead', () => {
  const text = policy({ extra: '  - { name: pg2, kind: postgres, address: "db:5432", credential: { username: a, password: { env: P }, mode: per_grant_user } }' });
  assert.deepEqual(problems(text), ['p.yaml:6:109: resources[2].credential.mode: per_grant_user is for mysql resources; a PostgreSQL per-grant credential is a role: write mode: per_grant_role (the default) or injected']);
  assert.match(problems(policy({ resource: '  - { name: shop-db, kind: mysql, address: h, database: s, credential: { username: a, password: { env: P }, mode: per_user } }' })).join('\n'), /credential\.mode: credential\.mode is one of injected, per_grant_role, per_grant_user/);
});

test('a mysql resource names its schemas, has a host[:port] address, and its schema names are MySQL names', () => {
  const cases: [string, RegExp][] = [
    ['{ name: shop-db, kind: mysql, address: "db:3306" }', /resources\[0\]\.database: a mysql resource names the schema\(s\) it covers/],
    ['{ name: shop-db, kind: mysql, address: "db:99999", database: shop }', /resources\[0\]\.address: "db:99999" is not host\[:port\] \(the port defaults to 3306/],
    ['{ name: shop-db, kind: mysql, address: "mysql://db/shop", database: shop }', /resources\[0\]\.address: "mysql:\/\/db\/shop" is not host\[:port\]/],
    ['{ name: shop-db, kind: mysql, address: db, databases: [shop, "a/b"] }', /resources\[0\]\.databases\[1\]: a MySQL schema name cannot contain "\/"/],
    [`{ name: shop-db, kind: mysql, address: db, database: ${'s'.repeat(65)} }`, /resources\[0\]\.database: a MySQL schema name is at most 64 characters/],
    ['{ name: shop-db, kind: mysql, address: db, database: shop, tls: { mode: disable } }', /resources\[0\]\.tls: tls and auth are read for postgres resources only, not mysql/],
    ['{ name: shop-db, kind: mysql, address: db, database: x, databases: [shop] }', /the default database "x" is not in databases/],
  ];
  for (const [res, want] of cases) assert.match(problems(policy({ resource: `  - ${res}` })).join('\n'), want, res);
  // 64 characters is MySQL's limit, and a postgres name keeps its own 63-byte rule.
  parsePolicy(policy({ resource: `  - { name: shop-db, kind: mysql, address: db, database: ${'s'.repeat(64)} }` }));
});

test('grants on a mysql resource are MySQL privilege names, checked against the schema-level list', () => {
  const ok = parsePolicy(policy({ role: '    privileges: { sql: read, grants: [select, "show  view"] }' }));
  assert.deepEqual(mysqlPrivilegesFor(ok.role('shop-read')!), { read_only: true, privileges: ['SELECT', 'SHOW VIEW'] });
  const cases: [string, RegExp][] = [
    ['{ sql: read, grants: [SELECT, SELEKT] }', /roles\[0\]\.privileges\.grants\[1\]: "SELEKT" is not a MySQL privilege; use one of ALTER, ALTER ROUTINE/],
    ['{ sql: write, grants: [SELECT, event] }', /roles\[0\]\.privileges\.grants\[1\]: EVENT would let the per-grant user drop its own expiry event and outlive its grant; it is never given/],
    ['{ sql: write, grants: [ALL] }', /grants\[0\]: ALL PRIVILEGES includes EVENT, which would let the per-grant user drop its own expiry event; use sql: admin/],
    ['{ sql: admin, grants: ["all  privileges"] }', /grants\[0\]: ALL PRIVILEGES includes EVENT/],
    ['{ sql: read, grants: [SELECT, INSERT] }', /roles\[0\]\.privileges\.grants\[1\]: the role has sql: read, and INSERT can change data or state/],
    ['{ sql: write, grants: [FILE] }', /grants\[0\]: FILE is a server-wide privilege/],
    ['{ sql: write, grants: [SUPER] }', /grants\[0\]: SUPER is a server-wide privilege/],
    ['{ sql: write, grants: [GRANT OPTION] }', /grants\[0\]: GRANT OPTION would let the per-grant user hand its privileges on/],
    ['{ sql: write, grants: ["SELECT ON ALL TABLES IN SCHEMA public"] }', /grants\[0\]: "SELECT ON ALL TABLES IN SCHEMA public" is not a privilege name/],
    ['{ sql: read, member_of: [pg_read_all_data] }', /roles\[0\]\.privileges\.member_of: member_of names PostgreSQL roles; on mysql resources \(shop-db\)/],
  ];
  for (const [priv, want] of cases) assert.match(problems(policy({ role: `    privileges: ${priv}` })).join('\n'), want, priv);
  const w = parsePolicy(policy({ role: '    privileges: { sql: write, grants: [SELECT, INSERT, UPDATE, DELETE, insert, create] }' }));
  assert.deepEqual(mysqlPrivilegesFor(w.role('shop-read')!).privileges, ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE']);
});

test('defaults by sql: read → SELECT, SHOW VIEW; write adds INSERT, UPDATE, DELETE; admin is everything on the schemas but EVENT', () => {
  const admin = mysqlPrivilegesFor(parsePolicy(policy({ role: '    privileges: { sql: admin }' })).role('shop-read')!).privileges;
  assert.deepEqual(admin, ['SELECT', 'SHOW VIEW', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'REFERENCES', 'CREATE TEMPORARY TABLES', 'LOCK TABLES', 'CREATE VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EXECUTE', 'TRIGGER']);
  for (const never of ['EVENT', 'ALL PRIVILEGES', 'GRANT OPTION']) assert.ok(!admin.includes(never), never);
  assert.deepEqual(mysqlPrivilegesFor(parsePolicy(policy()).role('shop-read')!).privileges, ['SELECT', 'SHOW VIEW']);
  assert.deepEqual(mysqlPrivilegesFor(parsePolicy(policy({ role: '    privileges: { sql: write }' })).role('shop-read')!).privileges, ['SELECT', 'SHOW VIEW', 'INSERT', 'UPDATE', 'DELETE']);
});

test('one role with grants over both a mysql and a postgres resource (by labels) is refused: grants mean different things', () => {
  const text = policy({
    resource: '  - { name: shop-db, kind: mysql, address: db, database: shop, labels: { env: prod } }',
    role: '    privileges: { sql: read, grants: [SELECT] }',
  }).replace('resources: { names: [shop-db] }', 'resources: { labels: { env: prod } }');
  assert.match(problems(text).join('\n'), /roles\[0\]\.privileges\.grants: the role covers mysql \(shop-db\) and postgres \(orders\) resources/);
  // Without grants, one role may cover both: sql: read means read-only on each, in its own terms.
  parsePolicy(policy({ resource: '  - { name: shop-db, kind: mysql, address: db, database: shop, labels: { env: prod } }' }).replace('resources: { names: [shop-db] }', 'resources: { labels: { env: prod } }'));
});
