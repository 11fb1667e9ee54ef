// Per-grant PostgreSQL roles against a real server: privileges, read-only, drop with live sessions, cleanup, and no leaks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { makePgGrantRoles, type PgGrantRoles, type PgPrivileges, type PgRoleCredentials } from '../../src/credentials/pg-grant-roles.js';
import { AirlockError } from '../../src/domain/errors.js';
import { newId } from '../../src/domain/ids.js';
import { adminUrl, createTestDatabase, urlForDatabase, type TestDatabase } from '../support/pg.js';

// Roles are cluster-wide and the server is shared: every name made here carries this run's suffix.
const suffix = randomBytes(4).toString('hex');
const marker = `airlock_managed_t${suffix}`;
const markers = [marker];
const decoys: string[] = [];
const logs: Array<{ msg: string; fields?: object }> = [];
const note = (fields: object, msg?: string) => void logs.push({ msg: msg ?? '', fields });
const passwords: string[] = [];
const errorMessages: string[] = [];
const instances: PgGrantRoles[] = [];
const HOUR = 3600_000;

const READ: PgPrivileges = { read_only: true, member_of: [], grants: ['USAGE ON SCHEMA public', 'SELECT ON ALL TABLES IN SCHEMA public'] };
const WRITE: PgPrivileges = {
  read_only: false,
  member_of: [],
  grants: ['USAGE, CREATE ON SCHEMA public', 'SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public'],
};

let db: TestDatabase;
let roles: PgGrantRoles;

function makeRoles(markerRole: string): PgGrantRoles {
  const r = makePgGrantRoles({ adminUrl: adminUrl(), markerRole, log: { info: note, warn: note, error: note } });
  instances.push(r);
  return r;
}

async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = [], url = adminUrl()): Promise<R[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function roleRow(name: string) {
  const rows = await adminQuery<{ rolcanlogin: boolean; rolsuper: boolean; rolcreaterole: boolean; rolconnlimit: number }>(
    'select rolcanlogin, rolsuper, rolcreaterole, rolconnlimit from pg_roles where rolname = $1',
    [name],
  );
  return rows[0];
}

async function connectAs(creds: PgRoleCredentials, database = db.name): Promise<pg.Client> {
  const u = new URL(urlForDatabase(adminUrl(), database));
  u.username = encodeURIComponent(creds.username);
  u.password = encodeURIComponent(creds.password);
  const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The SQLSTATE a promise rejects with; fails the test when it resolves. */
async function sqlState(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    errorMessages.push((e as Error).message);
    return (e as { code?: string }).code ?? `no code: ${(e as Error).message}`;
  }
  assert.fail('expected the statement to fail');
}

async function newRole(r: PgGrantRoles, principal: string, privileges: PgPrivileges, grantId = newId('grt')) {
  const creds = await r.create({ grantId, principal, expiresAt: new Date(Date.now() + HOUR), database: db.name, privileges });
  passwords.push(creds.password);
  return { grantId, principal, creds };
}

async function airlockError(p: Promise<unknown>, code: string, mentions: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AirlockError, String(e));
    errorMessages.push(e.message, JSON.stringify(e.details ?? {}));
    assert.equal(e.code, code);
    assert.match(e.message, mentions);
    return true;
  });
}

before(async () => {
  db = await createTestDatabase('airlock_cred');
  await adminQuery("create table items (id int primary key, name text not null); insert into items select g, 'item ' || g from generate_series(1, 5) g", [], db.url);
  roles = makeRoles(marker);
});

// Runs even when assertions failed: the test database goes first (WITH FORCE), then every role this run made.
after(async () => {
  const attempt = async (what: string, fn: () => Promise<unknown>) => fn().catch((e) => console.error(`# teardown: ${what}: ${(e as Error).message}`));
  for (const r of instances) await attempt('close', () => r.close());
  await attempt('drop database', () => db.drop());
  const members = await adminQuery<{ rolname: string }>(
    `select r.rolname from pg_roles r join pg_auth_members m on m.member = r.oid join pg_roles mk on mk.oid = m.roleid where mk.rolname = any($1)`,
    [markers],
  );
  for (const name of [...members.map((m) => m.rolname), ...decoys, ...markers]) {
    const q = `"${name.replace(/"/g, '""')}"`;
    await attempt(`drop role ${name}`, () => adminQuery(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [name])
      .then(() => adminQuery(`DROP OWNED BY ${q}`)).then(() => adminQuery(`DROP ROLE ${q}`))
      .catch((e: { code?: string }) => (e.code === '42704' ? undefined : Promise.reject(e))));
  }
});

