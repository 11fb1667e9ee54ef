// Real MySQL clients through the MySQL gateway to the machine's MariaDB: the Debian `mariadb` client (TLS verified
// with the Airlock CA, and without TLS on loopback), mysql2 and the mariadb connector (text and prepared protocol),
// refusals a person understands, and the audit trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import * as mariadb from 'mariadb';
import { startMysqlHarness, mariadbCli, adminQuery, rawLogin, rawSession, until, MARIADB, type MysqlHarness } from './mysql-gateway-harness.js';
import { TEXT_CHECK } from '../../src/gateway/mysql/commands.js';

let h: MysqlHarness;
let alice: string;
let caPath: string;
before(async () => {
  h = await startMysqlHarness();
  alice = await h.token();
  await h.grant('write', alice);
  caPath = join(h.airlock.dir, 'gateway-ca.pem');
  writeFileSync(caPath, h.gw.ca);
});
after(async () => {
  await h?.close();
});

const cli = (token: string, db = 'shop-db') => ['-h', '127.0.0.1', '-P', String(h.gw.port), '-u', 'alice', `-p${token}`, '-D', db];

test('the Debian mariadb client runs statements over TLS verified with the Airlock CA, and without TLS on loopback', async () => {
  const tls = await mariadbCli([...cli(alice), `--ssl-ca=${caPath}`, '--ssl-verify-server-cert', '-N', '-e', "SELECT 1; SELECT name FROM items WHERE id = 2; SHOW STATUS LIKE 'Ssl_cipher'"]);
  assert.equal(tls.stderr, '');
  assert.match(tls.stdout, /^1\npear\n/);
  const plain = await mariadbCli([...cli(alice), '--skip-ssl', '-N', '-e', 'SELECT 40 + 2']);
  assert.equal(plain.stderr, '');
  assert.equal(plain.stdout, '42\n');
});

test('the mariadb client logs in with other auth plugins it may default to: switched to native, or the token over TLS', async () => {
  for (const plugin of ['mysql_clear_password', 'caching_sha2_password', 'client_ed25519', 'dialog']) {
    const tls = await mariadbCli([...cli(alice), `--ssl-ca=${caPath}`, `--default-auth=${plugin}`, '-N', '-e', 'SELECT 1']);
    assert.deepEqual([tls.stdout, tls.stderr], ['1\n', ''], `${plugin} over TLS`);
    const plain = await mariadbCli([...cli(alice), '--skip-ssl', `--default-auth=${plugin}`, '-N', '-e', 'SELECT 1']);
    assert.deepEqual([plain.stdout, plain.stderr], ['1\n', ''], `${plugin} without TLS`);
  }
  const wrong = await mariadbCli([...cli('alk_wrong'), `--ssl-ca=${caPath}`, '--default-auth=caching_sha2_password', '-e', 'SELECT 1']);
  assert.match(wrong.stderr, /ERROR 1045/);
});

test('max_rows of the role ends a longer result with an ERR that says why; the session goes on', async () => {
  const erin = await h.token('erin');
  await h.grant('capped', erin);
  const c = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'erin', password: erin, database: 'shop-db' });
  try {
    assert.deepEqual((await c.query('SELECT id FROM items WHERE id <= 2 ORDER BY id'))[0], [{ id: 1 }, { id: 2 }]);
    await assert.rejects(c.query('SELECT id FROM items ORDER BY id'), /airlock: statement refused by rule max_rows: the result has more than 2 rows/);
    await assert.rejects(c.execute('SELECT id FROM items WHERE id > ? ORDER BY id', [0]), /max_rows/);
    assert.deepEqual((await c.query('SELECT 9 AS n'))[0], [{ n: 9 }]);
  } finally {
    await c.end();
  }
  const cut = (await h.events('statement')).filter((e) => e.details.rule === 'max_rows');
  assert.equal(cut.length, 2);
});

