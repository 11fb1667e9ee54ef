// Sessions through the MySQL gateway ended from outside and from inside: revoke during SELECT SLEEP(30) and in an
// open transaction (cut within a second, the client told why, the upstream connection gone, the transaction rolled
// back), KILL QUERY from a second connection, 16 MiB packets both ways, and random bytes ending only their session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { startMysqlHarness, adminQuery, rawLogin, until, sleepRunning, type MysqlHarness } from './mysql-gateway-harness.js';
import { framePacket } from '../../src/gateway/mysql/packets.js';

let h: MysqlHarness;
before(async () => {
  h = await startMysqlHarness();
});
after(async () => {
  await h?.close();
});

const connectAs = (user: string, token: string) => mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user, password: token, database: 'shop-db', ssl: { ca: h.gw.ca } });

test('KILL QUERY from a second connection ends the first one\'s statement; another principal\'s id is refused', async () => {
  const alice = await h.token();
  await h.grant('write', alice);
  const a = await connectAs('alice', alice);
  const b = await connectAs('alice', alice);
  try {
    const started = Date.now();
    const sleeping = a.query('SELECT SLEEP(30) AS s').then(([rows]) => JSON.stringify(rows), (e: { code?: string }) => e.code);
    await until('the sleep to run upstream', sleepRunning);
    await b.query(`KILL QUERY ${a.threadId}`);
    // MariaDB ends an interrupted SLEEP with ER_QUERY_INTERRUPTED; MySQL returns 1.
    const outcome = await sleeping;
    assert.ok(outcome === 'ER_QUERY_INTERRUPTED' || outcome === '[{"s":1}]', String(outcome));
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual((await a.query('SELECT 7 AS n'))[0], [{ n: 7 }], 'the session goes on');
    await assert.rejects(b.query('KILL QUERY 4000000000'), (e: { errno?: number; message: string }) => e.errno === 1095 && /you can KILL only your own sessions/.test(e.message));
    for (const sql of ["KILL USER 'root'", '/*!50000 KILL QUERY 1 */', `/* mine? */ KILL QUERY ID ${a.threadId}`]) {
      await assert.rejects(b.query(sql), (e: { errno?: number; message: string }) => e.errno === 1142 && /KILL goes through the gateway only as/.test(e.message), sql);
    }
    // KILL <id> (the connection) ends that session, telling its client who ended it.
    const told: Error[] = [];
    a.on('error', (e: Error) => told.push(e));
    const sleepingAgain = a.query('SELECT SLEEP(30)').then(() => null, (e: Error) => e);
    await until('the sleep to run upstream', sleepRunning);
    await b.query(`KILL ${a.threadId}`);
    const cut = await sleepingAgain;
    assert.match(String(cut?.message), new RegExp(`airlock: ended by KILL ${a.threadId} from another session of alice`));
    assert.deepEqual((await b.query('SELECT 8 AS n'))[0], [{ n: 8 }], 'the killing session goes on');
  } finally {
    a.destroy();
    await b.end();
  }
});

test('revoking the grant during SELECT SLEEP(30) cuts the session within a second, with the reason, and the upstream connection goes', async () => {
  const carol = await h.token('carol');
  const grant = await h.grant('write', carol);
  const c = await connectAs('carol', carol);
  c.on('error', () => {});
  const sleeping = c.query('SELECT SLEEP(30)').then(
    () => null,
    (e: Error) => e,
  );
  await until('the sleep to run upstream', sleepRunning);
  const t0 = Date.now();
  await h.airlock.api(h.bobToken, 'POST', `/api/v1/grants/${grant}/revoke`, { reason: 'incident OPS-77' });
  const err = await sleeping;
  const took = Date.now() - t0;
  assert.ok(err, 'the statement failed');
  assert.match(err.message, /^airlock: .*revoked/);
  assert.ok(took < 1000, `cut after ${took} ms`);
  // The statement is killed on the server, not left to run its 30 s on a connection nobody reads.
  await until('the upstream statement to be killed', async () => !(await sleepRunning()), 1000);
  await until('the upstream connection to close', async () => (await h.upstreamThreads()) === 0);
  const ends = await h.events('session.end');
  assert.ok(ends.some((e) => /revoked/.test(String(e.details.reason))));
});

test('revoking the grant of a session idle in an open transaction ends it and the transaction is rolled back', async () => {
  const dave = await h.token('dave');
  const grant = await h.grant('write', dave);
  const c = await connectAs('dave', dave);
  const errors: Error[] = [];
  c.on('error', (e: Error) => errors.push(e));
  await c.query('BEGIN');
  await c.query("UPDATE items SET name = 'changed-in-tx' WHERE id = 1");
  await h.airlock.api(h.bobToken, 'POST', `/api/v1/grants/${grant}/revoke`, { reason: 'done' });
  await until('the client to hear the reason', async () => errors.length > 0 || (await c.query('SELECT 1').then(() => false, (e: Error) => (errors.push(e), true))));
  assert.match(errors.map((e) => e.message).join(' | '), /airlock: .*revoked|closed|ended|Connection lost/i);
  await until('the transaction to roll back', async () => ((await adminQuery(`SELECT name FROM \`${h.db}\`.items WHERE id = 1`)) as { name: string }[])[0]!.name === 'apple');
  c.destroy();
});

