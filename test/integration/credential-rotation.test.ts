// Stored upstream credentials against the machine's PostgreSQL and MariaDB: set from the CLI, rotated while gateway
// sessions are live (they go on, new ones use the new password), on a schedule, refused cleanly when the upstream says
// no, and rekeyed so the old at-rest key is no longer needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { MYSQL_HOST, MYSQL_PORT, rootConnection } from '../support/mysql.js';
import { loadSecretKeys } from '../../src/credentials/secret-keys.js';
import { decrypt, encrypt } from '../../src/credentials/encryption.js';
import { scramVerifier } from '../../src/domain/scram.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const root = fileURLToPath(new URL('../..', import.meta.url));
const id = randomBytes(4).toString('hex');
const role = { vault: `airlock_rot_v_${id}`, sched: `airlock_rot_s_${id}`, limited: `airlock_rot_l_${id}` };
const myUser = { vault: `arot_v_${id}`, limited: `arot_l_${id}`, uncertain: `arot_u_${id}` };
const schema = `airlock_rot_${id}`;
const initial = { pg: 'pg-initial-Pw1', my: 'my-initial-Pw1', limited: 'my-limited-Pw1', uncertain: 'my-uncertain-Pw1' };

let db: TestDatabase;
let a: InProcessAirlock;
let my: mysql.Connection;
let bob: string;
let alice: string;
let dir: string;