test('the mariadb client reads the schema for completion (COM_FIELD_LIST) and switches schemas only within the resource', async () => {
  const ok = await mariadbCli([...cli(alice), '--auto-rehash', '-N'], 'SELECT COUNT(*) FROM items;\n');
  assert.equal(ok.stderr, '');
  assert.equal(ok.stdout, '3\n');
  const other = await mariadbCli([...cli(alice), '-N'], `use ${h.other}\nSELECT 1;\n`);
  assert.match(other.stderr, /ERROR 1044 \(42000\).*airlock: resource shop-db does not cover the schema "airlock_t_\w+_other".*AIRLOCK_DATABASE_NOT_ALLOWED/);
  const q = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db' });
  try {
    await assert.rejects(q.query(`USE \`${h.other}\``), (e: { errno?: number; message: string }) => e.errno === 1044 && /does not cover the schema/.test(e.message));
    assert.deepEqual((await q.query('SELECT DATABASE() AS d'))[0], [{ d: h.db }]);
  } finally {
    await q.end();
  }
});

test('mysql2 over TLS: text and prepared protocol, writes, and every statement audited with its prepared text', async () => {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db', ssl: { ca: h.gw.ca } });
  try {
    assert.deepEqual((await c.query('SELECT name FROM items WHERE id = ?', [1]))[0], [{ name: 'apple' }]);
    assert.deepEqual((await c.execute('SELECT id FROM items WHERE id > ? ORDER BY id', [1]))[0], [{ id: 2 }, { id: 3 }]);
    const [res] = await c.execute('UPDATE items SET note = ? WHERE id = ?', ['secret-note-value', 3]);
    assert.equal((res as { affectedRows: number }).affectedRows, 1);
    await assert.rejects(c.query('SELECT * FROM no_such_table'), /doesn't exist/);
  } finally {
    await c.end();
  }
  const events = await h.events('statement');
  const texts = events.map((e) => [e.details.text, e.details.rows, e.details.decision]);
  assert.ok(texts.some(([t, r, d]) => t === 'SELECT id FROM items WHERE id > ? ORDER BY id' && r === 2 && d === 'allowed'), JSON.stringify(texts));
  assert.ok(texts.some(([t, r]) => t === 'UPDATE items SET note = ? WHERE id = ?' && r === 1));
  assert.ok(!JSON.stringify(events).includes('secret-note-value'), 'literals are redacted');
  const failed = events.find((e) => String(e.details.text).includes('no_such_table'));
  assert.match(String(failed?.details.error), /1146/);
  assert.equal(typeof failed?.details.session_id, 'string');
  const starts = await h.events('statement.start');
  assert.ok(starts.some((e) => e.details.text === 'UPDATE items SET note = ? WHERE id = ?'), 'a session that may write logs each statement before it runs');
});

test('the mariadb connector over TLS: text and prepared (pipelined) protocol', async () => {
  const c = await mariadb.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db', ssl: { ca: h.gw.ca } });
  try {
    assert.deepEqual(await c.query('SELECT name FROM items WHERE id = ?', [2]), [{ name: 'pear' }]);
    assert.deepEqual(await c.execute('SELECT name FROM items WHERE id = ?', [1]), [{ name: 'apple' }]);
    const rows = await c.execute('SELECT id FROM items WHERE id < ? ORDER BY id', [3]);
    assert.deepEqual([...rows], [{ id: 1 }, { id: 2 }]);
    await c.ping();
    await c.batch('INSERT INTO items (id, name, note) VALUES (?, ?, ?)', [[10, 'fig', 'a'], [11, 'kiwi', 'b']]);
    assert.deepEqual(await c.query('SELECT name FROM items WHERE id >= 10 ORDER BY id'), [{ name: 'fig' }, { name: 'kiwi' }]);
    await c.query('DELETE FROM items WHERE id >= 10');
    await c.query('SET @marker = 5');
    await c.reset(); // COM_RESET_CONNECTION: the session's variables go, the session stays
    assert.deepEqual(await c.query('SELECT @marker AS m, 1 AS one'), [{ m: null, one: 1 }]);
  } finally {
    await c.end();
  }
});

test('refusals: a bad token (1045), no grant (1044, with how to request one), an unknown resource (1049)', async () => {
  const bad = await mariadbCli([...cli('alk_not-a-real-token')]);
  assert.match(bad.stderr, /ERROR 1045 \(28000\): airlock: Access denied for user 'alice'.*AIRLOCK_TOKEN_INVALID/);
  const bob = await h.token('bob');
  const r = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'bob', password: bob, database: 'shop-db' }).then(
    () => null,
    (e: { errno: number; message: string }) => e,
  );
  assert.equal(r?.errno, 1044);
  assert.match(r!.message, /airlock: no active grant for shop-db — .*AIRLOCK_NO_GRANT/);
  const unknown = await mariadbCli([...cli(alice, 'nope-db')]);
  assert.match(unknown.stderr, /ERROR 1049 \(42000\): airlock: there is no resource named "nope-db"/);
  const refused = await h.events('session.refused');
  assert.ok(refused.some((e) => e.details.protocol === 'mysql' && e.details.airlock_code === 'AIRLOCK_NO_GRANT'));
  assert.ok(!JSON.stringify(refused).includes(alice));
});

