// A CREATEROLE admin that is not a superuser cleans up after itself, on the machine's PostgreSQL 15 and an embedded 18:
// roles that own objects are reassigned and dropped, roles made before the fix too, and each step is reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { makePgGrantRoles, type PgGrantRoles, type PgPrivileges, type PgRoleEvent } from '../../src/credentials/pg-grant-roles.js';
import { newId } from '../../src/domain/ids.js';
import { startEmbeddedPostgres, type EmbeddedPg } from '../../src/store/embedded-postgres.js';
import { adminUrl, urlForDatabase } from '../support/pg.js';

const suffix = randomBytes(4).toString('hex');
const HOUR = 3600_000;
const WRITE: PgPrivileges = { read_only: false, member_of: [], grants: ['USAGE, CREATE ON SCHEMA public', 'SELECT, INSERT ON ALL TABLES IN SCHEMA public'] };
const READ_ALL: PgPrivileges = { read_only: true, member_of: ['pg_read_all_data'], grants: [] };

interface Server {
  label: string;
  superUrl: string;
  version: number;
  adminUrl: string;
  admin: string;
  database: string;
  roles: PgGrantRoles;
  events: PgRoleEvent[];
  deployment: string;
}

const servers: Server[] = [];
let embedded: { pg: EmbeddedPg; parent: string } | undefined;

async function q<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