test('16 MiB packets cross in both directions (continuation packets)', async () => {
  const alice = await h.token();
  const c = await connectAs('alice', alice);
  try {
    // A result row of 16 MiB - 4 bytes of text: its packet is longer than 0xffffff and continues.
    const [rows] = await c.query({ sql: 'SELECT REPEAT(\'x\', 16777212) AS big', rowsAsArray: true });
    assert.equal(((rows as string[][])[0]![0] as string).length, 16777212);
    // A prepared statement's parameter of 16 MiB - 18 bytes: its COM_STMT_EXECUTE payload is 0xffffff bytes (the
    // server's limit is 16 MiB), sent as a full packet and an empty one. (Statement texts that large are refused
    // by the guardrails' size limit before they could travel.)
    const big = 'y'.repeat(16777197);
    const [r2] = await c.execute('SELECT LENGTH(?) AS n', [big]);
    assert.deepEqual(r2, [{ n: big.length }]);
  } finally {
    await c.end();
  }
});

test('random bytes after login end only that session; others and new logins go on', async () => {
  const alice = await h.token();
  const bystander = await connectAs('alice', alice);
  try {
    for (let i = 0; i < 20; i++) {
      const s = await rawLogin(h.gw.port, 'alice', alice, 'shop-db');
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      const junk = randomBytes(4 + (i * 37) % 300);
      if (i % 3 === 0) junk.writeUIntLE(0xffffff, 0, 3); // a huge announced length
      if (i % 3 === 1) junk[3] = 5; // out of sequence
      s.write(junk);
      s.end();
      await closed;
    }
    for (let i = 0; i < 10; i++) {
      const { connect } = await import('node:net');
      const s = connect({ host: '127.0.0.1', port: h.gw.port });
      s.on('error', () => {});
      await new Promise<void>((r) => s.once('data', () => r()));
      s.end(randomBytes(50 + i * 10));
      await new Promise<void>((r) => s.once('close', () => r()));
    }
    assert.deepEqual((await bystander.query('SELECT 5 AS n'))[0], [{ n: 5 }]);
    const fresh = await connectAs('alice', alice);
    assert.deepEqual((await fresh.query('SELECT 6 AS n'))[0], [{ n: 6 }]);
    await fresh.end();
  } finally {
    await bystander.end();
  }
});

test('a large result to a client that does not read waits in the server, not in the gateway (backpressure)', async () => {
  const alice = await h.token();
  const s = await rawLogin(h.gw.port, 'alice', alice, 'shop-db');
  s.pause();
  const metric = async () => {
    const text = await (await fetch(`${h.airlock.server.apiUrl}/metrics`, { headers: { authorization: `Bearer ${h.bobToken}` } })).text();
    const m = /airlock_gateway_relayed_bytes_total\{[^}]*kind="mysql"[^}]*direction="to_client"[^}]*\} (\d+)/.exec(text) ?? /airlock_gateway_relayed_bytes_total\{[^}]*direction="to_client"[^}]*kind="mysql"[^}]*\} (\d+)/.exec(text);
    return Number(m?.[1] ?? 0);
  };
  const before = await metric();
  const sql = Buffer.from("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_300000", 'utf8');
  const head = Buffer.alloc(5);
  head.writeUIntLE(sql.length + 1, 0, 3);
  head[3] = 0;
  head[4] = 0x03;
  s.write(Buffer.concat([head, sql]));
  // The result is about 300 MB; the gateway may hold a few socket buffers of it, then the server must wait.
  let last = -1;
  let stable = 0;
  await until('the relayed bytes to stop growing', async () => {
    const now = await metric();
    stable = now === last ? stable + 1 : 0;
    last = now;
    return stable >= 4;
  }, 20_000);
  assert.ok(last - before > 1024 * 1024, `the rows started to flow (${last - before} bytes)`);
  assert.ok(last - before < 64 * 1024 * 1024, `the gateway passed ${last - before} bytes to a client that reads nothing`);
  assert.ok(((await adminQuery("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT seq, REPEAT%'")) as { n: number }[])[0]!.n > 0, 'the server waits to send the rest');
  s.destroy();
  await until('the server to stop the query once the client left', async () => ((await adminQuery("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT seq, REPEAT%'")) as { n: number }[])[0]!.n === 0, 20_000);
});

test('a client that drops mid-query: its statement is killed on the server, not left to run', async () => {
  const alice = await h.token();
  for (const grant of ['write', 'read'] as const) {
    const who = grant === 'write' ? 'alice' : 'erin';
    const token = grant === 'write' ? alice : await h.token('erin');
    await h.grant(grant, token).catch(() => {}); // alice's write grant may be there already
    const s = await rawLogin(h.gw.port, who, token, 'shop-db');
    s.write(framePacket(Buffer.from('\x03SELECT SLEEP(30)', 'latin1'), 0));
    await until('the sleep to run upstream', sleepRunning);
    s.destroy();
    await until(`the statement to be killed (${grant})`, async () => !(await sleepRunning()), 2000);
  }
});
