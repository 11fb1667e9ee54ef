// What the PostgreSQL gateway refuses and how it says so: bad tokens, missing grants, plaintext, unsafe settings,
// read-only writes in both protocols, max_rows, statement and message size limits — the session staying usable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startRig, runTool, NO_GRANT_MESSAGE, type Rig } from './pg-gateway-harness.js';
import { openUpstream } from '../../src/gateway/postgres/upstream.js';
import { B, F, typedMessage, parseMessage, queryMessage } from '../../src/gateway/postgres/protocol.js';
import { MessageReader } from '../../src/gateway/postgres/framing.js';

let rig: Rig;
before(async () => {
  rig = await startRig({ extra: { tiny: { guardrails: { max_statement_bytes: 1000 } } }, gateway: { allowCleartextWithoutTls: true, maxMessageBytes: 256 * 1024 } });
  const setup = await runTool('psql', [rig.conninfo(), '-X', '-v', 'ON_ERROR_STOP=1', '-c', 'create table t (id int)', '-c', 'insert into t values (1), (2)'], { password: rig.token });
  assert.equal(setup.code, 0, setup.stderr);
});
after(async () => {
  await rig?.stop();
});

type PgError = Error & { code?: string; severity?: string };

function client(database: string, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database, ssl: { ca: rig.tls.ca }, ...extra });
  c.on('error', () => {});
  return c;
}

test('a wrong token is a FATAL 28P01 that says what the password must be; unknown users read the same', async () => {
  for (const user of ['alice', 'mallory']) {
    const r = await runTool('psql', [rig.conninfo().replace('user=alice', `user=${user}`), '-XAt', '-c', 'select 1'], { password: 'not-a-token' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`FATAL:  airlock: password authentication failed for user "${user}": the password must be one of your valid Airlock access tokens`));
  }
  await assert.rejects(client('rw', { password: 'nope' }).connect(), (e: PgError) => e.code === '28P01');
});

test("planSession's refusal reaches psql's stderr word for word; an unknown resource is 3D000", async () => {
  const r = await runTool('psql', [rig.conninfo('prod-orders'), '-XAt', '-c', 'select 1'], { password: rig.token });
  assert.notEqual(r.code, 0);
  assert.ok(r.stderr.includes(`FATAL:  airlock: ${NO_GRANT_MESSAGE}`), r.stderr);
  await assert.rejects(client('prod-orders').connect(), (e: PgError) => e.code === '42501');
  await assert.rejects(client('nowhere').connect(), (e: PgError) => e.code === '3D000' && /no resource named "nowhere"/.test(e.message));
  const refused = rig.events.filter((e) => e.action === 'session.refused' && e.target === 'prod-orders');
  assert.ok(refused.length >= 1, 'refusals of an authenticated principal are audited');
});

test("an upstream login failure is a FATAL 08001 that names the resource and gives the server's reason", async () => {
  const r = await runTool('psql', [rig.conninfo('rw/no_such_db'), '-XAt', '-c', 'select 1'], { password: rig.token });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FATAL:  airlock: could not open the upstream database for rw: database "no_such_db" does not exist/);
  await assert.rejects(client('rw/no_such_db').connect(), (e: PgError) => e.code === '08001');
});

test('connection settings that could loosen a guard are refused at startup', async () => {
  const r = await runTool('psql', [rig.conninfo('ro'), '-XAt', '-c', 'show default_transaction_read_only'], { password: rig.token, env: { PGOPTIONS: '-c default_transaction_read_only=off' } });
  assert.match(r.stderr, /FATAL:  airlock: the connection setting "default_transaction_read_only" is not passed through the gateway/);
  const ok = await runTool('psql', [rig.conninfo('ro'), '-XAt', '-c', 'show default_transaction_read_only', '-c', 'show statement_timeout'], { password: rig.token, env: { PGOPTIONS: '-c statement_timeout=7s' } });
  assert.equal(ok.stdout, 'on\n7s\n', ok.stderr);
});

test('read-only plan, simple protocol: a write is refused with 42501 and the session goes on', async () => {
  const r = await runTool('psql', [rig.conninfo('ro'), '-XAt', '-v', 'VERBOSITY=verbose', '-c', 'insert into t values (3)', '-c', 'select count(*) from t'], { password: rig.token });
  assert.match(r.stderr, /ERROR:  42501: airlock: .*read-only/);
  assert.equal(r.stdout, '2\n');
});

test('read-only plan, in a transaction: the refusal aborts the transaction as a server error would', async () => {
  const c = client('ro');
  await c.connect();
  try {
    await c.query('begin');
    await c.query('select 1');
    await assert.rejects(c.query('delete from t'), (e: PgError) => e.code === '42501' && e.message.startsWith('airlock: '));
    await assert.rejects(c.query('select 1'), (e: PgError) => e.code === '25P02');
    await c.query('rollback');
    assert.equal((await c.query('select count(*)::int as n from t')).rows[0].n, 2);
  } finally {
    await c.end();
  }
});