test('a read-only role can SELECT, cannot write, and still cannot after turning read-only off', async () => {
  const privileges = { ...READ, connection_limit: 3 };
  const { grantId, principal, creds } = await newRole(roles, `Alice.${suffix}@example.com`, privileges);
  assert.equal(creds.username, roles.roleName(principal, grantId));
  assert.match(creds.username, /^airlock_alice_[0-9a-f]{8}_example_com_[a-z2-7]{8}$/);
  const c = await connectAs(creds);
  try {
    assert.equal((await c.query('select count(*)::int as n from items')).rows[0].n, 5);
    assert.equal(await sqlState(c.query("insert into items values (100, 'x')")), '25006');
    await c.query('set default_transaction_read_only = off');
    assert.equal(await sqlState(c.query("insert into items values (100, 'x')")), '42501');
    assert.equal(await sqlState(c.query('create table sneaky (x int)')), '42501');
  } finally {
    await c.end();
  }
  const row = await roleRow(creds.username);
  assert.deepEqual(row, { rolcanlogin: true, rolsuper: false, rolcreaterole: false, rolconnlimit: 3 });
  const listed = (await roles.list()).find((r) => r.name === creds.username);
  assert.ok(listed);
  assert.equal(listed.grantId, grantId);
  assert.ok(listed.validUntil && Math.abs(listed.validUntil.getTime() - Date.now() - HOUR) < 60_000);
  assert.deepEqual(await roles.drop(grantId, principal, 'test done'), { dropped: true, terminated: 0 });
  assert.equal(await roleRow(creds.username), undefined);
  assert.deepEqual(await roles.drop(grantId, principal), { dropped: false, terminated: 0 }, 'dropping again is a no-op');
});

test('member_of grants by membership, e.g. pg_read_all_data', async () => {
  const { grantId, principal, creds } = await newRole(roles, `reader-${suffix}`, { read_only: true, member_of: ['pg_read_all_data'], grants: [] });
  const c = await connectAs(creds);
  try {
    assert.equal((await c.query('select count(*)::int as n from items')).rows[0].n, 5);
    assert.equal(await sqlState(c.query('delete from items')), '25006');
  } finally {
    await c.end();
  }
  assert.equal((await roles.drop(grantId, principal)).dropped, true);
});

test('a write role can write; what it created is reassigned and the role dropped cleanly', async () => {
  const { grantId, principal, creds } = await newRole(roles, `writer-${suffix}`, WRITE);
  const c = await connectAs(creds);
  try {
    await c.query("insert into items values (100, 'written under a grant')");
    await c.query('create table made_by_grant (x int)');
    await c.query('insert into made_by_grant values (1), (2)');
    await c.query('alter default privileges in schema public grant select on tables to public');
  } finally {
    await c.end();
  }
  assert.deepEqual(await roles.drop(grantId, principal, 'expired'), { dropped: true, terminated: 0 });
  assert.equal(await roleRow(creds.username), undefined);
  const [me] = await adminQuery<{ u: string }>('select current_user as u');
  const [table] = await adminQuery<{ tableowner: string; n: number }>(
    "select tableowner, (select count(*)::int from made_by_grant) as n from pg_tables where tablename = 'made_by_grant'", [], db.url);
  assert.deepEqual(table, { tableowner: me!.u, n: 2 }, 'the data stays, owned by the admin');
  assert.equal((await adminQuery("select 1 from items where id = 100", [], db.url)).length, 1);
});

test('drop ends open sessions and removes the role', async () => {
  const { grantId, principal, creds } = await newRole(roles, `dropper-${suffix}`, READ);
  const c = await connectAs(creds);
  try {
    await c.query('select 1');
    const res = await roles.drop(grantId, principal, 'revoked');
    assert.deepEqual(res, { dropped: true, terminated: 1 });
    await assert.rejects(c.query('select 1'));
  } finally {
    await c.end().catch(() => {});
  }
  assert.equal(await roleRow(creds.username), undefined);
  // 28000 under trust; with password authentication a missing role looks like a wrong password (28P01).
  assert.match(await sqlState(connectAs(creds)), /^28/);
  const dropped = logs.find((l) => l.msg === 'pg grant role dropped' && (l.fields as { role?: string }).role === creds.username);
  assert.deepEqual(dropped?.fields, { role: creds.username, grantId, reason: 'revoked', terminated: 1, databases: [db.name] });
});