test('COM_CHANGE_USER is refused and ends that session', async () => {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db' });
  c.on('error', () => {});
  await assert.rejects(c.changeUser({ user: 'root', password: '' }), /COM_CHANGE_USER is refused by the gateway/);
  c.destroy();
});

test('a read role cannot write: DELETE is refused (1142) and the rows stay', async () => {
  const carol = await h.token('carol');
  await h.grant('read', carol);
  const c = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'carol', password: carol, database: 'shop-db' });
  try {
    assert.deepEqual((await c.query('SELECT name FROM items WHERE id = 3'))[0], [{ name: 'plum' }]);
    await assert.rejects(c.query('DELETE FROM items'), (e: { errno?: number; message: string }) => e.errno === 1142 && /^airlock: statement refused by rule/.test(e.message));
    await assert.rejects(c.execute('UPDATE items SET name = ? WHERE id = 1', ['x']), /airlock: statement refused by rule read_only/);
  } finally {
    await c.end();
  }
  // The Debian client sends both statements in one COM_QUERY (multi-statements): refused as a whole.
  const cli2 = await mariadbCli(['-h', '127.0.0.1', '-P', String(h.gw.port), '-u', 'carol', `-p${carol}`, '-D', 'shop-db', '-N', '-e', 'SELECT 1; DELETE FROM items; /*!50000 DELETE FROM items */']);
  assert.match(cli2.stderr, /ERROR 1142 \(42000\).*airlock: statement refused by rule read_only/);
  assert.deepEqual(await adminQuery(`SELECT COUNT(*) AS n FROM \`${h.db}\`.items`), [{ n: 3 }]);
  const refused = (await h.events('statement')).filter((e) => e.details.decision === 'refused');
  assert.ok(refused.some((e) => e.details.text === 'DELETE FROM items' && typeof e.details.rule === 'string'));
});

test('session.start and session.end are audited with protocol mysql', async () => {
  const starts = await h.events('session.start');
  assert.ok(starts.length > 0);
  assert.ok(starts.every((e) => e.details.protocol === 'mysql' && e.details.database === h.db && typeof e.details.token_id === 'string'));
  const ends = await h.events('session.end');
  assert.ok(ends.some((e) => /the client ended the session/.test(String(e.details.reason))));
});

