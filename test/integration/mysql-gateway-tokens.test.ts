// Access tokens on the MySQL gateway: revoking the token a session logged in with ends it within a second, and a token
// made before MySQL verifiers were stored is told apart from a wrong one (it logs in over TLS only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { startMysqlHarness, until, sleepRunning, type MysqlHarness } from './mysql-gateway-harness.js';

let h: MysqlHarness;
before(async () => {
  h = await startMysqlHarness();
});
after(async () => {
  await h?.close();
});

test('revoking the token a session logged in with ends the session within a second, telling the client why', async () => {
  const alice = await h.token();
  await h.grant('write', alice);
  const tokens = await h.airlock.api<{ tokens: { id: string; principal: string; created_at: string }[] }>(h.bobToken, 'GET', '/api/v1/tokens?principal=alice');
  const id = tokens.tokens.filter((t) => t.principal === 'alice').sort((a, b) => b.created_at.localeCompare(a.created_at))[0]!.id;
  const c = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db' });
  c.on('error', () => {});
  const sleeping = c.query('SELECT SLEEP(30)').then(
    () => null,
    (e: Error) => e,
  );
  await until('the sleep to run upstream', sleepRunning);
  const t0 = Date.now();
  await h.airlock.api(h.bobToken, 'POST', `/api/v1/tokens/${id}/revoke`, {});
  const err = await sleeping;
  assert.ok(Date.now() - t0 < 1000, `cut after ${Date.now() - t0} ms`);
  assert.match(String(err?.message), /^airlock: /);
});

test('a token made before MySQL verifiers: refused without TLS with what to do, accepted over TLS', async () => {
  const carol = await h.token('carol');
  await h.grant('write', carol);
  const db = new Database(join(h.airlock.dir, 'data', 'airlock.db'));
  try {
    db.prepare("UPDATE tokens SET mysql_native_verifier = NULL WHERE principal = 'carol'").run();
  } finally {
    db.close();
  }
  const plain = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'carol', password: carol, database: 'shop-db' }).then(
    () => null,
    (e: { errno: number; message: string }) => e,
  );
  assert.equal(plain?.errno, 1045);
  assert.match(plain!.message, /made before MySQL logins existed, so they work only over TLS .* or create a new token: airlock token create/);
  const { mariadbCli } = await import('./mysql-gateway-harness.js');
  const { writeFileSync } = await import('node:fs');
  const ca = join(h.airlock.dir, 'ca.pem');
  writeFileSync(ca, h.gw.ca);
  const tls = await mariadbCli(['-h', '127.0.0.1', '-P', String(h.gw.port), '-u', 'carol', `-p${carol}`, '-D', 'shop-db', `--ssl-ca=${ca}`, '--default-auth=mysql_clear_password', '-N', '-e', 'SELECT 3']);
  assert.deepEqual([tls.stdout, tls.stderr], ['3\n', '']);
});
