// Per-grant MySQL/MariaDB users against the machine's MariaDB: privileges the server enforces, the resource's schemas
// only, drop with a live connection, start-up cleanup per deployment, expiry by the server's event, failed drops retried.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { DEFAULT_EVENT_SCHEMA, makeMysqlGrantUsers, type MysqlGrantUsers, type MysqlPrivileges, type MysqlUserCredentials } from '../../src/credentials/mysql-grant-users.js';
import { mysqlExpiryEventName } from '../../src/credentials/mysql-user-names.js';
import { makeMysqlCredentials, mysqlPrivilegesFor } from '../../src/gateway/mysql-credentials.js';
import type { RoleDef } from '../../src/policy/schema.js';
import { systemClock } from '../../src/domain/clock.js';
import { newId } from '../../src/domain/ids.js';
import { auditEvents, makeHarness, type Harness } from '../support/harness.js';
import { waitFor } from './pg-gateway-harness.js';

const SERVER = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };
const suffix = randomBytes(4).toString('hex');
const DB = `airlock_t_${suffix}`;
const OTHER_DB = `airlock_t_${suffix}_other`;
const DEPLOY_A = `a${suffix}`;
const DEPLOY_B = `b${suffix}`;
const HOUR = 3600_000;
const READ: MysqlPrivileges = { read_only: true, grants: [`SELECT, SHOW VIEW ON \`${DB}\`.*`] };
const WRITE: MysqlPrivileges = { read_only: false, grants: [`SELECT, SHOW VIEW, INSERT, UPDATE, DELETE ON \`${DB}\`.*`] };

let root: mysql.Connection;
const instances: MysqlGrantUsers[] = [];
/** Every account this file may have made, dropped in after(): per-grant users, the hand-made decoys, the admin. */
const accounts = new Set<string>();
const roles = new Set<string>();
const passwords: string[] = [];
const logs: Array<{ msg: string; fields: object }> = [];
const log = { info: (f: object, m?: string) => logs.push({ msg: m ?? '', fields: f }), warn: (f: object, m?: string) => logs.push({ msg: m ?? '', fields: f }), error: (f: object, m?: string) => logs.push({ msg: m ?? '', fields: f }) };
let schedulerBefore: string | undefined;

/** A least-privilege admin, as docs/credentials.md lists: the provider tests prove the list is enough. */
async function leastPrivilegeAdmin(tag: string): Promise<{ name: string }> {
  const name = `airlock_t_${tag}_${suffix}`;
  const password = randomBytes(12).toString('hex');
  await root.query(`CREATE USER '${name}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  accounts.add(`'${name}'@'127.0.0.1'`);
  await root.query(`GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO '${name}'@'127.0.0.1'`);
  await root.query(`GRANT SELECT ON mysql.* TO '${name}'@'127.0.0.1'`);
  await root.query(`GRANT SELECT, SHOW VIEW, INSERT, UPDATE, DELETE ON \`${DB}\`.* TO '${name}'@'127.0.0.1' WITH GRANT OPTION`);
  // The expiry events live in Airlock's own schema, which the admin creates when missing.
  await root.query(`GRANT CREATE, EVENT ON \`${DEFAULT_EVENT_SCHEMA}\`.* TO '${name}'@'127.0.0.1'`);
  process.env.AIRLOCK_T_MYSQL_ADMIN = password;
  return { name };
}

function providerPolicy(admin: string): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
resources:
  - name: shop
    kind: mysql
    address: "127.0.0.1:3306"
    database: ${DB}
    credential: { username: ${admin}, password: { env: AIRLOCK_T_MYSQL_ADMIN } }
roles:
  - name: read
    resources: { names: [shop] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
}

function users(deploymentId: string, opts: Partial<Parameters<typeof makeMysqlGrantUsers>[0]> = {}): MysqlGrantUsers {
  const u = makeMysqlGrantUsers({ ...SERVER, deploymentId, log, ...opts });
  instances.push(u);
  roles.add(u.marker);
  return u;
}

async function rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await root.query(sql, params);
  return r as T[];
}