test('a login in a character set the check cannot read (gbk, big5, sjis, cp932, gb18030) is refused; utf8mb4, utf8 and latin1 log in and reach the server as sent', async () => {
  const dave = await h.token('dave');
  await h.grant('read', dave);
  // 28 gbk_chinese_ci, 87 gbk_bin, 1 big5_chinese_ci, 13 sjis_japanese_ci, 95 cp932_japanese_ci, 248 gb18030_chinese_ci,
  // 24 gb2312_chinese_ci, 0 (none), 35 ucs2_general_ci.
  for (const charset of [28, 87, 1, 13, 95, 248, 24, 0, 35]) {
    await assert.rejects(rawLogin(h.gw.port, 'dave', dave, 'shop-db', { charset }), (e: Error) => new RegExp(`character set \\(collation id ${charset}\\) is not allowed through the gateway.*AIRLOCK_ENCODING_REFUSED`).test(e.message), String(charset));
  }
  for (const [charset, name] of [[45, 'utf8mb4'], [224, 'utf8mb4'], [33, 'utf8mb3'], [8, 'latin1'], [63, 'binary']] as const) {
    const s = rawSession(await rawLogin(h.gw.port, 'dave', dave, 'shop-db', { charset }));
    assert.deepEqual(await s.query('SELECT @@character_set_client'), [[name]], String(charset));
    s.command(Buffer.from([0x01])).catch(() => {});
    await s.closed;
  }
  await until('the refusal to be audited', async () => (await h.events('session.refused')).some((e) => e.details.airlock_code === 'AIRLOCK_ENCODING_REFUSED' && e.details.protocol === 'mysql'));
});

test('COM_SET_OPTION: a short or long body is refused, a guarded role cannot turn multi-statements on, and its multi-statements stay off', async () => {
  const dave = await h.token('dave');
  await h.grant('read', dave).catch(() => {}); // the grant of the test before, when run alone
  const s = rawSession(await rawLogin(h.gw.port, 'dave', dave, 'shop-db'));
  const errno = (p: Buffer[]) => (p[0]![0] === 0xff ? p[0]!.readUInt16LE(1) : 0);
  for (const body of [[0x1b, 0x00], [0x1b], [0x1b, 0x00, 0x00, 0x00], [0x1b, 0x02, 0x00], [0x1b, 0x00, 0x01]]) {
    assert.equal(errno(await s.command(Buffer.from(body))), 1235, JSON.stringify(body));
  }
  assert.equal(errno(await s.command(Buffer.from([0x1b, 0x00, 0x00]))), 1142, 'on (0) is refused for a guarded role');
  assert.equal(errno(await s.command(Buffer.from([0x1b, 0x01, 0x00]))), 0, 'off (1) is forwarded');
  // Multi-statements are still off at the server: it reads the second statement as a syntax error.
  await assert.rejects(s.query('SELECT 1; SELECT 2'), (e: { errno?: number }) => e.errno === 1064);
  const bf = Buffer.concat([Buffer.from([0x03]), Buffer.from("SELECT '", 'latin1'), Buffer.from([0xbf]), Buffer.from("\\'; SET SESSION TRANSACTION READ WRITE; START TRANSACTION READ WRITE; DELETE FROM items; COMMIT; -- '", 'latin1')]);
  await s.command(bf);
  assert.deepEqual(await s.query('SELECT COUNT(*) FROM items'), [['3']]);
  s.command(Buffer.from([0x01])).catch(() => {});
  await s.closed;
  assert.deepEqual(await adminQuery(`SELECT COUNT(*) AS n FROM \`${h.db}\`.items`), [{ n: 3 }]);
  // A role without guardrails may turn them on and off, but only with the exact body.
  const a = rawSession(await rawLogin(h.gw.port, 'alice', alice, 'shop-db'));
  assert.equal(errno(await a.command(Buffer.from([0x1b, 0x00]))), 1235);
  assert.equal(errno(await a.command(Buffer.from([0x1b, 0x00, 0x00]))), 0);
  assert.equal(errno(await a.command(Buffer.from([0x1b, 0x01, 0x00]))), 0);
  a.command(Buffer.from([0x01])).catch(() => {});
  await a.closed;
});

