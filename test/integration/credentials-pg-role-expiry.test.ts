// Per-grant roles end on time without Airlock: PostgreSQL itself refuses a login after VALID UNTIL, checked by password.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { makePgGrantRoles, type PgGrantRoles, type PgPrivileges, type PgRoleCredentials } from '../../src/credentials/pg-grant-roles.js';
import { newId } from '../../src/domain/ids.js';
import { startEmbeddedPostgres, type EmbeddedPg } from '../../src/store/embedded-postgres.js';
import { adminUrl, urlForDatabase } from '../support/pg.js';

const suffix = randomBytes(4).toString('hex');
const marker = `airlock_managed_e${suffix}`;
const database = `airlock_cred_exp_${suffix}`;
const READ: PgPrivileges = { read_only: true, member_of: [], grants: ['USAGE ON SCHEMA public', 'SELECT ON ALL TABLES IN SCHEMA public'] };

let serverUrl = adminUrl();
let embedded: { pg: EmbeddedPg; parent: string } | undefined;
let roles: PgGrantRoles | undefined;

async function adminQuery(text: string, url = serverUrl): Promise<pg.QueryResult> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

function loginUrl(creds: PgRoleCredentials): string {
  const u = new URL(urlForDatabase(serverUrl, database));
  u.username = encodeURIComponent(creds.username);
  u.password = encodeURIComponent(creds.password);
  return u.toString();
}

/** The SQLSTATE of a failed login, or 'ok' when it worked. */
async function login(creds: PgRoleCredentials): Promise<string> {
  const c = new pg.Client({ connectionString: loginUrl(creds), connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('select count(*) from items');
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * VALID UNTIL is part of password authentication: a server whose pg_hba.conf says `trust` never looks at it (nor at
 * the password). Probe with a wrong password; if the shared server lets it in, run this file on an embedded
 * PostgreSQL, which uses scram-sha-256 like a production server should.
 */
async function serverChecksPasswords(url: string): Promise<boolean> {
  const probe = `airlock_probe_${suffix}`;
  await adminQuery(`CREATE ROLE ${probe} LOGIN PASSWORD '${randomBytes(16).toString('hex')}'`, url);
  try {
    const u = new URL(url);
    u.username = probe;
    u.password = 'wrong';
    const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
    c.on('error', () => {});
    try {
      await c.connect();
      return false;
    } catch {
      return true;
    } finally {
      await c.end().catch(() => {});
    }
  } finally {
    await adminQuery(`DROP ROLE ${probe}`, url);
  }
}

before(async () => {
  if (!(await serverChecksPasswords(serverUrl))) {
    const parent = mkdtempSync(join(tmpdir(), 'airlock-cred-pg-'));
    // As root, embedded-postgres runs the server as `postgres`, which must be able to reach the data directory.
    chmodSync(parent, 0o711);
    embedded = { pg: await startEmbeddedPostgres({ dir: join(parent, 'pg') }), parent };
    serverUrl = embedded.pg.url;
    console.log('the shared PostgreSQL does not check passwords (trust); using an embedded one for this file');
  }
  await adminQuery(`CREATE DATABASE ${database}`);
  await adminQuery("create table items (id int primary key); insert into items values (1), (2)", urlForDatabase(serverUrl, database));
  roles = makePgGrantRoles({ adminUrl: serverUrl, markerRole: marker });
});

after(async () => {
  await roles?.close().catch(() => {});
  if (embedded) {
    await embedded.pg.stop().catch((e) => console.error(`# teardown: ${(e as Error).message}`));
    rmSync(embedded.parent, { recursive: true, force: true });
    return;
  }
  const steps = [
    `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`,
    `DO $$ DECLARE r text; BEGIN
       FOR r IN SELECT m.rolname FROM pg_roles m JOIN pg_auth_members a ON a.member = m.oid JOIN pg_roles k ON k.oid = a.roleid WHERE k.rolname = '${marker}'
       LOOP EXECUTE format('DROP OWNED BY %I', r); EXECUTE format('DROP ROLE %I', r); END LOOP; END $$`,
    `DROP ROLE IF EXISTS ${marker}`,
  ];
  for (const sql of steps) await adminQuery(sql).catch((e) => console.error(`# teardown: ${(e as Error).message}`));
});

test('the generated password works, a wrong one does not, and after VALID UNTIL PostgreSQL refuses the login', async () => {
  assert.ok(roles);
  const grantId = newId('grt');
  const principal = `expiring-${suffix}`;
  const expiresAt = new Date(Date.now() + 2000);
  const creds = await roles.create({ grantId, principal, expiresAt, database, privileges: READ });
  assert.equal(await login(creds), 'ok', 'the SCRAM verifier Airlock computed matches the password it returned');
  assert.equal(await login({ ...creds, password: `${creds.password}x` }), '28P01');
  // Airlock does nothing from here on, as if it were down: the server alone must end the access.
  await new Promise((res) => setTimeout(res, Math.max(0, expiresAt.getTime() - Date.now()) + 1000));
  assert.equal(await login(creds), '28P01', 'PostgreSQL refuses an expired password');
  assert.deepEqual(await roles.drop(grantId, principal, 'expired'), { dropped: true, terminated: 0 });
});
