// Real clients through the PostgreSQL gateway to a real server: psql (simple protocol, TLS verify-full, COPY),
// node-postgres (extended protocol, prepared statements), postgres.js (pipelining), LISTEN/NOTIFY, and the audit trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';
import { adminUrl } from '../support/pg.js';

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(async () => {
  await rig?.stop();
});

function pgClient(resource = 'rw', extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: resource, ssl: { ca: rig.tls.ca }, ...extra });
}

test('psql runs statements over TLS (simple protocol) with the token as password', async () => {
  const r = await runTool('psql', [rig.conninfo(), '-XAt', '-c', 'select 1', '-c', "select 'two', current_database()"], { password: rig.token });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, `1\ntwo|${rig.db.name}\n`);
  assert.equal(r.code, 0);
});

test('psql verifies the gateway with sslmode=verify-full and the Airlock CA, by IP and by name, with channel binding', async () => {
  for (const host of ['127.0.0.1', 'localhost']) {
    const conninfo = `host=${host} port=${rig.port} user=alice dbname=rw sslmode=verify-full sslrootcert=${rig.tls.caPath} channel_binding=require`;
    const r = await runTool('psql', [conninfo, '-XAt', '-c', 'select 42'], { password: rig.token });
    assert.equal(r.stderr, '', host);
    assert.equal(r.stdout, '42\n', host);
  }
});

test('psql COPY TO STDOUT and COPY FROM STDIN stream through', async () => {
  const setup = await runTool('psql', [rig.conninfo(), '-X', '-v', 'ON_ERROR_STOP=1', '-c', 'create table copy_t (id int, name text)'], { password: rig.token });
  assert.equal(setup.code, 0, setup.stderr);
  const lines = Array.from({ length: 5000 }, (_, i) => `${i}\tname-${i}`).join('\n') + '\n';
  const load = await runTool('psql', [rig.conninfo(), '-X', '-v', 'ON_ERROR_STOP=1', '-c', 'copy copy_t from stdin'], { password: rig.token, input: lines });
  assert.equal(load.code, 0, load.stderr);
  assert.equal(load.stdout.trim(), 'COPY 5000');
  const out = await runTool('psql', [rig.conninfo(), '-X', '-c', 'copy (select * from copy_t order by id) to stdout'], { password: rig.token });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, lines);
  const copies = rig.events.filter((e) => e.action === 'statement' && /^copy/i.test(String(e.details?.text)));
  assert.deepEqual(copies.map((e) => e.details?.rows), [5000, 5000]);
});

test('node-postgres: parameters, named prepared statements, errors, and the session stays usable', async () => {
  const c = pgClient('rw', { application_name: 'pg-extended' });
  await c.connect();
  try {
    assert.equal((await c.query('select $1::int + 1 as n', [41])).rows[0].n, 42);
    for (let i = 0; i < 3; i++) {
      const r = await c.query({ name: 'add-one', text: 'select $1::int + 1 as n, $2::text as s', values: [i, `v${i}`] });
      assert.deepEqual(r.rows, [{ n: i + 1, s: `v${i}` }]);
    }
    await assert.rejects(c.query('select 1/0'), (e: Error & { code?: string }) => e.code === '22012');
    const rows = await c.query('select g from generate_series(1, 1000) g');
    assert.equal(rows.rowCount, 1000);
  } finally {
    await c.end();
  }
  // Pipeline mode: every query is on the wire before the first answer comes back, one of them failing in between.
  const p = pgClient('rw', { pipeline: true });
  await p.connect();
  try {
    const many = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => (i === 25 ? p.query('select 1/0') : p.query({ name: i % 2 ? 'odd' : undefined, text: 'select $1::int as i', values: [i] }))));
    assert.equal(many[25]!.status, 'rejected');
    assert.deepEqual(
      many.flatMap((r, i) => (i === 25 ? [] : [(r as PromiseFulfilledResult<pg.QueryResult>).value.rows[0].i])),
      Array.from({ length: 50 }, (_, i) => i).filter((i) => i !== 25),
    );
  } finally {
    await p.end();
  }
  await waitFor(() => rig.events.some((e) => e.action === 'session.end' && rig.events.some((s) => s.action === 'session.start' && s.details?.application_name === 'pg-extended' && s.details?.session_id === e.details?.session_id)), 3000, 'session.end');
});