test('USE reaches only schemas the resource covers, however it is written (comments, quotes, version comments, prepared, in SQL text)', async () => {
  const q = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db' });
  try {
    const o = h.other;
    const spellings = [
      `USE ${o} -- x`, `/* c */ USE ${o}`, `USE ${o} # x`, `USE \`${o}\``, `use\t${o};`, `/*!50000 USE ${o} */`, `/*M!100000 USE ${o} */`, `/*!USE ${o}*/`,
      `SELECT 1; USE ${o}`, `SELECT 1 /*!50000 ; */ /*!90000 x */ USE ${o}`, `PREPARE s FROM 'USE ${o}'`, `EXECUTE IMMEDIATE "USE ${o}"`, `PREPARE s FROM _utf8mb4'/* x */ USE \`${o}\`'`,
      `USE "${o}"`, 'USE', `USE 'x'`, `SELECT 'a\0' /*!50000 x*/; USE ${o}`,
    ];
    for (const sql of spellings) {
      await assert.rejects(q.query(sql), (e: { errno?: number; message: string }) => e.errno === 1044 && /AIRLOCK_DATABASE_NOT_ALLOWED/.test(e.message), sql);
    }
    await assert.rejects(q.prepare(`USE ${o}`), (e: { errno?: number }) => e.errno === 1044, 'COM_STMT_PREPARE');
    // SQL text built at run time cannot be checked.
    await assert.rejects(q.query(`PREPARE s FROM CONCAT('USE ', '${o}')`), (e: { errno?: number; message: string }) => e.errno === 1142 && /SQL text built at run time/.test(e.message));
    await assert.rejects(q.query('PREPARE s FROM @q'), /SQL text built at run time/);
    assert.deepEqual((await q.query('SELECT DATABASE() AS d'))[0], [{ d: h.db }]);
    // The resource's own schema, an index hint, and a prepared text that names no other schema pass.
    await q.query(`USE \`${h.db}\` -- back home`);
    assert.deepEqual((await q.query('SELECT id FROM items USE INDEX (PRIMARY) WHERE id = 1'))[0], [{ id: 1 }]);
    await q.query("PREPARE s FROM 'SELECT 2 AS n'");
    assert.deepEqual((await q.query('EXECUTE s'))[0], [{ n: 2 }]);
  } finally {
    await q.end();
  }
  const refused = (await h.events('statement')).filter((e) => e.details.rule === 'schema');
  assert.ok(refused.length >= 10, 'the refusals are audited');
});

test('KILL reaches the server only as the gateway routes it: in another statement, a version comment, a prepared statement, SQL text or unreadable text it is refused', async () => {
  const q = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db' });
  try {
    for (const sql of ['SELECT 1 /*!123 */; KILL 5', 'SELECT 1; KILL 5', '/*!50000 KILL 5*/', "PREPARE s FROM 'KILL 5'", 'EXECUTE IMMEDIATE "KILL QUERY 5"', "SELECT 'a\0'; KILL 5", 'DO 1; kill\tconnection 5', "PREPARE s FROM 'PREPARE t FROM ''KILL 5'''"]) {
      await assert.rejects(q.query(sql), (e: { errno?: number; message: string }) => e.errno === 1142 && /KILL goes through the gateway only as/.test(e.message), sql);
    }
    await assert.rejects(q.prepare('KILL 5'), (e: { errno?: number; message: string }) => e.errno === 1142 && /KILL goes through the gateway only as/.test(e.message), 'COM_STMT_PREPARE');
    await assert.rejects(q.prepare('KILL QUERY 5'), /KILL goes through the gateway only as/, 'COM_STMT_PREPARE of the routed form');
    assert.deepEqual((await q.query("SELECT 'kill' AS k, `kill`.id FROM items AS `kill` WHERE `kill`.id = 1"))[0], [{ k: 'kill', id: 1 }]);
  } finally {
    await q.end();
  }
});

