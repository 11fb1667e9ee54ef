// Read-only means read-only through the real gateway: functions that run SQL text, every call syntax of a refused
// function, the database's own SECURITY DEFINER functions and views — and what the database itself still enforces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';

let rig: Rig;
let admin: pg.Client;

const SETUP = `
  create table t (id int);
  insert into t values (1), (2);
  create sequence s;
  create function audit_write() returns int language plpgsql security definer as $$ begin insert into t values (99); return 1; end $$;
  create function report() returns bigint language plpgsql as $$ begin return (select count(*) from t); end $$;
  create function total() returns bigint language sql stable as $$ select count(*) from t $$;
  create function loosen() returns text language plpgsql security definer as $$ begin return set_config('default_transaction_read_only', 'off', false); end $$;
  create view v_lock as select pg_try_advisory_lock(42) as l;
  create view v_plain as select id from t;
`;

before(async () => {
  rig = await startRig({ extra: { ro_listed: { read_only: true, guardrails: { allow_functions: ['report', 'public.loosen'] } } } });
  admin = new pg.Client({ connectionString: rig.db.url });
  await admin.connect();
  await admin.query(SETUP);
});
after(async () => {
  await admin?.end();
  await rig?.stop();
});

function client(database: string): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database, ssl: { ca: rig.tls.ca } });
  c.on('error', () => {});
  return c;
}

type PgError = Error & { code?: string };

/** What another session on the server can see: held advisory locks, large objects, rows, the sequence. */
async function serverState(): Promise<string> {
  const r = await admin.query(`select
    (select count(*) from pg_locks where locktype = 'advisory') as advisory,
    (select count(*) from pg_largeobject_metadata) as large_objects,
    (select count(*) from t) as rows,
    (select is_called from s) as seq_used`);
  return JSON.stringify(r.rows[0]);
}

const ATTACKS: readonly (readonly [string, string])[] = [
  ["select query_to_xml('select set_config(''default_transaction_read_only'', ''off'', false)', true, false, '')", 'hidden_sql'],
  ["select * from ts_stat('select to_tsvector(''x'') from (select pg_advisory_lock(1)) s')", 'hidden_sql'],
  ["select query_to_xml('select lo_create(0)', true, false, '')", 'hidden_sql'],
  ['select (42).pg_advisory_lock', 'read_only'],
  ['select pg_catalog."pg_advisory_lock"(42)', 'read_only'],
  ['select U&"\\0070g_advisory_lock"(42)', 'read_only'],
  ['select x.pg_advisory_lock from (select 42::bigint) as x(v)', 'read_only'],
  ['select * from rows from (pg_advisory_lock(42)) as r', 'read_only'],
  ['select lo_create(0)', 'read_only'],
  ['select (0).lo_create', 'read_only'],
  ["select lo_from_bytea(0, 'x')", 'read_only'],
  ["select nextval('s')", 'read_only'],
  ["select ('s'::regclass).nextval", 'read_only'],
  ["select pg_notify('c', 'x')", 'read_only'],
  ['select pg_export_snapshot()', 'read_only'],
  ['select pg_cancel_backend(pg_backend_pid())', 'read_only'],
  ['select (pg_backend_pid()).pg_cancel_backend', 'read_only'],
  ['select audit_write()', 'read_only'],
  ['select public.audit_write()', 'read_only'],
  ['select * from audit_write()', 'read_only'],
  ['select * from v_lock', 'read_only'],
  ['select l from public.v_lock where l', 'read_only'],
  ['set search_path = public, pg_catalog', 'read_only'],
  ["select set_config('search_path', 'public, pg_catalog', false)", 'read_only'],
];