async function userHosts(name: string): Promise<string[]> {
  return (await rows<{ Host: string }>('SELECT Host FROM mysql.user WHERE User = ?', [name])).map((r) => r.Host);
}

async function newUser(u: MysqlGrantUsers, principal: string, privileges: MysqlPrivileges, expiresAt = new Date(Date.now() + HOUR), grantId = newId('grt')) {
  const creds = await u.create({ grantId, principal, expiresAt, schemas: [DB], privileges });
  accounts.add(`'${creds.username}'@'${creds.host}'`);
  passwords.push(creds.password);
  return { grantId, principal, creds };
}

async function connectAs(creds: Pick<MysqlUserCredentials, 'username' | 'password'>, database: string | undefined = DB): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ ...SERVER, user: creds.username, password: creds.password, database, connectTimeout: 5000 });
  c.on('error', () => {});
  return c;
}

/** The server's error number for a statement that must fail. */
async function errno(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
  } catch (e) {
    return (e as { errno?: number }).errno ?? (e as Error).message;
  }
  assert.fail('expected the server to refuse');
}

before(async () => {
  root = await mysql.createConnection(SERVER);
  for (const db of [DB, OTHER_DB]) {
    await root.query(`CREATE DATABASE \`${db}\``);
    await root.query(`CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)`);
    await root.query(`INSERT INTO \`${db}\`.items VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
  }
  schedulerBefore = (await rows<{ v: string }>('SELECT @@GLOBAL.event_scheduler AS v'))[0]!.v;
});

// Runs even when assertions failed: every user, role and database this file made, and the scheduler as it was.
after(async () => {
  const attempt = async (what: string, fn: () => Promise<unknown>) => fn().catch((e) => console.error(`# teardown: ${what}: ${(e as Error).message}`));
  for (const u of instances) await attempt('close', () => u.close());
  for (const a of accounts) await attempt(`drop ${a}`, () => root.query(`DROP USER IF EXISTS ${a}`));
  for (const r of roles) {
    // Anything left granted the role (a test that failed half-way) goes with it.
    for (const m of await rows<{ User: string; Host: string }>("SELECT User, Host FROM mysql.roles_mapping WHERE Role = ? AND Admin_option <> 'Y'", [r])) {
      await attempt(`drop ${m.User}`, () => root.query(`DROP USER IF EXISTS '${m.User}'@'${m.Host}'`));
    }
    await attempt(`drop role ${r}`, () => root.query(`DROP ROLE IF EXISTS \`${r}\``));
  }
  for (const db of [DB, OTHER_DB]) await attempt(`drop ${db}`, () => root.query(`DROP DATABASE IF EXISTS \`${db}\``));
  if (schedulerBefore !== undefined) await attempt('restore event_scheduler', () => root.query(`SET GLOBAL event_scheduler = ${schedulerBefore === 'ON' ? 'ON' : 'OFF'}`));
  await root.end();
  const leaked = passwords.filter((p) => JSON.stringify(logs).includes(p));
  assert.deepEqual(leaked, [], 'no password in any log line');
});

test('a read user can SELECT on its schema; the server refuses every write, DDL, and any other schema', async () => {
  const u = users(DEPLOY_A);
  const { grantId, principal, creds } = await newUser(u, `Alice.${suffix}@example.com`, READ);
  assert.equal(creds.username, u.userName(principal, grantId));
  assert.match(creds.username, /^airlock_alice_[0-9a-f]{8}_[a-z2-7]{8}$/);
  assert.equal(creds.username.length, 31, 'the principal part is cut to 15 characters');
  assert.deepEqual(await userHosts(creds.username), ['127.0.0.1'], 'the account is for where the gateway connects from');
  const c = await connectAs(creds);
  try {
    const [r] = await c.query('SELECT COUNT(*) AS n FROM items');
    assert.equal((r as Array<{ n: number }>)[0]!.n, 3);
    // 1142: ER_TABLEACCESS_DENIED_ERROR. This is the defense in depth under the gateway's guardrails.
    assert.equal(await errno(c.query("INSERT INTO items VALUES (9, 'x')")), 1142);
    assert.equal(await errno(c.query("UPDATE items SET name = 'x'")), 1142);
    assert.equal(await errno(c.query('DELETE FROM items')), 1142);
    assert.equal(await errno(c.query('CREATE TABLE sneaky (x INT)')), 1142);
    assert.equal(await errno(c.query(`SELECT * FROM \`${OTHER_DB}\`.items`)), 1142);
    assert.equal(await errno(c.query(`CREATE USER 'x${suffix}'@'%'`)), 1227);
  } finally {
    await c.end();
  }
  // 1044: ER_DBACCESS_DENIED_ERROR, at connect.
  assert.equal(await errno(connectAs(creds, OTHER_DB)), 1044);
  const listed = (await u.list()).find((x) => x.name === creds.username);
  assert.equal(listed?.grantId, grantId);
  assert.ok(listed.expiresAt && Math.abs(listed.expiresAt.getTime() - Date.now() - HOUR) < 60_000, 'the event is due at the grant\'s end');
  assert.equal(listed.eventSchema, DEFAULT_EVENT_SCHEMA, 'events live in Airlock\'s own schema, which no resource covers');
  assert.deepEqual(await u.drop(grantId, principal, 'test done'), { dropped: true, terminated: 0 });
  assert.deepEqual(await userHosts(creds.username), []);
  assert.deepEqual(await rows('SELECT 1 FROM information_schema.EVENTS WHERE EVENT_NAME = ?', [mysqlExpiryEventName(creds.username)]), [], 'its event went too');
  assert.deepEqual(await u.drop(grantId, principal), { dropped: false, terminated: 0 }, 'dropping again is a no-op');
});

test('a write user can change rows but not the schema; explicit grants give exactly what they say', async () => {
  const u = users(DEPLOY_A);
  const w = await newUser(u, `writer-${suffix}`, WRITE);
  const c = await connectAs(w.creds);
  try {
    await c.query("INSERT INTO items VALUES (10, 'ten')");
    await c.query("UPDATE items SET name = 'TEN' WHERE id = 10");
    await c.query('DELETE FROM items WHERE id = 10');
    assert.equal(await errno(c.query('CREATE TABLE made (x INT)')), 1142);
    assert.equal(await errno(c.query('DROP TABLE items')), 1142);
    assert.equal(await errno(c.query('ALTER TABLE items ADD COLUMN y INT')), 1142);
    assert.equal(await errno(c.query(`INSERT INTO \`${OTHER_DB}\`.items VALUES (10, 'x')`)), 1142);
  } finally {
    await c.end();
  }
  assert.equal((await u.drop(w.grantId, w.principal)).dropped, true);

  const e = await newUser(u, `narrow-${suffix}`, { read_only: true, grants: [`SELECT (id) ON ${DB}.items`] });
  const c2 = await connectAs(e.creds);
  try {
    await c2.query('SELECT id FROM items');
    assert.equal(await errno(c2.query('SELECT name FROM items')), 1143, 'only the granted column');
  } finally {
    await c2.end();
  }
  assert.equal((await u.drop(e.grantId, e.principal)).dropped, true);
  await assert.rejects(u.create({ grantId: newId('grt'), principal: 'x', expiresAt: new Date(Date.now() + HOUR), schemas: [DB], privileges: { read_only: true, grants: [`INSERT ON ${DB}.*`] } }), /read_only but grants writing/);
  await assert.rejects(u.create({ grantId: newId('grt'), principal: 'x', expiresAt: new Date(Date.now() + HOUR), schemas: [DB], privileges: { read_only: false, grants: ['SELECT ON *.*'] } }), /never \*\.\*/);
});

test('dropping a user kills its live connection, and it cannot log in again', async () => {
  const u = users(DEPLOY_A);
  const { grantId, principal, creds } = await newUser(u, `dropper-${suffix}`, READ);
  const c = await connectAs(creds);
  await c.query('SELECT 1');
  const start = Date.now();
  assert.deepEqual(await u.drop(grantId, principal, 'revoked'), { dropped: true, terminated: 1 });
  assert.ok(Date.now() - start < 1000, `dropped within a second (${Date.now() - start} ms)`);
  await assert.rejects(c.query('SELECT 1'));
  await c.end().catch(() => {});
  // Access denied: 1045 (ER_ACCESS_DENIED_ERROR), or 1698 where MariaDB answers a login for an account that no longer
  // exists that way (as the event-scheduler test below accepts too). A connection that failed below the protocol (no
  // errno: a reset on a loaded machine) says nothing about the account, so such an attempt is made again.
  let refused = await errno(connectAs(creds));
  for (let i = 0; i < 3 && typeof refused !== 'number'; i++) refused = await errno(connectAs(creds));
  assert.ok(refused === 1045 || refused === 1698, `the dropped user's login is refused as access denied (got ${String(refused)})`);
  const dropped = logs.find((l) => l.msg === 'mysql grant user dropped' && (l.fields as { user?: string }).user === creds.username);
  assert.deepEqual(dropped?.fields, { user: creds.username, grantId, reason: 'revoked', terminated: 1 });
});

test('cleanup at start drops this deployment\'s users whose grant ended, and leaves another deployment\'s and other users alone', async () => {
  const a = users(DEPLOY_A);
  const b = users(DEPLOY_B);
  const overdue = await newUser(a, `over-${suffix}`, READ);
  const live = await newUser(a, `live-${suffix}`, READ);
  const theirs = await newUser(b, `theirs-${suffix}`, READ);
  // A user someone made by hand with a name of Airlock's shape, and one that is not Airlock's at all.
  const lookalike = `airlock_hand_${suffix.slice(0, 6)}`;
  const plain = `app_${suffix}`;
  for (const n of [lookalike, plain]) {
    await root.query(`CREATE USER '${n}'@'127.0.0.1' IDENTIFIED BY 'x${suffix}'`);
    accounts.add(`'${n}'@'127.0.0.1'`);
  }
  const session = await connectAs(live.creds);
  const theirSession = await connectAs(theirs.creds);
  const active = new Set([live.grantId]);
  const dropped = await a.cleanup((id) => active.has(id));
  assert.deepEqual(dropped, [overdue.creds.username]);
  assert.deepEqual(await userHosts(overdue.creds.username), []);
  for (const n of [live.creds.username, theirs.creds.username, lookalike, plain]) assert.deepEqual(await userHosts(n), ['127.0.0.1'], `${n} is left alone`);
  await session.query('SELECT 1');
  await theirSession.query('SELECT 1');
  assert.deepEqual((await a.list()).map((x) => x.name).sort(), [live.creds.username], 'A lists only its own');
  await session.end();
  await theirSession.end();
  // A marked user whose event is gone and that no store recorded: locked, kept.
  await root.query(`DROP EVENT \`${DEFAULT_EVENT_SCHEMA}\`.\`${mysqlExpiryEventName(live.creds.username)}\``);
  active.clear();
  assert.deepEqual(await a.cleanup((id) => active.has(id), async () => null), []);
  assert.deepEqual(await userHosts(live.creds.username), ['127.0.0.1']);
  assert.equal(await errno(connectAs(live.creds)), 4151, 'ER_ACCOUNT_HAS_BEEN_LOCKED');
  assert.ok(logs.some((l) => l.msg.includes('no known grant: locked')));
  // With the store's record, the same user is dropped.
  assert.deepEqual(await a.cleanup((id) => active.has(id), async (user) => (user === live.creds.username ? live.grantId : null)), [live.creds.username]);
  assert.equal((await b.drop(theirs.grantId, theirs.principal)).dropped, true);
});

test('the server\'s own event ends the user on time with Airlock stopped: locked, connection killed, dropped', async () => {
  const u = users(DEPLOY_A);
  if (schedulerBefore !== 'ON') {
    const off = await u.serverExpiry();
    assert.equal(off.ok, false);
    assert.equal(off.event_scheduler, schedulerBefore);
    assert.match(off.message, /SET GLOBAL event_scheduler = ON/);
    assert.match(off.message, /event_scheduler=ON under \[mysqld\] in my\.cnf/);
    await root.query('SET GLOBAL event_scheduler = ON');
  }
  assert.deepEqual(await u.serverExpiry(), { event_scheduler: 'ON', ok: true, message: 'the event scheduler is ON: the server ends each per-grant user at its grant\'s end, even with Airlock stopped' });
  const { creds } = await newUser(u, `expiring-${suffix}`, READ, new Date(Date.now() + 2000));
  const c = await connectAs(creds);
  await c.query('SELECT 1');
  const idle = c.query('SELECT SLEEP(30)').then(() => 'finished', (e: Error) => e);
  // Airlock stops: nothing of it is left to end the user.
  await u.close();
  instances.splice(instances.indexOf(u), 1);
  await waitFor(async () => (await userHosts(creds.username)).length === 0, 15_000, 'the event to drop the user');
  assert.ok((await idle) instanceof Error, 'the session in SLEEP(30) was killed');
  await c.end().catch(() => {});
  assert.deepEqual(await rows('SELECT 1 FROM information_schema.EVENTS WHERE EVENT_NAME = ?', [mysqlExpiryEventName(creds.username)]), [], 'the one-time event is gone');
  // Access denied: 1045, or 1698 where MariaDB answers a login for an account that no longer exists that way.
  assert.ok([1045, 1698].includes(Number(await errno(connectAs(creds)))), 'the user can no longer log in');
});

test('through the provider: the user is made on grant start, audited, stored encrypted; a failed drop is recorded and retried', async () => {
  const { name: admin } = await leastPrivilegeAdmin('adm');
  const policy = providerPolicy(admin);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-mysql-creds-'));
  const h: Harness = await makeHarness('sqlite', { policy, clock: systemClock });
  const deploymentId = `p${suffix}`;
  roles.add(`airlock_managed_${deploymentId}`);
  const creds = makeMysqlCredentials({ access: h.access, dataDir: dir, deploymentId, log });
  try {
    creds.attach();
    const req = await h.access.requests.create(h.caller('alice'), { resource: 'shop', role: 'read', duration_seconds: 1800, reason: 'look at orders' });
    const { grant_id } = await h.access.reviews.approve(h.caller('bob'), req.id, 'ok');
    const grantId = grant_id!;
    const stored = () => h.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grantId).executeTakeFirst();
    await waitFor(async () => (await stored()) !== undefined, 5000, 'the user to be made');
    const row = (await stored())!;
    accounts.add(`'${row.username}'@'127.0.0.1'`);
    const grant = (await h.access.grants.get(grantId))!;
    const login = await creds.upstreamFor(grant, h.policy.resource('shop')!, undefined);
    passwords.push(login.password);
    assert.deepEqual({ ...login, password: '' }, { host: '127.0.0.1', port: 3306, database: DB, user: row.username, password: '' });
    assert.ok(!row.secret.includes(login.password), 'stored encrypted');
    const c = await connectAs({ username: login.user, password: login.password });
    assert.equal(await errno(c.query("INSERT INTO items VALUES (9, 'x')")), 1142);
    const created = (await auditEvents(h.access.audit)).filter((e) => e.action === 'credential.created');
    assert.deepEqual(created.map((e) => [e.target, e.details]), [['shop', { grant_id: grantId, role: row.username, databases: [DB], valid_until: grant.expires_at, expiry_event: `${DEFAULT_EVENT_SCHEMA}.${mysqlExpiryEventName(row.username)}` }]]);
    assert.deepEqual((await creds.serverExpiry()).map((s) => s.resource), ['shop']);

    // The admin loses CREATE USER: locking and dropping fail; the failure is audited and retried.
    await root.query(`REVOKE CREATE USER ON *.* FROM '${admin}'@'127.0.0.1'`);
    await h.access.grants.revoke(h.caller('bob'), grantId, 'done');
    await waitFor(async () => (await auditEvents(h.access.audit)).some((e) => e.action === 'credential.drop_failed'), 5000, 'credential.drop_failed');
    const failed = (await auditEvents(h.access.audit)).find((e) => e.action === 'credential.drop_failed')!;
    assert.equal(failed.details.role, row.username);
    assert.equal(failed.details.attempt, 1);
    assert.match(String(failed.details.error), /CREATE USER/);
    const pending = await creds.pendingDrops();
    assert.deepEqual(pending.map((p) => [p.grant_id, p.username, p.attempts]), [[grantId, row.username, 1]]);
    assert.ok(pending[0]!.next_attempt_at && Date.parse(pending[0]!.next_attempt_at) > Date.now());
    await root.query(`GRANT CREATE USER ON *.* TO '${admin}'@'127.0.0.1'`);
    // The first retry is due 5 s after the failure, the next ones 10 s and 20 s after that: on a loaded machine the
    // first may still meet the old privileges (a pooled admin connection), so the wait covers three attempts.
    await waitFor(async () => (await auditEvents(h.access.audit)).some((e) => e.action === 'credential.dropped'), 40_000, 'the retried drop');
    assert.deepEqual(await userHosts(row.username), []);
    await assert.rejects(c.query('SELECT 1'), 'the live connection was killed');
    await c.end().catch(() => {});
    const done = (await stored())!;
    assert.ok(done.dropped_at);
    assert.equal(done.next_drop_at, null);
    const droppedEv = (await auditEvents(h.access.audit)).filter((e) => e.action === 'credential.dropped');
    assert.deepEqual(droppedEv.map((e) => [e.details.role, e.details.sessions_ended]), [[row.username, 1]]);
    assert.deepEqual(await creds.pendingDrops(), []);
  } finally {
    await creds.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.AIRLOCK_T_MYSQL_ADMIN;
  }
});

test('through the provider: a grant that ended while Airlock was stopped loses its user at the next start', async () => {
  const policy = providerPolicy((await leastPrivilegeAdmin('adm2')).name);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-mysql-creds-'));
  const h: Harness = await makeHarness('sqlite', { policy, clock: systemClock });
  const deploymentId = `q${suffix}`;
  roles.add(`airlock_managed_${deploymentId}`);
  const first = makeMysqlCredentials({ access: h.access, dataDir: dir, deploymentId, log });
  let second: ReturnType<typeof makeMysqlCredentials> | undefined;
  try {
    first.attach();
    const req = await h.access.requests.create(h.caller('alice'), { resource: 'shop', role: 'read', duration_seconds: 1800, reason: 'look' });
    const grantId = (await h.access.reviews.approve(h.caller('bob'), req.id, 'ok')).grant_id!;
    const stored = () => h.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grantId).executeTakeFirst();
    await waitFor(async () => (await stored()) !== undefined, 5000, 'the user to be made');
    const { username } = (await stored())!;
    accounts.add(`'${username}'@'127.0.0.1'`);
    // Airlock stops; the grant is revoked meanwhile (by another process of the cluster, say).
    await first.close();
    await h.access.grants.revoke(h.caller('bob'), grantId, 'done');
    assert.deepEqual(await userHosts(username), ['127.0.0.1'], 'nobody dropped it while stopped');
    second = makeMysqlCredentials({ access: h.access, dataDir: dir, deploymentId, log });
    await second.cleanup();
    assert.deepEqual(await userHosts(username), []);
    assert.ok((await stored())!.dropped_at);
    const dropped = (await auditEvents(h.access.audit)).filter((e) => e.action === 'credential.dropped');
    assert.deepEqual(dropped.map((e) => [e.details.role, e.details.grant_id, e.details.reason]), [[username, grantId, 'grant ended']]);
  } finally {
    await first.close();
    await second?.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.AIRLOCK_T_MYSQL_ADMIN;
  }
});