test('a server ERR naming the upstream login reaches the client and the audit without the user name', async () => {
  const q = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db' });
  try {
    for (const sql of [`SELECT * FROM \`${h.other}\`.nope`, `CREATE DATABASE \`${h.other}_x\``, 'SELECT * FROM mysql.user']) {
      await assert.rejects(q.query(sql), (e: { errno?: number; message: string }) => (e.errno === 1142 || e.errno === 1044) && /denied (?:to|for) user '…'/.test(e.message) && !e.message.includes(h.upstreamUser), sql);
    }
    await assert.rejects(q.execute('SELECT * FROM mysql.user WHERE 1 = ?', [1]), (e: { message: string }) => /denied (?:to|for) user '…'/.test(e.message) && !e.message.includes(h.upstreamUser), 'prepared');
    assert.deepEqual((await q.query('SELECT 3 AS n'))[0], [{ n: 3 }], 'the session goes on');
  } finally {
    await q.end();
  }
  const events = await h.events('statement');
  assert.ok(events.some((e) => /denied (?:to|for) user '…'/.test(String(e.details.error))));
  assert.ok(!JSON.stringify(events).includes(`'${h.upstreamUser}'`));
});

test('the max_rows KILL of one statement never hits the next one: it waits for the KILL to finish', async () => {
  const erin = await h.token('erin');
  await h.grant('capped', erin).catch(() => {});
  const c = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'erin', password: erin, database: 'shop-db' });
  try {
    for (let i = 0; i < 8; i++) {
      const cut = c.query('SELECT id FROM items ORDER BY id');
      // Pipelined right behind it, as a client that does not wait for the error would.
      const next = c.query('SELECT SLEEP(0.2) AS s');
      await assert.rejects(cut, /max_rows/);
      assert.deepEqual((await next)[0], [{ s: 0 }], `round ${i}: the next statement ran to its end`);
    }
  } finally {
    await c.end();
  }
});

test('text settings are refused for a role without guardrails, however written; the session keeps reading text as at login', async () => {
  const q = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db', multipleStatements: true });
  try {
    const spellings = [
      'SET NAMES utf8mb4, character_set_client = gbk', "SET NAMES utf8mb4, sql_mode = 'NO_BACKSLASH_ESCAPES'", 'SET CHARSET latin1, @@session.character_set_connection = big5',
      'SET NAMES gbk', 'SELECT 1; SET CHARACTER SET big5', "SET sql_mode = 'ANSI_QUOTES'", "SET @@session.sql_mode = 'NO_BACKSLASH_ESCAPES'", "SET LOCAL sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
      "SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT 1", "EXECUTE IMMEDIATE 'SET sql_mode = ''ANSI_QUOTES'''", "PREPARE s FROM 'SET NAMES gbk'",
      "BEGIN NOT ATOMIC SET sql_mode = 'NO_BACKSLASH_ESCAPES'; END", "SELECT 'a\0'; SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
    ];
    for (const sql of spellings) {
      await assert.rejects(q.query(sql), (e: { errno?: number; message: string }) => e.errno === 1142 && /refused by rule text_setting/.test(e.message), sql);
    }
    const [rows] = await q.query("SELECT @@character_set_client AS c, FIND_IN_SET('ANSI_QUOTES', @@sql_mode) AS a, FIND_IN_SET('NO_BACKSLASH_ESCAPES', @@sql_mode) AS b");
    assert.deepEqual(rows, [{ c: 'utf8mb4', a: 0, b: 0 }]);
    // Connectors' SET NAMES and a plain sql_mode still pass.
    await q.query('SET NAMES utf8mb4, autocommit = 1');
    await q.query("SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'");
    assert.deepEqual((await q.query("SELECT 'a\\'b' AS s"))[0], [{ s: "a'b" }]);
    // Columns and aliases that share a setting's name are not settings.
    assert.deepEqual((await q.query("EXECUTE IMMEDIATE 'SELECT name AS names, 1 AS sql_mode FROM items WHERE id = 1'"))[0], [{ names: 'apple', sql_mode: 1 }]);
    await q.query("CREATE TEMPORARY TABLE airlock_tmp (names VARCHAR(10), sql_mode VARCHAR(10)); UPDATE airlock_tmp SET names = 'a', sql_mode = 'b'; DROP TEMPORARY TABLE airlock_tmp");
  } finally {
    await q.end();
  }
  const refused = (await h.events('statement')).filter((e) => e.details.rule === 'text_setting');
  assert.ok(refused.length >= 13, 'the refusals are audited');
});

