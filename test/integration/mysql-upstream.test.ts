// The MySQL gateway's side connection (KILL QUERY of a session's thread) against the machine's MariaDB: it reads the
// server's answer instead of waiting out its timeout, so a cut kills the running statement at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestMysql, rootConnection, type TestMysql } from '../support/mysql.js';
import { openUpstream, sideStatement } from '../../src/gateway/mysql/upstream.js';
import type { UpstreamLogin } from '../../src/credentials/provider.js';

let my: TestMysql;
let login: UpstreamLogin;

before(async () => {
  my = await createTestMysql();
  const [host, port] = my.address.split(':');
  login = { host: host!, port: Number(port), database: my.schema, user: my.admin.user, password: my.admin.password };
});
after(async () => {
  await my?.drop();
});

test('a side statement resolves with the server\'s answer: ok, or error for a KILL of an unknown thread', async () => {
  const t0 = performance.now();
  assert.equal(await sideStatement(login, 'DO 1'), 'ok');
  assert.equal(await sideStatement(login, 'KILL QUERY 4000000000'), 'error');
  assert.ok(performance.now() - t0 < 1500, 'answered, not timed out');
});

test('KILL QUERY on a side connection ends a running SLEEP at once', async () => {
  const victim = await my.root.query('select connection_id() as id');
  const id = Number((victim[0] as { id: number }[])[0]!.id);
  const sleeping = my.root.query('select sleep(30) as s').then(() => null, (e: Error & { code?: string }) => e.code);
  const watcher = await rootConnection();
  try {
    for (let i = 0; i < 100; i++) {
      const [rows] = await watcher.query('select count(*) as n from information_schema.processlist where id = ? and info like ?', [id, 'select sleep%']);
      if (Number((rows as { n: number }[])[0]!.n) > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = performance.now();
    assert.equal(await sideStatement(login, `KILL QUERY ${id}`), 'ok');
    assert.equal(await sleeping, 'ER_QUERY_INTERRUPTED');
    assert.ok(performance.now() - t0 < 1000);
  } finally {
    await watcher.end();
  }
});

test('an upstream socket has an error listener from connect to close, with and without TLS: an error after the login does not crash the process', async () => {
  for (const security of [undefined, { resource: 'shop-db', mode: 'disable' as const, tls: null, allowMd5: false, allowCleartext: false }]) {
    const c = await openUpstream({ ...login, ...(security ? { security } : {}) }, { clientCapabilities: 0, charset: 45 });
    try {
      assert.ok(c.socket.listenerCount('error') > 0, 'handed over with a listener');
      const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
      // What a reset between the login and the relay looks like; without a listener, emit throws (the process would die).
      c.socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      await closed;
    } finally {
      c.socket.destroy();
    }
  }
  // The side connection too: a statement on it that the server answers by closing the connection.
  assert.equal(await sideStatement(login, 'DO 1'), 'ok');
});

test('the upstream login takes only character sets the statement check reads like the server', async () => {
  await assert.rejects(openUpstream(login, { clientCapabilities: 0, charset: 28 }), /collation id 28/);
});