function as(url: string, user: string, password: string, database?: string): string {
  const u = new URL(database ? urlForDatabase(url, database) : url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The set-up docs/credentials.md gives for a non-superuser admin, run as the superuser. */
async function setUp(label: string, superUrl: string): Promise<Server> {
  const [{ version }] = await q<{ version: number }>(superUrl, "select current_setting('server_version_num')::int as version");
  const admin = `airlock_admin_${suffix}`;
  const password = randomBytes(18).toString('base64url');
  const database = `airlock_adm_${suffix}`;
  const deployment = `t${suffix}`;
  await q(superUrl, `CREATE ROLE ${admin} LOGIN CREATEROLE PASSWORD '${password}'`);
  if (version >= 160000) await q(superUrl, `GRANT pg_read_all_data TO ${admin} WITH ADMIN OPTION`);
  await q(superUrl, `CREATE DATABASE ${database}`);
  await q(superUrl, `GRANT CONNECT ON DATABASE ${database} TO ${admin} WITH GRANT OPTION`);
  const inDb = urlForDatabase(superUrl, database);
  await q(inDb, "create table items (id int primary key, name text); insert into items values (1, 'one'), (2, 'two')");
  await q(inDb, `GRANT USAGE, CREATE ON SCHEMA public TO ${admin} WITH GRANT OPTION; GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO ${admin} WITH GRANT OPTION`);
  const url = as(superUrl, admin, password);
  const events: PgRoleEvent[] = [];
  const roles = makePgGrantRoles({ adminUrl: url, deploymentId: deployment, onEvent: (e) => void events.push(e) });
  return { label, superUrl, version, adminUrl: url, admin, database, roles, events, deployment };
}

before(async () => {
  servers.push(await setUp('machine', adminUrl()));
  const parent = mkdtempSync(join(tmpdir(), 'airlock-adm-pg-'));
  chmodSync(parent, 0o711); // as root, the server runs as `postgres` and must reach its data directory
  embedded = { pg: await startEmbeddedPostgres({ dir: join(parent, 'pg') }), parent };
  servers.push(await setUp('embedded', embedded.pg.url));
});

after(async () => {
  for (const s of servers) {
    await s.roles.close().catch(() => {});
    if (s.label === 'embedded') continue;
    const steps = [
      `DROP DATABASE IF EXISTS ${s.database} WITH (FORCE)`,
      `DO $$ DECLARE r text; BEGIN
         FOR r IN SELECT m.rolname FROM pg_roles m JOIN pg_auth_members a ON a.member = m.oid JOIN pg_roles k ON k.oid = a.roleid WHERE k.rolname = 'airlock_managed_${s.deployment}'
         LOOP EXECUTE format('DROP OWNED BY %I', r); EXECUTE format('DROP ROLE %I', r); END LOOP; END $$`,
      `DROP ROLE IF EXISTS airlock_managed_${s.deployment}`,
      `DROP OWNED BY ${s.admin}`,
      `DROP ROLE IF EXISTS ${s.admin}`,
    ];
    for (const sql of steps) await q(s.superUrl, sql).catch((e) => console.error(`# teardown: ${(e as Error).message}`));
  }
  if (embedded) {
    await embedded.pg.stop().catch((e) => console.error(`# teardown: ${(e as Error).message}`));
    rmSync(embedded.parent, { recursive: true, force: true });
  }
});

async function roleExists(s: Server, name: string): Promise<boolean> {
  return (await q(s.superUrl, 'select 1 from pg_roles where rolname = $1', [name])).length === 1;
}

for (const which of ['machine', 'embedded'] as const) {
  test(`${which}: a non-superuser admin drops a role that owns a table and has a live session`, async () => {
    const s = servers.find((x) => x.label === which)!;
    const [{ superuser }] = await q<{ superuser: boolean }>(s.adminUrl, 'select rolsuper as superuser from pg_roles where rolname = current_user');
    assert.equal(superuser, false);
    console.log(`# ${which}: PostgreSQL ${s.version}`);
    const grantId = newId('grt');
    const principal = `owner-${suffix}`;
    const creds = await s.roles.create({ grantId, principal, expiresAt: new Date(Date.now() + HOUR), database: s.database, privileges: WRITE });
    assert.match(creds.username, new RegExp(`^airlock_${s.deployment}_owner_`));
    const session = new pg.Client(as(s.superUrl, creds.username, creds.password, s.database));
    session.on('error', () => {});
    await session.connect();
    await session.query("insert into items values (3, 'three'); create table made_under_grant (x int); insert into made_under_grant values (1)");
    // What failed on 15 before: REASSIGN OWNED needs the role's privileges, which CREATEROLE alone does not give.
    assert.deepEqual(await s.roles.drop(grantId, principal, 'grant ended'), { dropped: true, terminated: 1 });
    await assert.rejects(session.query('select 1'), 'the live session was ended');
    await session.end().catch(() => {});
    assert.equal(await roleExists(s, creds.username), false);
    const [table] = await q<{ tableowner: string }>(urlForDatabase(s.superUrl, s.database), "select tableowner from pg_tables where tablename = 'made_under_grant'");
    assert.equal(table!.tableowner, s.admin, 'the table stays, owned by the admin');
    assert.deepEqual(s.events.filter((e) => e.role === creds.username).map((e) => e.kind), ['created', 'dropped']);
    const created = s.events.find((e) => e.kind === 'created' && e.role === creds.username);
    assert.deepEqual(created, { kind: 'created', role: creds.username, grantId, databases: [s.database], validUntil: created!.kind === 'created' ? created!.validUntil : '' });
  });

  test(`${which}: a read role through pg_read_all_data is made and dropped by the same admin`, async () => {
    const s = servers.find((x) => x.label === which)!;
    const grantId = newId('grt');
    const creds = await s.roles.create({ grantId, principal: `reader-${suffix}`, expiresAt: new Date(Date.now() + HOUR), database: s.database, privileges: READ_ALL });
    const rows = await q<{ n: number }>(as(s.superUrl, creds.username, creds.password, s.database), 'select count(*)::int as n from items');
    assert.ok(rows[0]!.n >= 2);
    assert.equal((await s.roles.drop(grantId, `reader-${suffix}`)).dropped, true);
    assert.equal(await roleExists(s, creds.username), false);
  });

  test(`${which}: roles made before the admin held their privileges are still cleaned up`, async () => {
    const s = servers.find((x) => x.label === which)!;
    await s.roles.ensureMarker();
    const grantId = newId('grt');
    const name = s.roles.roleName(`piled-${suffix}`, grantId);
    const password = randomBytes(18).toString('base64url');
    // As the old code did: CREATE ROLE only, so on 15 the admin is not a member and on 16+ it has ADMIN but not INHERIT.
    await q(s.adminUrl, `CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE ${s.roles.marker}; COMMENT ON ROLE ${name} IS 'airlock ${s.deployment} grant ${grantId}'`);
    const [{ held }] = await q<{ held: boolean }>(s.adminUrl, "select pg_has_role(current_user, $1::name, 'USAGE') as held", [name]);
    assert.equal(held, false, 'the admin does not hold the old role\'s privileges');
    // Granted by the admin, as Airlock grants everything: a non-superuser's DROP OWNED revokes only what it granted.
    await q(as(s.adminUrl, s.admin, decodeURIComponent(new URL(s.adminUrl).password), s.database), `GRANT CREATE ON SCHEMA public TO ${name}`);
    await q(as(s.superUrl, name, password, s.database), 'create table piled_up (x int)');
    assert.deepEqual(await s.roles.cleanup(() => false), [name]);
    assert.equal(await roleExists(s, name), false);
    assert.ok(s.events.some((e) => e.kind === 'dropped' && e.role === name && e.grantId === grantId));
  });

  test(`${which}: a drop that fails is reported with the server's reason and succeeds once the cause is gone`, async () => {
    const s = servers.find((x) => x.label === which)!;
    const grantId = newId('grt');
    const principal = `stuck-${suffix}`;
    const creds = await s.roles.create({ grantId, principal, expiresAt: new Date(Date.now() + HOUR), database: s.database, privileges: WRITE });
    // The role owns a table in a second database the admin may not connect to: REASSIGN OWNED there cannot run.
    const locked = `airlock_adm_locked_${suffix}`;
    await q(s.superUrl, `CREATE DATABASE ${locked}`);
    try {
      await q(urlForDatabase(s.superUrl, locked), `GRANT CREATE ON SCHEMA public TO ${s.admin} WITH GRANT OPTION`);
      await q(as(s.adminUrl, s.admin, decodeURIComponent(new URL(s.adminUrl).password), locked), `GRANT CREATE ON SCHEMA public TO ${creds.username}`);
      await q(as(s.superUrl, creds.username, creds.password, locked), 'create table stuck_here (x int)');
      await q(s.superUrl, `REVOKE CONNECT ON DATABASE ${locked} FROM PUBLIC`);
      await assert.rejects(s.roles.drop(grantId, principal, 'grant ended'), /could not drop the database role .*permission denied for database/);
      const failed = s.events.find((e) => e.kind === 'drop_failed' && e.role === creds.username);
      assert.ok(failed && failed.kind === 'drop_failed' && /permission denied for database .*42501/.test(failed.error), JSON.stringify(failed));
      assert.equal(await roleExists(s, creds.username), true);
      const [{ rolcanlogin }] = await q<{ rolcanlogin: boolean }>(s.superUrl, 'select rolcanlogin from pg_roles where rolname = $1', [creds.username]);
      assert.equal(rolcanlogin, false, 'a role that could not be dropped cannot log in either');
      await q(s.superUrl, `GRANT CONNECT ON DATABASE ${locked} TO ${s.admin}`);
      assert.equal((await s.roles.drop(grantId, principal, 'retry')).dropped, true);
      assert.equal(await roleExists(s, creds.username), false);
    } finally {
      await q(s.superUrl, `DROP DATABASE IF EXISTS ${locked} WITH (FORCE)`);
    }
  });
}