test('dynamic SQL inside compound statements and stored programs is checked like at the start of a statement', async () => {
  const q = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: alice, database: 'shop-db', multipleStatements: true });
  try {
    for (const sql of [
      "BEGIN NOT ATOMIC EXECUTE IMMEDIATE CONCAT('KI','LL 5'); END", "BEGIN NOT ATOMIC PREPARE s FROM CONCAT('KI', 'LL 5'); EXECUTE s; END",
      "CREATE PROCEDURE airlock_p() EXECUTE IMMEDIATE CONCAT('KI','LL 5')", "CREATE PROCEDURE airlock_p() BEGIN PREPARE s FROM @q; EXECUTE s; END",
      "IF 1 THEN EXECUTE IMMEDIATE @q; END IF",
    ]) {
      await assert.rejects(q.query(sql), (e: { errno?: number; message: string }) => e.errno === 1142 && /SQL text built at run time/.test(e.message), sql);
    }
    for (const sql of ["BEGIN NOT ATOMIC EXECUTE IMMEDIATE 'KILL 5'; END", "CREATE PROCEDURE airlock_p() EXECUTE IMMEDIATE 'KILL QUERY 5'", "BEGIN NOT ATOMIC SELECT 1; KILL 5; END"]) {
      await assert.rejects(q.query(sql), (e: { errno?: number; message: string }) => e.errno === 1142 && /KILL goes through the gateway only as/.test(e.message), sql);
    }
    // A quoted text without KILL or USE still runs.
    const [sets] = await q.query("BEGIN NOT ATOMIC EXECUTE IMMEDIATE 'SELECT 7 AS n'; END");
    assert.deepEqual((sets as unknown[])[0], [{ n: 7 }]);
  } finally {
    await q.end();
  }
  assert.deepEqual(await adminQuery(`SELECT COUNT(*) AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${h.db}'`), [{ n: 0 }]);
});

test('COM_RESET_CONNECTION: the session\'s text settings are read again and the session goes on', async () => {
  const s = rawSession(await rawLogin(h.gw.port, 'alice', alice, 'shop-db'));
  const reset = await s.command(Buffer.from([0x1f]));
  assert.equal(reset[0]![0], 0x00, 'OK');
  assert.deepEqual(await s.query("SELECT 'a\\'b'"), [["a'b"]]);
  s.command(Buffer.from([0x01])).catch(() => {});
  await s.closed;
});

test('the text check the gateway runs after login and reset finds ANSI_QUOTES and unsafe character sets on the real server', async () => {
  // Session settings only, on a connection of its own: the shared server's global settings stay as they are.
  const c = await mysql.createConnection({ ...MARIADB });
  try {
    const rows = async () => ((await c.query(TEXT_CHECK))[0] as unknown[]).length;
    assert.equal(await rows(), 1, 'the server as it is');
    for (const [set, back] of [
      ["SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", 'SET SESSION sql_mode = DEFAULT'],
      ["SET SESSION sql_mode = 'ORACLE'", 'SET SESSION sql_mode = DEFAULT'],
      ['SET NAMES gbk', 'SET NAMES utf8mb4'],
      ['SET SESSION character_set_connection = big5', 'SET NAMES utf8mb4'],
    ] as const) {
      await c.query(set);
      assert.equal(await rows(), 0, set);
      await c.query(back);
      assert.equal(await rows(), 1, back);
    }
    for (const ok of ['SET NAMES latin1', 'SET NAMES utf8', 'SET NAMES binary', "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"]) {
      await c.query(ok);
      assert.equal(await rows(), 1, ok);
    }
  } finally {
    await c.end();
  }
});