test('every attack is refused with its rule, the session stays usable, and nothing changed on the server', async () => {
  const before = await serverState();
  const c = client('ro');
  await c.connect();
  for (const [sql, rule] of ATTACKS) {
    await assert.rejects(c.query(sql), (e: PgError) => e.code === '42501' && e.message.includes(`refused by rule ${rule}`), sql);
  }
  // The extended protocol with the SQL text as a parameter is the same call.
  await assert.rejects(c.query("select query_to_xml($1, true, false, '')", ['select 1']), (e: PgError) => /hidden_sql/.test(e.message));
  await assert.rejects(c.query('select pg_catalog.pg_advisory_lock($1)', [42]), (e: PgError) => /read_only/.test(e.message));
  const ok = await c.query('select total() as n, (select count(*) from v_plain) as m, lower($1) as l', ['X']);
  assert.deepEqual(ok.rows[0], { n: '2', m: '2', l: 'x' });
  await c.end();
  assert.equal(await serverState(), before);
  const refused = rig.events.filter((e) => e.action === 'statement' && (e.details as { decision?: string }).decision === 'refused');
  assert.ok(refused.length >= ATTACKS.length, `each refusal is audited (${refused.length})`);
});

test('psql sees the refusal in plain words and can go on', async () => {
  const r = await runTool('psql', [rig.conninfo('ro'), '-X', '-c', 'select (1).pg_advisory_lock', '-c', 'select 7 as seven'], { password: rig.token });
  assert.match(r.stderr, /ERROR:  airlock: statement refused by rule read_only: this role is read-only and the function pg_advisory_lock takes an advisory lock/);
  assert.match(r.stdout, /seven\s*\n-+\n\s+7\n/);
});

test('a read-only session keeps the search_path: a connection option that sets it is refused', async () => {
  const r = await runTool('psql', [rig.conninfo('ro'), '-XAt', '-c', 'select 1'], { password: rig.token, env: { PGOPTIONS: '-c search_path=public,pg_catalog' } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FATAL:  airlock: a read-only session keeps the database's search_path/);
});

test('a listed function is admitted; the database function that hides behind attribute notation is found', async () => {
  const c = client('ro_listed');
  await c.connect();
  assert.equal((await c.query('select report() as n')).rows[0].n, '2');
  await assert.rejects(c.query('select audit_write()'), /read_only/);
  await c.end();
});

test('defense in depth: a listed function that turns read-only off ends the session before anything else runs', async () => {
  const before = await serverState();
  const c = client('ro_listed');
  await c.connect();
  const err = await c.query('select loosen()').then(() => null, (e: Error) => e);
  assert.ok(err, 'the statement that turned read-only off does not complete normally');
  assert.match(err.message, /airlock: the database server reported default_transaction_read_only off, but this session is read-only/);
  await assert.rejects(c.query('insert into t values (5)'));
  assert.equal(await serverState(), before);
  await waitFor(() => rig.registry.list().every((s) => s.resource !== 'ro_listed'), 5000, 'the session to leave the registry');
});

test('what the database enforces with the guardrail switched off: read-only transactions stop writes, not side effects', async () => {
  // The same upstream settings the gateway gives a read-only session, straight to the server, with no gateway in between.
  const direct = new pg.Client({ connectionString: rig.db.url, options: '-c default_transaction_read_only=on' });
  await direct.connect();
  try {
    await assert.rejects(direct.query('insert into t values (3)'), /read-only transaction/);
    await assert.rejects(direct.query('select audit_write()'), /read-only transaction/, 'SECURITY DEFINER does not lift a read-only transaction');
    await assert.rejects(direct.query("select nextval('s')"), /read-only transaction/);
    // These the server allows in a read-only transaction; only the gateway refuses them.
    await direct.query('select pg_advisory_lock(7)');
    await direct.query('select pg_advisory_unlock(7)');
    await direct.query("select pg_notify('c', 'x')");
    const lo = await direct.query<{ oid: number }>('select lo_create(0) as oid');
    await admin.query('select lo_unlink($1)', [lo.rows[0]!.oid]);
    await direct.query("select set_config('default_transaction_read_only', 'off', false)");
    await direct.query('insert into t values (4)');
    await admin.query('delete from t where id = 4');
  } finally {
    await direct.end();
  }
});
