// The settings `airlock connect` gives MySQL clients: flags per client flavor, the password never in argv, TCP forced
// where "localhost" would mean the local server's socket, and URLs mysql2 reads back as the same settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2';
import { mysqlClientArgs, mysqlCommandLine, mysqlExec, mysqlUrl, type MysqlSettings } from '../../src/cli/mysql-connect.js';

const s: MysqlSettings = { host: '127.0.0.1', port: 3307, user: 'alice', password: 'alk_secret', database: 'shop-db/shop_archive', ssl_ca: '/home/a b/ca.crt' };

test('flags per flavor: MariaDB verifies with --ssl-verify-server-cert, Oracle MySQL 8 with --ssl-mode=VERIFY_IDENTITY', () => {
  assert.deepEqual(mysqlClientArgs(s, 'mariadb'), ['-h', '127.0.0.1', '-P', '3307', '-u', 'alice', '--ssl-ca=/home/a b/ca.crt', '--ssl-verify-server-cert']);
  assert.equal(mysqlClientArgs(s, 'oracle').at(-1), '--ssl-mode=VERIFY_IDENTITY');
  assert.deepEqual(mysqlClientArgs({ ...s, host: 'localhost' }, 'mariadb').slice(0, 5), ['-h', 'localhost', '-P', '3307', '--protocol=TCP']);
});

test('the printed line is shell-quoted and holds no password; exec passes it only in MYSQL_PWD', () => {
  assert.equal(mysqlCommandLine(s), "mariadb -h 127.0.0.1 -P 3307 -u alice '--ssl-ca=/home/a b/ca.crt' --ssl-verify-server-cert shop-db/shop_archive");
  const e = mysqlExec(s, 'mariadb', ['-e', 'select 1']);
  assert.deepEqual(e.env, { MYSQL_PWD: 'alk_secret' });
  assert.ok(!e.args.some((a) => a.includes('alk_secret')));
  assert.deepEqual(e.args.slice(-3), ['--database=shop-db/shop_archive', '-e', 'select 1']);
});

test('the mysql2 URL names the schema path encoded, without the password; IPv6 hosts in brackets', async () => {
  assert.equal(mysqlUrl(s), 'mysql://alice@127.0.0.1:3307/shop-db%2Fshop_archive');
  assert.equal(mysqlUrl({ ...s, host: '::1', database: 'shop-db' }), 'mysql://alice@[::1]:3307/shop-db');
  // mysql2 reads it back as the same settings.
  // mysql2 reads it back as the same settings (a pool connects only when used).
  const pool = mysql.createPool(mysqlUrl(s));
  const c = (pool as unknown as { config: { connectionConfig: Record<string, unknown> } }).config.connectionConfig;
  assert.deepEqual([c.host, c.port, c.user, c.database], ['127.0.0.1', 3307, 'alice', 'shop-db/shop_archive']);
  await new Promise((r) => pool.end(r));
});