async function pgAdmin<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client(adminUrl());
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const policy = (pgAddress: string) => `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - { name: pgvault, kind: postgres, address: "${pgAddress}", database: ${db.name}, credential: { username: ${role.vault}, password: { stored: true }, mode: injected } }
  - { name: pgsched, kind: postgres, address: "${pgAddress}", database: ${db.name}, credential: { username: ${role.sched}, password: { stored: true }, mode: injected, rotate_every: 3s } }
  - { name: pglimited, kind: postgres, address: "${pgAddress}", database: ${db.name}, credential: { username: ${role.limited}, password: { stored: true }, mode: injected } }
  - { name: myvault, kind: mysql, address: "${MYSQL_HOST}:${MYSQL_PORT}", database: ${schema}, credential: { username: ${myUser.vault}, password: { stored: true }, mode: injected } }
  - { name: mylimited, kind: mysql, address: "${MYSQL_HOST}:${MYSQL_PORT}", database: ${schema}, credential: { username: ${myUser.limited}, password: { stored: true }, mode: injected } }
  - { name: myuncertain, kind: mysql, address: "${MYSQL_HOST}:${MYSQL_PORT}", database: ${schema}, credential: { username: ${myUser.uncertain}, password: { stored: true }, mode: injected } }
roles:
  - name: read
    resources: { names: [pgvault, pgsched, pglimited, myvault, mylimited, myuncertain] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;

function cli(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/airlock.js'), ...args], { env: { ...process.env, AIRLOCK_FROM_SOURCE: '1', AIRLOCK_SERVER: a.server.apiUrl, AIRLOCK_TOKEN: bob }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${a.server.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

/** The password the store holds for a resource now, decrypted with the data directory's keys (as the server does). */
async function storedPassword(resource: string): Promise<string> {
  const row = await a.server.store.db.selectFrom('stored_credentials').selectAll().where('resource', '=', resource).executeTakeFirstOrThrow();
  return decrypt(loadSecretKeys({ dataDir: join(a.dir, 'data') }), row.secret, `stored-credential:${resource}`);
}

/** Whether the role's SCRAM verifier in pg_authid is the one of `password` (the only password check trust auth leaves). */
async function pgVerifierMatches(name: string, password: string): Promise<boolean> {
  const [r] = await pgAdmin<{ rolpassword: string }>('select rolpassword from pg_authid where rolname = $1', [name]);
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(r!.rolpassword);
  assert.ok(m, 'the role has a SCRAM verifier');
  return scramVerifier(password, Buffer.from(m[2]!, 'base64'), Number(m[1])).stored_key.toString('base64') === m[3];
}

const mysqlDirect = (user: string, password: string) => mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user, password, database: schema });
const mysqlGateway = async () => {
  const g = a.server.gateways.mysql!;
  const c = await mysql.createConnection({ host: g.host, port: g.port, user: 'alice', password: alice, database: 'myvault', ssl: { ca: g.ca } });
  c.on('error', () => {});
  return c;
};

async function auditOf(action: string): Promise<Json[]> {
  return (await call(bob, 'GET', `/api/v1/audit/events?action=${action}&limit=500`)).body.events;
}

before(async () => {
  db = await createTestDatabase('airlock_rot');
  for (const r of Object.values(role)) await pgAdmin(`CREATE ROLE "${r}" LOGIN PASSWORD '${initial.pg}'`);
  await pgAdmin(`ALTER ROLE "${role.limited}" CONNECTION LIMIT 1`);
  for (const r of Object.values(role)) await pgAdmin(`GRANT CONNECT ON DATABASE "${db.name}" TO "${r}"`);
  my = await rootConnection();
  await my.query(`CREATE DATABASE \`${schema}\``);
  await my.query(`CREATE TABLE \`${schema}\`.t (id int primary key)`);
  await my.query(`INSERT INTO \`${schema}\`.t VALUES (1), (2)`);
  await my.query(`CREATE USER '${myUser.vault}'@'127.0.0.1' IDENTIFIED BY '${initial.my}'`);
  await my.query(`CREATE USER '${myUser.limited}'@'127.0.0.1' IDENTIFIED BY '${initial.limited}' WITH MAX_USER_CONNECTIONS 1`);
  // Two statements an hour: the rotation's SELECT VERSION() and its SET PASSWORD; the revert is the third, refused.
  await my.query(`CREATE USER '${myUser.uncertain}'@'127.0.0.1' IDENTIFIED BY '${initial.uncertain}' WITH MAX_USER_CONNECTIONS 1 MAX_QUERIES_PER_HOUR 2`);
  for (const u of Object.values(myUser)) await my.query(`GRANT SELECT ON \`${schema}\`.* TO '${u}'@'127.0.0.1'`);
  const up = new URL(adminUrl());
  a = await startAirlock({ policy: policy(`${up.hostname}:${up.port || 5432}`) });
  dir = a.dir;
  bob = await a.token('bob');
  alice = await a.token('alice');
  for (const [resource, pw] of [['pgvault', initial.pg], ['pgsched', initial.pg], ['pglimited', initial.pg], ['myvault', initial.my], ['mylimited', initial.limited], ['myuncertain', initial.uncertain]] as const) {
    const r = await cli(['credential', 'set', resource, '--json'], `${pw}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).version, 1);
  }
});

after(async () => {
  await a?.stop();
  // The database first: the roles hold CONNECT on it.
  await db?.drop();
  for (const r of Object.values(role)) await pgAdmin(`DROP ROLE IF EXISTS "${r}"`);
  for (const u of Object.values(myUser)) await my?.query(`DROP USER IF EXISTS '${u}'@'127.0.0.1'`);
  await my?.query(`DROP DATABASE IF EXISTS \`${schema}\``);
  await my?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the CLI lists stored credentials without their values, with times and the next scheduled rotation', async () => {
  const r = await cli(['credential', 'list', '--json'], '');
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout).credentials as Json[];
  assert.deepEqual(list.map((c) => c.resource).sort(), ['myvault', 'mylimited', 'myuncertain', 'pglimited', 'pgsched', 'pgvault'].sort());
  assert.equal(list.find((c) => c.resource === 'pgsched').rotate_every, '3s');
  assert.ok(list.find((c) => c.resource === 'pgsched').next_rotation_at);
  assert.equal(list.find((c) => c.resource === 'pgvault').next_rotation_at, null);
  for (const pw of Object.values(initial)) assert.ok(!r.stdout.includes(pw), 'no password in the listing');
  const table = await cli(['credential', 'list'], '');
  assert.match(table.stdout, /pgvault\s+airlock_rot_v_/);
  assert.match(table.stdout, /UTC|GMT|[+-]\d\d/, 'times name their zone');
  const set = (await auditOf('credential.set')).filter((e) => e.target === 'pgvault');
  assert.equal(set.length, 1);
  assert.equal(set[0].details.username, role.vault);
});