test('through the provider: no user is made for a grant that ended after the session was planned, nor again after its user was dropped', async () => {
  const policy = providerPolicy((await leastPrivilegeAdmin('adm3')).name);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-mysql-creds-'));
  const h: Harness = await makeHarness('sqlite', { policy, clock: systemClock });
  const deploymentId = `r${suffix}`;
  roles.add(`airlock_managed_${deploymentId}`);
  const creds = makeMysqlCredentials({ access: h.access, dataDir: dir, deploymentId, log });
  const shop = h.policy.resource('shop')!;
  const rowsOf = (grantId: string) => h.store.db.selectFrom('grant_credentials').selectAll().where('grant_id', '=', grantId).execute();
  const newGrant = async () => {
    const req = await h.access.requests.create(h.caller('alice'), { resource: 'shop', role: 'read', duration_seconds: 1800, reason: 'look' });
    return (await h.access.grants.get((await h.access.reviews.approve(h.caller('bob'), req.id, 'ok')).grant_id!))!;
  };
  try {
    // Not attached: no user is made at grant start, so the connect-time path is the one that would make it.
    const planned = await newGrant();
    await h.access.grants.revoke(h.caller('bob'), planned.id, 'ended before the login');
    await assert.rejects(creds.upstreamFor(planned, shop, undefined), (e: Error & { code?: string }) => e.code === 'AIRLOCK_NO_GRANT' && /ended; request access again/.test(e.message));
    assert.deepEqual(await rowsOf(planned.id), [], 'no user recorded');
    assert.equal((await auditEvents(h.access.audit)).filter((e) => e.action === 'credential.created').length, 0, 'no user made');

    // Attached: the user is made at start and dropped at the end; a login planned before the end gets no new one.
    creds.attach();
    const second = await newGrant();
    await waitFor(async () => (await rowsOf(second.id)).length === 1, 5000, 'the user to be made');
    const { username } = (await rowsOf(second.id))[0]!;
    accounts.add(`'${username}'@'127.0.0.1'`);
    await h.access.grants.revoke(h.caller('bob'), second.id, 'done');
    await waitFor(async () => (await rowsOf(second.id))[0]!.dropped_at !== null, 5000, 'the user to be dropped');
    await assert.rejects(creds.upstreamFor(second, shop, undefined), (e: Error & { code?: string }) => e.code === 'AIRLOCK_NO_GRANT' && /was removed when it ended/.test(e.message));
    assert.equal((await rowsOf(second.id)).length, 1, 'no second user recorded');
    assert.equal((await auditEvents(h.access.audit)).filter((e) => e.action === 'credential.created').length, 1, 'only the first user was made');
    assert.deepEqual(await userHosts(username), []);
  } finally {
    await creds.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.AIRLOCK_T_MYSQL_ADMIN;
  }
});