test('read-only plan, extended protocol: refused Parse, pipelined neighbours answered, session usable', async () => {
  const c = client('ro', { pipeline: true });
  await c.connect();
  try {
    const results = await Promise.allSettled([
      c.query('select $1::int as n', [1]),
      c.query({ name: 'bad', text: 'insert into t values ($1)', values: [9] }),
      c.query({ name: 'good', text: 'select $1::int as n', values: [3] }),
      c.query({ name: 'good', text: 'select $1::int as n', values: [4] }),
    ]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected');
    assert.equal((results[1] as PromiseRejectedResult).reason.code, '42501');
    assert.deepEqual(results.slice(2).map((r) => (r as PromiseFulfilledResult<pg.QueryResult>).value.rows[0].n), [3, 4]);
  } finally {
    await c.end();
  }
});

test('extended protocol on the wire: after a refused Parse everything up to Sync is skipped, then ErrorResponse and ReadyForQuery', { timeout: 20_000 }, async () => {
  const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'ro' }, {});
  const bind = typedMessage(F.Bind, Buffer.from('\0\0\0\0\0\0\0\0', 'latin1'));
  const exec = typedMessage(F.Execute, Buffer.from('\0\0\0\0\0', 'latin1'));
  const sync = typedMessage(F.Sync, Buffer.alloc(0));
  conn.socket.write(Buffer.concat([parseMessage('', 'delete from t'), bind, exec, parseMessage('', 'select 1'), bind, exec, sync, queryMessage('select 2')]));
  const types = await new Promise<string>((resolve) => {
    const reader = new MessageReader(1 << 20);
    let seen = '';
    let ready = 0;
    conn.read((chunk: Buffer) =>
      reader.push(chunk, (m) => {
        seen += String.fromCharCode(m[0]!);
        if (m[0] === B.ReadyForQuery && ++ready === 2) resolve(seen);
      }),
    );
    conn.socket.resume();
  });
  conn.socket.destroy();
  assert.equal(types, 'EZ' + 'TDCZ');
});

test('max_rows: the client gets the first rows, then an error naming the guardrail; the session stays usable', async () => {
  const c = client('limited');
  await c.connect();
  try {
    await assert.rejects(c.query('select g from generate_series(1, 100000) g'), (e: PgError) => e.code === '54000' && /max_rows/.test(e.message));
    assert.equal((await c.query('select g from generate_series(1, 100) g')).rowCount, 100);
    await assert.rejects(c.query('select g, $1::text from generate_series(1, 5000) g', ['x']), (e: PgError) => e.code === '54000');
    assert.equal((await c.query('select $1::int as n', [5])).rows[0].n, 5);
  } finally {
    await c.end();
  }
  const psql = await runTool('psql', [rig.conninfo('limited'), '-XAt', '-c', 'select g from generate_series(1, 1000) g', '-c', 'select 7'], { password: rig.token });
  assert.match(psql.stderr, /airlock: the statement returned more than 100 rows, the limit of this role's max_rows guardrail/);
  assert.match(psql.stdout, /^7\n$/m);
  const truncated = rig.events.filter((e) => e.action === 'statement' && e.details?.rule === 'max_rows');
  assert.ok(truncated.length >= 3);
  for (const e of truncated) assert.equal(e.details?.rows, 100);
});

test('a statement over max_statement_bytes is refused; a message over maxMessageBytes ends the session with a FATAL', async () => {
  const c = client('tiny');
  await c.connect();
  try {
    await assert.rejects(c.query(`select '${'x'.repeat(2000)}'`), (e: PgError) => e.code === '42501' && e.message.startsWith('airlock: '));
    assert.equal((await c.query('select 1 as n')).rows[0].n, 1);
    await assert.rejects(c.query(`select '${'x'.repeat(300 * 1024)}'`), (e: PgError) => e.code === '08P01' && /exceeds the gateway's limit of 262144 bytes/.test(e.message));
  } finally {
    await c.end().catch(() => {});
  }
});

test('without TLS the gateway refuses non-loopback-allowed plaintext (default), with a hint', async () => {
  const strict = await startRig();
  try {
    const r = await runTool('psql', [strict.conninfo().replace('sslmode=require', 'sslmode=disable'), '-XAt', '-c', 'select 1'], { password: strict.token });
    assert.match(r.stderr, /FATAL:  airlock: this gateway accepts only encrypted connections: connect with sslmode=require/);
  } finally {
    await strict.stop();
  }
});