test('disable ends sessions and refuses new logins, but keeps the role', async () => {
  const { grantId, principal, creds } = await newRole(roles, `disabled-${suffix}`, READ);
  const c = await connectAs(creds);
  const start = Date.now();
  assert.deepEqual(await roles.disable(grantId, principal), { disabled: true, terminated: 1 });
  assert.ok(Date.now() - start < 1000, 'disabling is the fast path of a revocation');
  await assert.rejects(c.query('select 1'));
  await c.end().catch(() => {});
  assert.equal(await sqlState(connectAs(creds)), '28000');
  assert.equal((await roleRow(creds.username))?.rolcanlogin, false);
  assert.equal((await roles.drop(grantId, principal)).dropped, true);
});

test('roles that are not Airlock\'s are never touched by drop, disable or cleanup', async () => {
  const grantId = newId('grt');
  const principal = `mallory-${suffix}`;
  const name = roles.roleName(principal, grantId);
  // Same name and even Airlock's comment, but not a member of the marker: somebody else's role.
  for (const decoy of [name, `${name}x`]) {
    decoys.push(decoy);
    await adminQuery(`CREATE ROLE "${decoy}" LOGIN; COMMENT ON ROLE "${decoy}" IS 'airlock grant ${grantId}'`);
  }
  assert.deepEqual(await roles.drop(grantId, principal, 'test'), { dropped: false, terminated: 0 });
  assert.deepEqual(await roles.disable(grantId, principal), { disabled: false, terminated: 0 });
  assert.deepEqual(await roles.cleanup(() => false), []);
  for (const decoy of decoys) assert.equal((await roleRow(decoy))?.rolcanlogin, true, decoy);
  assert.ok(logs.some((l) => /not a member of/.test(l.msg) && (l.fields as { role?: string }).role === name));

});

test('a managed role is only dropped for the grant in its comment, and names never collide silently', async () => {
  const principal = `carol-${suffix}`;
  const first = await newRole(roles, principal, READ);
  // Same first 8 characters of the id, so the same role name: a different grant must neither drop nor reuse the role.
  const twin = `${first.grantId}q`;
  assert.equal(roles.roleName(principal, twin), first.creds.username);
  assert.deepEqual(await roles.drop(twin, principal), { dropped: false, terminated: 0 });
  assert.deepEqual(await roles.disable(twin, principal), { disabled: false, terminated: 0 });
  await airlockError(
    roles.create({ grantId: twin, principal, expiresAt: new Date(Date.now() + HOUR), database: db.name, privileges: READ }),
    'AIRLOCK_INTERNAL', /a role named .* already exists/,
  );
  const c = await connectAs(first.creds);
  await c.end();
  assert.equal((await roles.drop(first.grantId, principal)).dropped, true);
});

test('cleanup drops roles of inactive grants, keeps active ones, and disables unlabelled ones', async () => {
  const cleanupMarker = `airlock_managed_c${suffix}`;
  markers.push(cleanupMarker);
  const r = makeRoles(cleanupMarker);
  const active = await newRole(r, `active-${suffix}`, READ);
  const inactive = await newRole(r, `inactive-${suffix}`, WRITE);
  const unlabelled = await newRole(r, `unlabelled-${suffix}`, READ);
  await adminQuery(`COMMENT ON ROLE "${unlabelled.creds.username}" IS 'edited by hand'`);
  const session = await connectAs(inactive.creds);
  const asked: string[] = [];
  const dropped = await r.cleanup(async (id) => {
    asked.push(id);
    return id === active.grantId;
  });
  assert.deepEqual(dropped, [inactive.creds.username]);
  assert.deepEqual(asked.sort(), [active.grantId, inactive.grantId].sort());
  await assert.rejects(session.query('select 1'), 'the inactive grant\'s session is ended');
  await session.end().catch(() => {});
  assert.equal(await roleRow(inactive.creds.username), undefined);
  assert.equal((await roleRow(active.creds.username))?.rolcanlogin, true);
  assert.equal((await roleRow(unlabelled.creds.username))?.rolcanlogin, false, 'disabled, not dropped');
  assert.ok(logs.some((l) => /no grant id/.test(l.msg) && (l.fields as { role?: string }).role === unlabelled.creds.username));
  const listed = await r.list();
  assert.deepEqual(listed.map((x) => [x.name, x.grantId, x.canLogin]), [
    [active.creds.username, active.grantId, true],
    [unlabelled.creds.username, null, false],
  ]);
  assert.deepEqual(await r.cleanup(() => false), [active.creds.username]);
  assert.deepEqual((await roles.list()).filter((x) => x.name.includes(suffix)), [], 'the other marker\'s roles are not this instance\'s');
});