test('postgres.js pipelines prepared statements and transactions through the gateway', async () => {
  const sql = postgres({ host: '127.0.0.1', port: rig.port, user: 'alice', pass: rig.token, database: 'rw', ssl: { ca: rig.tls.ca }, max: 1, onnotice: () => {} });
  try {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => sql`select ${i}::int as i, ${'x'.repeat(i)} as pad`));
    assert.deepEqual(results.map((r) => r[0]!.i), Array.from({ length: 100 }, (_, i) => i));
    await sql`create table pjs (id int primary key)`;
    await sql.begin(async (tx) => {
      await tx`insert into pjs values (1), (2)`;
      await tx`insert into pjs values (3)`;
    });
    await assert.rejects(
      sql.begin(async (tx) => {
        await tx`insert into pjs values (4)`;
        await tx`insert into pjs values (1)`; // duplicate key: the whole transaction rolls back
      }),
      (e: Error & { code?: string }) => e.code === '23505',
    );
    assert.deepEqual((await sql`select id from pjs order by id`).map((r) => r.id), [1, 2, 3]);
  } finally {
    await sql.end();
  }
});

test('LISTEN/NOTIFY: notifications reach a client through the gateway', async () => {
  const c = pgClient();
  await c.connect();
  const admin = new pg.Client({ connectionString: adminUrl().replace(/\/[^/]*$/, `/${rig.db.name}`) });
  await admin.connect();
  try {
    const got: { channel: string; payload?: string }[] = [];
    c.on('notification', (n) => got.push({ channel: n.channel, payload: n.payload }));
    await c.query('listen airlock_chan');
    await admin.query("notify airlock_chan, 'hello through the gateway'");
    await waitFor(() => got.length > 0, 3000, 'notification');
    assert.deepEqual(got, [{ channel: 'airlock_chan', payload: 'hello through the gateway' }]);
  } finally {
    await admin.end();
    await c.end();
  }
});

test('audit: session.start, one statement event per statement with rows and fingerprint, session.end', async () => {
  const before = rig.events.length;
  const r = await runTool('psql', [rig.conninfo(), '-X', '-c', "select g from generate_series(1, 7) g where g > 0 and 'secret-literal' <> ''", '-c', 'select 1/0'], { password: rig.token, env: { PGAPPNAME: 'audit-check' } });
  assert.match(r.stderr, /division by zero/);
  await waitFor(() => rig.events.slice(before).some((e) => e.action === 'session.end'), 3000, 'session.end');
  const mine = rig.events.slice(before);
  const start = mine.find((e) => e.action === 'session.start')!;
  const sid = start.details!.session_id;
  assert.deepEqual({ ...start, details: { ...start.details, session_id: 'x' } }, {
    actor: 'alice', action: 'session.start', target: 'rw', source: '127.0.0.1',
    details: { session_id: 'x', protocol: 'postgres', grant_id: 'grt_rw', resource: 'rw', role: 'read', source: '127.0.0.1', database: rig.db.name, application_name: 'audit-check', gateway_instance: null, token_id: 'tok_alice' },
  });
  const statements = mine.filter((e) => e.action === 'statement' && e.details?.session_id === sid);
  assert.equal(statements.length, 2);
  const [sel, div] = statements.map((e) => e.details!);
  assert.equal(sel!.rows, 7);
  assert.equal(sel!.decision, 'allowed');
  assert.equal(sel!.error, null);
  assert.ok(!String(sel!.text).includes('secret-literal'), 'literals are redacted');
  assert.equal(typeof sel!.fingerprint, 'string');
  assert.ok(String(sel!.fingerprint).length > 0);
  assert.ok(Number(sel!.duration_ms) >= 0);
  assert.match(String(div!.error), /^22012: division by zero$/);
  for (const e of statements) assert.deepEqual([e.actor, e.target, e.details?.grant_id], ['alice', 'rw', 'grt_rw']);
  const end = mine.find((e) => e.action === 'session.end' && e.details?.session_id === sid)!;
  assert.equal(end.details!.reason, 'client closed');
  assert.equal(end.details!.statements, 2);
});