test('PostgreSQL: rotating while a gateway session is live; it goes on, a new one opens, the role has the new verifier', async () => {
  await a.grant(alice, bob, 'pgvault', 'read');
  const live = a.client(alice, 'alice', 'pgvault');
  await live.connect();
  assert.equal((await live.query('select current_user as u')).rows[0].u, role.vault);
  const r = await call(bob, 'POST', '/api/v1/credentials/pgvault/rotate');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.version, 2);
  assert.ok(r.body.rotated_at);
  const now = await storedPassword('pgvault');
  assert.notEqual(now, initial.pg);
  assert.equal(await pgVerifierMatches(role.vault, now), true, 'the role holds the verifier of the stored password');
  assert.equal(await pgVerifierMatches(role.vault, initial.pg), false);
  assert.equal((await live.query('select 41 + 1 as n')).rows[0].n, 42, 'the live session goes on');
  const fresh = a.client(alice, 'alice', 'pgvault');
  await fresh.connect();
  assert.equal((await fresh.query('select current_user as u')).rows[0].u, role.vault);
  await fresh.end();
  await live.end();
  const audited = (await auditOf('credential.rotate')).filter((e) => e.target === 'pgvault');
  assert.equal(audited.length, 1);
  assert.equal(audited[0].actor, 'bob');
  assert.ok(!JSON.stringify(await auditOf('credential.rotate')).includes(now));
});

