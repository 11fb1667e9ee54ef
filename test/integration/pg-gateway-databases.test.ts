// A grant reaches its resource's databases only: through the real gateway, with psql and pg, a grant on one resource
// cannot open any other database on the same server (another team's, postgres, template1), however dbname is spelt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { runTool } from './pg-gateway-harness.js';

let a: InProcessAirlock;
let ledger: TestDatabase;
let books: TestDatabase;
let hr: TestDatabase;
let alice: string;
let bob: string;

async function seed(db: TestDatabase, table: string, value: string): Promise<void> {
  const c = new pg.Client(db.url);
  await c.connect();
  try {
    await c.query(`create table ${table} (secret text)`);
    await c.query(`insert into ${table} values ($1)`, [value]);
  } finally {
    await c.end();
  }
}

before(async () => {
  [ledger, books, hr] = [await createTestDatabase('airlock_ledger'), await createTestDatabase('airlock_books'), await createTestDatabase('airlock_hrdb')];
  await seed(ledger, 'entries', 'ledger-row');
  await seed(books, 'volumes', 'books-row');
  await seed(hr, 'salaries', 'hr-secret');
  const up = new URL(adminUrl());
  const credential = `{ username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: DBS_TEST_PG_PASSWORD }, mode: per_grant_role }`;
  const address = `"${up.hostname}:${up.port || 5432}"`;
  // The read role joins pg_read_all_data: server-wide read privileges, the case where only the gateway stands between databases.
  a = await startAirlock({
    env: { DBS_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - { name: ledger, kind: postgres, address: ${address}, database: ${ledger.name}, credential: ${credential} }
  - { name: library, kind: postgres, address: ${address}, databases: [${books.name}, ${ledger.name}], credential: ${credential} }
  - { name: hr, kind: postgres, address: ${address}, database: ${hr.name}, credential: ${credential} }
roles:
  - name: read
    resources: { names: [ledger, library, hr] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`,
  });
  alice = await a.token('alice');
  bob = await a.token('bob');
  await a.grant(alice, bob, 'ledger', 'read');
  await a.grant(alice, bob, 'library', 'read');
});

after(async () => {
  await a?.dropRoles(adminUrl());
  await a?.stop();
  for (const db of [ledger, books, hr]) await db?.drop();
});

/** What a pg client sees for dbname: the rows of `sql`, or the refusal's text with its fields. */
async function attempt(dbname: string, sql: string): Promise<{ ok: true; rows: string[] } | { ok: false; text: string; sqlstate: string | undefined }> {
  const c = a.client(alice, 'alice', dbname);
  try {
    await c.connect();
    const r = await c.query<{ v: string }>(sql);
    return { ok: true, rows: r.rows.map((x) => x.v) };
  } catch (e) {
    const err = e as Error & { code?: string; detail?: string; hint?: string };
    return { ok: false, text: [err.message, err.detail, err.hint].filter(Boolean).join(' | '), sqlstate: err.code };
  } finally {
    await c.end().catch(() => {});
  }
}

test('the resource\'s own database opens under every spelling that means it', async () => {
  for (const dbname of ['ledger', 'ledger/', `ledger/${ledger.name}`]) {
    const r = await attempt(dbname, 'select current_database() || \':\' || secret as v from entries');
    assert.deepEqual(r, { ok: true, rows: [`${ledger.name}:ledger-row`] }, dbname);
  }
  for (const dbname of ['library', `library/${books.name}`]) {
    assert.deepEqual(await attempt(dbname, 'select secret as v from volumes'), { ok: true, rows: ['books-row'] }, dbname);
  }
  assert.deepEqual(await attempt(`library/${ledger.name}`, 'select secret as v from entries'), { ok: true, rows: ['ledger-row'] }, 'a database listed in databases');
});

test('any other database on the server is refused with AIRLOCK_DATABASE_NOT_ALLOWED, naming the allowed ones', async () => {
  const others = [
    hr.name, 'postgres', 'template1', 'template0',
    hr.name.toUpperCase(), `"${hr.name}"`, `${hr.name}/`, `/${hr.name}`, ` ${hr.name}`, `${hr.name} `,
    `${ledger.name}/`, `${ledger.name.toUpperCase()}`, `"${ledger.name}"`, `${ledger.name}x`, `${ledger.name}/../${hr.name}`, `${hr.name};`,
    `${ledger.name}\t`, 'Postgres', `${hr.name}?sslmode=disable`,
  ];
  for (const other of others) {
    const r = await attempt(`ledger/${other}`, 'select 1::text as v');
    assert.equal(r.ok, false, `ledger/${other} must be refused`);
    if (r.ok) continue;
    assert.equal(r.sqlstate, '42501', other);
    assert.match(r.text, new RegExp(`airlock: resource ledger does not cover the database .*; it covers "${ledger.name}"`), other);
    assert.match(r.text, /AIRLOCK_DATABASE_NOT_ALLOWED/, other);
  }
  const lib = await attempt(`library/${hr.name}`, 'select 1::text as v');
  assert.ok(!lib.ok && lib.text.includes(`it covers "${books.name}", "${ledger.name}"`), JSON.stringify(lib));
});

test('psql gets the same refusal, and no grant on hr means no hr rows whatever the spelling', async () => {
  for (const dbname of [`ledger/${hr.name}`, `library/${hr.name}`, 'hr', `hr/${hr.name}`, `LEDGER/${hr.name}`, `ledger%2F${hr.name}`]) {
    const conninfo = `host=${a.gateway.host} port=${a.gateway.port} user=alice dbname=${dbname} sslmode=require`;
    const r = await runTool('psql', ['-X', '-A', '-t', conninfo, '-c', 'select secret from salaries'], { password: alice });
    assert.notEqual(r.code, 0, dbname);
    assert.doesNotMatch(r.stdout, /hr-secret/, dbname);
    assert.match(r.stderr, /airlock: (resource \S+ does not cover the database|no active grant for hr|there is no resource named)/, `${dbname}: ${r.stderr}`);
  }
});

test('session.start records the database, and refusals are audited with the reason', async () => {
  const suffix = randomBytes(3).toString('hex');
  assert.equal((await attempt(`library/${ledger.name}`, `select '${suffix}'::text as v`)).ok, true);
  assert.equal((await attempt('ledger/postgres', 'select 1::text as v')).ok, false);
  const starts = (await a.api<{ events: { details: { database?: string; resource?: string } }[] }>(bob, 'GET', '/api/v1/audit/events?action=session.start')).events;
  assert.ok(starts.some((e) => e.details.resource === 'library' && e.details.database === ledger.name), JSON.stringify(starts.map((e) => e.details)));
  assert.ok(starts.every((e) => typeof e.details.database === 'string'));
  const refused = (await a.api<{ events: { target: string; details: { reason: string } }[] }>(bob, 'GET', '/api/v1/audit/events?action=session.refused')).events;
  assert.ok(refused.some((e) => e.target === 'ledger' && /does not cover the database "postgres"/.test(e.details.reason)));
});