test('a failed create says why, leaves nothing behind, and refuses dangerous privileges', async () => {
  const principal = `failing-${suffix}`;
  const attempt = (privileges: PgPrivileges, extra: { expiresAt?: Date; database?: string } = {}) => {
    const grantId = newId('grt');
    const p = roles.create({ grantId, principal, expiresAt: extra.expiresAt ?? new Date(Date.now() + HOUR), database: extra.database ?? db.name, privileges });
    return { grantId, p };
  };
  const missing = attempt({ ...READ, grants: [...READ.grants, 'SELECT ON TABLE no_such_table'] });
  await airlockError(missing.p, 'AIRLOCK_INTERNAL', /at: grant "SELECT ON TABLE no_such_table".*does not exist/);
  assert.equal(await roleRow(roles.roleName(principal, missing.grantId)), undefined, 'the transaction left no role behind');
  await airlockError(attempt({ ...READ, member_of: ['postgres'] }).p, 'AIRLOCK_BAD_INPUT', /superuser/);
  await airlockError(attempt({ ...READ, member_of: ['pg_execute_server_program'] }).p, 'AIRLOCK_BAD_INPUT', /pg_execute_server_program/);
  await airlockError(attempt({ ...READ, member_of: [`no_such_role_${suffix}`] }).p, 'AIRLOCK_BAD_INPUT', /do not exist/);
  await airlockError(attempt({ ...READ, member_of: ['x"; DROP ROLE postgres; --'] }).p, 'AIRLOCK_BAD_INPUT', /not a plain role name/);
  await airlockError(attempt({ ...READ, member_of: [marker] }).p, 'AIRLOCK_BAD_INPUT', /marker/);
  await airlockError(attempt({ ...READ, grants: ['SELECT ON items TO PUBLIC --'] }).p, 'AIRLOCK_BAD_INPUT', /comment/);
  await airlockError(attempt({ ...READ, grants: ['SELECT ON items; DROP TABLE items'] }).p, 'AIRLOCK_BAD_INPUT', /';'/);
  await airlockError(attempt({ ...READ, grants: [...READ.grants, 'INSERT ON items'] }).p, 'AIRLOCK_BAD_INPUT', /read_only but grants writing: INSERT ON items/);
  await airlockError(attempt({ ...READ, member_of: ['pg_write_all_data'] }).p, 'AIRLOCK_BAD_INPUT', /read_only but grants writing/);
  await airlockError(attempt(READ, { expiresAt: new Date(Date.now() - 1000) }).p, 'AIRLOCK_BAD_INPUT', /expired/);
  await airlockError(attempt({ ...READ, connection_limit: 0 }).p, 'AIRLOCK_BAD_INPUT', /connection_limit/);
  await airlockError(attempt(READ, { database: `no_such_db_${suffix}` }).p, 'AIRLOCK_INTERNAL', /at: connect to the database.*does not exist/);
  assert.deepEqual((await roles.list()).filter((r) => r.name.includes('failing')), []);
  assert.equal((await adminQuery('select count(*)::int as n from items', [], db.url))[0]!.n > 0, true);
});

test('the marker role is created once even when several processes race, and must be NOLOGIN', async () => {
  const raced = `airlock_managed_r${suffix}`;
  markers.push(raced);
  const racers = [makeRoles(raced), makeRoles(raced), makeRoles(raced), makeRoles(raced)];
  await Promise.all(racers.map((r) => r.ensureMarker()));
  assert.equal((await roleRow(raced))?.rolcanlogin, false);
  const loginMarker = `airlock_login_marker_${suffix}`;
  decoys.push(loginMarker);
  await adminQuery(`CREATE ROLE "${loginMarker}" LOGIN`);
  await airlockError(makeRoles(loginMarker).ensureMarker(), 'AIRLOCK_INTERNAL', /must be a plain NOLOGIN role/);
});

test('no password or password verifier appears in any log line or error message', () => {
  assert.ok(passwords.length >= 8 && logs.length > 0 && errorMessages.length > 0);
  const text = [...logs.map((l) => `${l.msg} ${JSON.stringify(l.fields ?? {})}`), ...errorMessages].join('\n');
  for (const pw of passwords) assert.ok(!text.includes(pw), 'a password leaked');
  assert.ok(!/SCRAM-SHA-256|PASSWORD '/i.test(text), 'a verifier or the CREATE ROLE statement leaked');
  assert.ok(logs.some((l) => l.msg === 'pg grant role created'));
});