test('MariaDB: a live session survives the rotation, a new session logs in with the new password, the old one no longer does', async () => {
  await a.grant(alice, bob, 'myvault', 'read');
  const live = await mysqlGateway();
  assert.equal((await live.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM t'))[0][0]!.n, 2);
  const r = await call(bob, 'POST', '/api/v1/credentials/myvault/rotate');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const now = await storedPassword('myvault');
  assert.equal((await live.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM t'))[0][0]!.n, 2, 'the live session goes on');
  const fresh = await mysqlGateway();
  assert.equal((await fresh.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u'))[0][0]!.u, `${myUser.vault}@127.0.0.1`);
  await fresh.end();
  await live.end();
  await assert.rejects(mysqlDirect(myUser.vault, initial.my), /Access denied/, 'the old password no longer logs in');
  await (await mysqlDirect(myUser.vault, now)).end();
});

test('a failure keeps the previous password working and says why (PostgreSQL and MariaDB, connection limit 1)', async () => {
  for (const [resource, check] of [
    ['pglimited', async () => assert.equal(await pgVerifierMatches(role.limited, initial.pg), true, 'the role still has the previous password')],
    ['mylimited', async () => (await mysqlDirect(myUser.limited, initial.limited)).end()],
  ] as const) {
    const r = await call(bob, 'POST', `/api/v1/credentials/${resource}/rotate`);
    assert.equal(r.status, 502);
    assert.equal(r.body.code, 'AIRLOCK_ROTATION_FAILED');
    assert.match(r.body.detail, /\(verify\).*(too many connections|max_user_connections).*previous password was put back/is);
    assert.equal(await storedPassword(resource), resource === 'pglimited' ? initial.pg : initial.limited);
    await check();
    const listed = (await call(bob, 'GET', '/api/v1/credentials')).body.credentials.find((c: Json) => c.resource === resource);
    assert.equal(listed.version, 1);
    assert.match(listed.last_error, /^verify: /);
    const failed = (await auditOf('credential.rotate_failed')).filter((e) => e.target === resource);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].details.step, 'verify');
  }
  await a.grant(alice, bob, 'mylimited', 'read');
  const g = a.server.gateways.mysql!;
  const s = await mysql.createConnection({ host: g.host, port: g.port, user: 'alice', password: alice, database: 'mylimited', ssl: { ca: g.ca } });
  assert.equal((await s.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM t'))[0][0]!.n, 2, 'sessions still log in with the previous password');
  await s.end();
});

test('MariaDB: verify and revert both fail; the new password is kept as pending, and the next gateway connection recovers it', async () => {
  const r = await call(bob, 'POST', '/api/v1/credentials/myuncertain/rotate');
  assert.equal(r.status, 502, JSON.stringify(r.body));
  assert.equal(r.body.code, 'AIRLOCK_ROTATION_FAILED');
  assert.match(r.body.detail, /\(revert\).*max_user_connections.*max_queries_per_hour.*may already have the new password.*keeps it as pending/is);
  const row = await a.server.store.db.selectFrom('stored_credentials').selectAll().where('resource', '=', 'myuncertain').executeTakeFirstOrThrow();
  assert.ok(row.pending_secret, 'the new password is still in the store');
  assert.equal(await storedPassword('myuncertain'), initial.uncertain);
  const listed = (await call(bob, 'GET', '/api/v1/credentials')).body.credentials.find((c: Json) => c.resource === 'myuncertain');
  assert.match(listed.last_error, /^uncertain: revert: /);
  // Lift the limits (the password stays as the rotation left it): the account now holds only the new password.
  await my.query(`ALTER USER '${myUser.uncertain}'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 0 MAX_QUERIES_PER_HOUR 0`);
  await assert.rejects(mysqlDirect(myUser.uncertain, initial.uncertain), /Access denied/, 'the old password no longer logs in');
  await a.grant(alice, bob, 'myuncertain', 'read');
  const g = a.server.gateways.mysql!;
  const s = await mysql.createConnection({ host: g.host, port: g.port, user: 'alice', password: alice, database: 'myuncertain', ssl: { ca: g.ca } });
  assert.equal((await s.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM t'))[0][0]!.n, 2, 'the gateway logs in: it found the pending password');
  await s.end();
  const now = await storedPassword('myuncertain');
  assert.notEqual(now, initial.uncertain);
  await (await mysqlDirect(myUser.uncertain, now)).end();
  const after = (await call(bob, 'GET', '/api/v1/credentials')).body.credentials.find((c: Json) => c.resource === 'myuncertain');
  assert.equal(after.last_error, null);
  assert.equal(after.version, 2);
  const recovered = (await auditOf('credential.recovered')).filter((e) => e.target === 'myuncertain');
  assert.equal(recovered.length, 1);
  assert.equal(recovered[0].details.kept, 'pending');
});

test('a rotation running in another process: set and rotate are refused until its lease ends', async () => {
  const until = new Date(Date.now() + 60_000).toISOString();
  await a.server.store.db.updateTable('stored_credentials').set({ rotation_lease_until: until, rotation_lease_token: 'another-process' }).where('resource', '=', 'myvault').execute();
  try {
    const before = await storedPassword('myvault');
    const set = await cli(['credential', 'set', 'myvault', '--json'], 'admin-Pw-during-rotation\n');
    assert.notEqual(set.code, 0);
    assert.match(set.stderr + set.stdout, /AIRLOCK_ROTATION_IN_PROGRESS/);
    assert.equal(await storedPassword('myvault'), before);
    const rot = await call(bob, 'POST', '/api/v1/credentials/myvault/rotate');
    assert.equal(rot.status, 409);
    assert.equal(rot.body.code, 'AIRLOCK_ROTATION_IN_PROGRESS');
  } finally {
    await a.server.store.db.updateTable('stored_credentials').set({ rotation_lease_until: null, rotation_lease_token: null }).where('resource', '=', 'myvault').execute();
  }
});

test('two rotations at once: one runs, the other is refused, and the stored password is the one MariaDB has', async () => {
  const before = await storedPassword('myvault');
  const both = await Promise.all([call(bob, 'POST', '/api/v1/credentials/myvault/rotate'), call(bob, 'POST', '/api/v1/credentials/myvault/rotate')]);
  assert.deepEqual(both.map((x) => x.status).sort(), [200, 409], JSON.stringify(both.map((x) => x.body)));
  assert.equal(both.find((x) => x.status === 409)!.body.code, 'AIRLOCK_ROTATION_IN_PROGRESS');
  const now = await storedPassword('myvault');
  assert.notEqual(now, before);
  await (await mysqlDirect(myUser.vault, now)).end();
  await assert.rejects(mysqlDirect(myUser.vault, before), /Access denied/);
});

test('an upstream that is down: the rotation fails at connect and nothing changes', async () => {
  const before = (await call(bob, 'GET', '/api/v1/credentials')).body.credentials.find((c: Json) => c.resource === 'pgvault');
  const stored = await storedPassword('pgvault');
  // Nothing listens on port 9 (discard) of this machine.
  writeFileSync(join(a.dir, 'airlock.yaml'), policy('127.0.0.1:9'));
  await a.server.reloadPolicy('test', null);
  try {
    const r = await call(bob, 'POST', '/api/v1/credentials/pgvault/rotate');
    assert.equal(r.status, 502);
    assert.match(r.body.detail, /\(connect\): could not log in/);
    assert.equal(await storedPassword('pgvault'), stored);
    assert.equal((await call(bob, 'GET', '/api/v1/credentials')).body.credentials.find((c: Json) => c.resource === 'pgvault').version, before.version);
  } finally {
    const up = new URL(adminUrl());
    writeFileSync(join(a.dir, 'airlock.yaml'), policy(`${up.hostname}:${up.port || 5432}`));
    await a.server.reloadPolicy('test', null);
  }
});

test('rotate_every: 3s rotates on time, by itself', async () => {
  const first = (await call(bob, 'GET', '/api/v1/credentials')).body.credentials.find((c: Json) => c.resource === 'pgsched');
  const deadline = Date.now() + 20_000;
  let rotated: Json[] = [];
  while (rotated.length < 1 && Date.now() < deadline) {
    rotated = (await auditOf('credential.rotate')).filter((e) => e.target === 'pgsched' && e.details.scheduled === true);
    if (!rotated.length) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(rotated.length >= 1, 'a scheduled rotation happened');
  const oldest = rotated.map((e) => Date.parse(e.time)).sort((x, y) => x - y)[0]!;
  const due = Date.parse(first.set_at) + 3000;
  assert.ok(oldest >= due && oldest < due + 3000, `rotated at ${new Date(oldest).toISOString()}, due ${new Date(due).toISOString()}`);
  assert.equal(rotated[0].actor, 'airlock');
  assert.equal(await pgVerifierMatches(role.sched, await storedPassword('pgsched')), true);
});

test('rekey: every secret moves to key version 2; restarted without the old key file, everything still reads', async () => {
  // A per-grant login record (what per_grant_role resources keep), written with the v1 key like any older row.
  const keys = loadSecretKeys({ dataDir: join(a.dir, 'data') });
  await a.server.store.db.insertInto('grant_credentials').values({ grant_id: 'grt_rekeytest', resource: 'pgvault', username: 'airlock_x', secret: encrypt(keys, 'per-grant-pw', 'grt_rekeytest'), created_at: new Date().toISOString(), dropped_at: new Date().toISOString() }).execute();
  const r = await cli(['secrets', 'rekey', '--json'], '');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.key_version, 2);
  assert.equal(out.re_encrypted.stored_credentials, 6);
  assert.equal(out.re_encrypted.grant_credentials, 1);
  assert.deepEqual(out.retired_versions, [1]);
  assert.ok(existsSync(join(a.dir, 'data', 'secret.key.v2')));
  const audited = await auditOf('secrets.rekey');
  assert.equal(audited.at(-1).details.re_encrypted.stored_credentials, 6);
  const pgNow = await storedPassword('pgvault');
  const myNow = await storedPassword('myvault');

  await a.stop({ keepDir: true });
  rmSync(join(dir, 'data', 'secret.key'));
  a = await startAirlock({ policy: policy(`${new URL(adminUrl()).hostname}:${new URL(adminUrl()).port || 5432}`), dir });
  bob = await a.token('bob');
  alice = await a.token('alice');
  assert.ok(!existsSync(join(dir, 'data', 'secret.key')), 'no new v1 key was made');
  const rows = await a.server.store.db.selectFrom('stored_credentials').select(['secret']).execute();
  assert.ok(rows.every((x) => x.secret.startsWith('v2:')));
  const onlyNew = loadSecretKeys({ dataDir: join(dir, 'data') });
  assert.deepEqual(onlyNew.versions(), [2]);
  const gc = await a.server.store.db.selectFrom('grant_credentials').select('secret').where('grant_id', '=', 'grt_rekeytest').executeTakeFirstOrThrow();
  assert.equal(decrypt(onlyNew, gc.secret, 'grt_rekeytest'), 'per-grant-pw');
  assert.equal(await storedPassword('pgvault'), pgNow);
  // The grant from before the restart is still active.
  const s = await mysqlGateway();
  assert.equal((await s.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM t'))[0][0]!.n, 2, 'a session logs in with the password read with the new key');
  await s.end();
  assert.equal(await storedPassword('myvault'), myNow);
  const rot = await call(bob, 'POST', '/api/v1/credentials/myvault/rotate');
  assert.equal(rot.status, 200, JSON.stringify(rot.body));
  assert.ok((await a.server.store.db.selectFrom('stored_credentials').select('secret').where('resource', '=', 'myvault').executeTakeFirstOrThrow()).secret.startsWith('v2:'));
});