test('an admin role\'s user has everything on its schema but EVENT: it cannot drop its own expiry event; EVENT and ALL are never given', async () => {
  const u = users(DEPLOY_A);
  const adminRole = { privileges: { sql: 'admin' } } as unknown as RoleDef;
  const a = await newUser(u, `admin-${suffix}`, mysqlPrivilegesFor(adminRole, [DB]));
  const event = mysqlExpiryEventName(a.creds.username);
  const c = await connectAs(a.creds);
  try {
    await c.query('CREATE TABLE admin_made (x INT)');
    await c.query('DROP TABLE admin_made');
    // 1044: ER_DBACCESS_DENIED_ERROR: no privilege at all on Airlock's event schema, not even to drop it whole.
    assert.equal(await errno(c.query(`DROP EVENT \`${DEFAULT_EVENT_SCHEMA}\`.\`${event}\``)), 1044);
    assert.equal(await errno(c.query(`ALTER EVENT \`${DEFAULT_EVENT_SCHEMA}\`.\`${event}\` DISABLE`)), 1044);
    assert.equal(await errno(c.query(`DROP DATABASE \`${DEFAULT_EVENT_SCHEMA}\``)), 1044);
  } finally {
    await c.end();
  }
  assert.equal((await rows('SELECT 1 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [DEFAULT_EVENT_SCHEMA, event])).length, 1, 'the event is still there');
  assert.equal((await u.drop(a.grantId, a.principal)).dropped, true);
  for (const body of [`EVENT ON ${DB}.*`, `SELECT, event ON ${DB}.*`, `ALL PRIVILEGES ON ${DB}.*`, `ALL ON ${DB}.items`]) {
    await assert.rejects(u.create({ grantId: newId('grt'), principal: 'x', expiresAt: new Date(Date.now() + HOUR), schemas: [DB], privileges: { read_only: false, grants: [body] } }), /drop its own expiry event; it is never given/, body);
  }
});
