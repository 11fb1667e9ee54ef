// The write-bypass corpus through the real MySQL gateway, as a read role whose resource makes a MySQL user per
// grant: every statement of MYSQL_WRITE_BYPASS is refused with an `airlock:` ERR naming a rule (mysql2 text
// protocol for all, prepared protocol for a sample, the Debian `mariadb` client for a few), the session goes on,
// and the schema's data, tables and the per-grant user's account are the same afterwards; MYSQL_READS run.
// Then hostile input the corpus lacks (red team, OPS-13): prepared-statement ids, COM_SET_OPTION, schema switches,
// handshake capabilities and character sets, 16 MiB continuations, LOAD DATA LOCAL, COM_RESET_CONNECTION.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import * as mariadb from 'mariadb';
import iconv from 'iconv-lite';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { createTestMysql, type TestMysql } from '../support/mysql.js';
import { MYSQL_CORPUS_SCHEMA, MYSQL_WRITE_BYPASS, MYSQL_READS, type BypassCase } from '../support/mysql-write-bypass.js';
import { mariadbCli, startMysqlHarness, adminQuery, type MysqlHarness } from './mysql-gateway-harness.js';
import { nativeProof } from '../../src/gateway/mysql/handshake.js';

/**
 * Corpus statements the gateway lets through today (see the BYPASS tests at the end): MariaDB skips a 5-digit version
 * comment /*!NNNNN above 50799, the inspector thinks a MariaDB 10.11 executes it.
 */
const principal = `wb${randomBytes(3).toString('hex')}`;
let my: TestMysql;
let airlock: InProcessAirlock;
let token: string;
let port: number;

function policy(m: TestMysql): string {
  return `
version: 1
principals:
  - { name: ${principal}, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
resources:
  - name: shop-db
    kind: mysql
    address: "${m.address}"
    database: ${m.schema}
    credential: { username: ${m.admin.user}, password: { env: AIRLOCK_T_WB_ADMIN_${principal.toUpperCase()} }, mode: per_grant_user }
roles:
  - name: read
    resources: { names: [shop-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
}

before(async () => {
  my = await createTestMysql({ userPrefix: `airlock_${principal}_` });
  for (const sql of MYSQL_CORPUS_SCHEMA) await my.root.query(`USE \`${my.schema}\``).then(() => my.root.query(sql));
  airlock = await startAirlock({ policy: policy(my), env: { [`AIRLOCK_T_WB_ADMIN_${principal.toUpperCase()}`]: my.admin.password } });
  port = airlock.server.gateways.mysql!.port;
  token = await airlock.token(principal);
  await airlock.grant(token, await airlock.token('bob'), 'shop-db', 'read', '30m');
});

after(async () => {
  const deploymentId = airlock?.server.info.deployment_id;
  await airlock?.stop();
  await my?.drop({ deploymentIds: deploymentId ? [String(deploymentId)] : [] });
});

const open = () => mysql.createConnection({ host: '127.0.0.1', port, user: principal, password: token, database: 'shop-db' });

/** Everything a write could change: the data (checksums), the schema's objects, the per-grant user's account and grants. */
async function snapshot(): Promise<string> {
  const s = my.schema;
  const q = async (sql: string, p: unknown[] = []) => JSON.stringify((await my.root.query(sql, p))[0]);
  const parts = [
    await q(`CHECKSUM TABLE \`${s}\`.t, \`${s}\`.u, \`${s}\`.orders, \`${my.otherSchema}\`.secrets EXTENDED`),
    await q('SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, CREATE_OPTIONS, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?, ?) ORDER BY 1, 2', [s, my.otherSchema]),
    await q('SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (?, ?) ORDER BY 1, 2', [s, my.otherSchema]),
    await q('SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY 1, 2, 3', [s]),
    await q('SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (?, ?)', [s, my.otherSchema]),
    await q('SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN (?, ?)', [s, my.otherSchema]),
    await q('SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (?, ?)', [s, my.otherSchema]),
    await q('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ? ORDER BY 1', [`${s}%`]),
    await q('SELECT User, Host, Priv FROM mysql.global_priv WHERE User LIKE ? ORDER BY 1, 2', [`airlock\\_${principal}\\_%`]),
    await q('SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE LIKE ? ORDER BY 1, 2, 3', [`'airlock\\_${principal}\\_%`]),
    await q('SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE LIKE ? ORDER BY 1, 2', [`'airlock\\_${principal}\\_%`]),
  ];
  return parts.join('\n');
}


test('every write-bypass statement is refused naming its rule (mysql2 text and prepared, mariadb -e); the session goes on; nothing changes', async () => {
  const before = await snapshot();
  assert.match(before, new RegExp(`airlock_${principal}_`), 'the per-grant user exists');
  let c = await open();
  c.on('error', () => {});
  const failures: string[] = [];
  const check = async (what: string, w: BypassCase, run: () => Promise<unknown>) => {
    try {
      const [rows] = (await run()) as [unknown];
      // The gateway reads quotes as the session's server does (it knows its sql_mode), so a backslash that only
      // hides a quote under the other sql_mode is read as one string here: allowed, a single row, nothing else runs.
      if (!(w.why.startsWith('a backslash that hides a quote') && Array.isArray(rows) && rows.length === 1 && !Array.isArray(rows[0]))) failures.push(`${what}: ran`);
    } catch (e) {
      const m = (e as Error).message;
      // KILL of the session's own connection id (the gateway numbers sessions from 1) ends it, in words.
      if (w.sql.startsWith('KILL') && /^airlock: the session ended itself with KILL/.test(m)) return;
      if (!/^airlock: /.test(m) || !/rule (read_only|parse_error|text_setting|hidden_sql)\b/.test(m)) failures.push(`${what}: ${m}`);
    }
  };
  for (const [i, w] of MYSQL_WRITE_BYPASS.entries()) {
    await check(`text: ${w.sql}`, w, () => c.query(w.sql));
    if (i % 7 === 3) await check(`prepared: ${w.sql}`, w, () => c.execute(w.sql));
    try {
      assert.deepEqual((await c.query('SELECT 1 AS one'))[0], [{ one: 1 }]);
    } catch (err) {
      if (!w.sql.startsWith('KILL')) failures.push(`the session did not go on after ${w.sql}: ${(err as Error).message}`);
      c = await open();
      c.on('error', () => {});
    }
  }
  await c.end();
  const cli = ['-h', '127.0.0.1', '-P', String(port), '-u', principal, `-p${token}`, '-D', 'shop-db', '--skip-ssl'];
  for (const w of MYSQL_WRITE_BYPASS.filter((x, i) => i % 20 === 0 && !x.why.startsWith('a backslash'))) {
    const r = await mariadbCli([...cli, '-e', w.sql]);
    if (r.code !== 1 || !new RegExp(`ERROR \\d+ \\(\\w+\\)( at line 1)?: airlock: .*rule ${w.rule}\\b`).test(r.stderr)) failures.push(`mariadb -e: ${w.sql}: ${r.code} ${r.stderr}`);
  }
  assert.equal(await snapshot(), before);
  assert.deepEqual(failures, []);
});

test('every statement of MYSQL_READS runs for the read role', async () => {
  const c = await open();
  try {
    for (const sql of MYSQL_READS) await c.query(sql).catch((e: Error) => assert.fail(`${sql}: ${e.message}`));
  } finally {
    await c.end();
  }
});

// ---- red team: hostile input the corpus lacks ----

/** Logs in on a bare socket with the given capabilities, collation and database; returns a packet reader/writer. */
async function raw(opts: { expectLogin?: boolean; caps?: number; collation?: number; database?: string; user?: string; password?: string } = {}) {
  const sock: Socket = connect({ host: '127.0.0.1', port });
  sock.on('error', () => {});
  let buf = Buffer.alloc(0);
  const waiting: ((p: Buffer) => void)[] = [];
  const got: Buffer[] = [];
  let closed = false;
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3)) {
      const p = buf.subarray(4, 4 + buf.readUIntLE(0, 3));
      buf = buf.subarray(4 + p.length);
      const w = waiting.shift();
      if (w) w(p);
      else got.push(p);
    }
  });
  sock.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w(Buffer.from([0xff, 0, 0, ...Buffer.from('#closed')]));
  });
  const read = () => new Promise<Buffer>((resolve) => (got.length ? resolve(got.shift()!) : closed ? resolve(Buffer.from([0xff, 0, 0, ...Buffer.from('#closed')])) : waiting.push(resolve)));
  const send = (payload: Buffer, seq = 0) => {
    const head = Buffer.alloc(4);
    head.writeUIntLE(payload.length, 0, 3);
    head[3] = seq;
    sock.write(Buffer.concat([head, payload]));
  };
  const hello = await read();
  const verEnd = hello.indexOf(0, 1);
  const p1 = hello.subarray(verEnd + 5, verEnd + 13);
  const p2 = hello.subarray(verEnd + 32, verEnd + 44);
  const proof = nativeProof(opts.password ?? token, Buffer.concat([p1, p2]));
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE((opts.caps ?? 0) | 0x0008 | 0x0200 | 0x8000 | 0x80000, 0);
  fixed.writeUInt32LE(1 << 24, 4);
  fixed[8] = opts.collation ?? 45;
  send(Buffer.concat([fixed, Buffer.from(`${opts.user ?? principal}\0`), Buffer.from([proof.length]), proof, Buffer.from(`${opts.database ?? 'shop-db'}\0`), Buffer.from('mysql_native_password\0')]), 1);
  const login = await read();
  if (opts.expectLogin !== false) assert.equal(login[0], 0x00, `login: ${login.toString('latin1')}`);
  /** Sends a command; reads packets until OK/ERR/EOF-ended result (simple: returns the first packet and drains the rest briefly). */
  const command = async (payload: Buffer): Promise<Buffer> => {
    send(payload);
    return read();
  };
  const query = (sql: string | Buffer) => command(Buffer.concat([Buffer.from([0x03]), typeof sql === 'string' ? Buffer.from(sql) : sql]));
  const isErr = (p: Buffer) => p[0] === 0xff;
  const errText = (p: Buffer) => p.subarray(p[3] === 0x23 && p.length > 9 ? 9 : 3).toString();
  return { sock, login, read, send, command, query, isErr, errText, close: () => sock.destroy() };
}

test('red team: handshake database naming another schema or resource, and capabilities for local files, compression, multi-statements', async () => {
  const before = await snapshot();
  for (const database of [`shop-db/${my.otherSchema}`, `shop-db/mysql`, `shop-db/information_schema`, my.otherSchema, 'shop-db/', 'shop-db/../mysql']) {
    const r = await raw({ database, expectLogin: false });
    assert.equal(r.login[0], 0xff, `login to ${database} is refused`);
    r.close();
  }
  // CLIENT_LOCAL_FILES | CLIENT_COMPRESS | CLIENT_MULTI_STATEMENTS asked for in the handshake.
  for (const caps of [0x80, 0x20, 0x10000]) {
    const x = await raw({ caps });
    assert.equal(x.login[0], 0x00, `caps ${caps.toString(16)}: ${x.login.toString('latin1')}`);
    x.close();
  }
  const r = await raw({ caps: 0x80 | 0x10000 });
  assert.equal(r.login[0], 0x00, r.errText(r.login));
  const multi = await r.query('SELECT 1; DELETE FROM t');
  assert.ok(r.isErr(multi), 'a multi-statement is refused');
  assert.match(r.errText(multi), /airlock: /);
  const load = await r.query("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t");
  assert.ok(r.isErr(load), 'LOAD DATA LOCAL is refused before the server could ask the client for a file');
  // COM_SET_OPTION: multi-statements on.
  const setOpt = await r.command(Buffer.from([0x1b, 0x00, 0x00]));
  assert.ok(r.isErr(setOpt));
  r.close();
  assert.equal(await snapshot(), before);
});

test('red team: COM_INIT_DB, USE behind comments and qualified names cannot reach another schema', async () => {
  const r = await raw();
  for (const db of [my.otherSchema, 'mysql', 'information_schema', 'performance_schema']) {
    const p = await r.command(Buffer.concat([Buffer.from([0x02]), Buffer.from(db)]));
    if (db !== 'information_schema') assert.ok(r.isErr(p), `COM_INIT_DB ${db}`);
  }
  r.close();
  const c = await open();
  try {
    for (const sql of [`/* x */ USE \`${my.otherSchema}\``, `USE/**/\`${my.otherSchema}\``, `/*!USE \`${my.otherSchema}\`*/`]) {
      await c.query(sql).catch(() => {});
      const [rows] = await c.query('SELECT DATABASE() AS d');
      assert.equal((rows as { d: string }[])[0]!.d, my.schema, sql);
    }
    await assert.rejects(c.query(`SELECT * FROM \`${my.otherSchema}\`.secrets`));
    await assert.rejects(c.query('SELECT User, authentication_string FROM mysql.user'));
  } finally {
    await c.end();
  }
});

test('red team: prepared statements — ids of refused or closed statements, id -1, long data, reset', async () => {
  const before = await snapshot();
  const r = await raw();
  // COM_STMT_PREPARE of a write is refused; its would-be id (1, 2, …) and -1 are unknown to EXECUTE.
  const prep = await r.command(Buffer.concat([Buffer.from([0x16]), Buffer.from('DELETE FROM t')]));
  assert.ok(r.isErr(prep));
  for (const id of [0, 1, 2, 0xffffffff]) {
    const ex = Buffer.alloc(10);
    ex[0] = 0x17;
    ex.writeUInt32LE(id, 1);
    ex.writeUInt32LE(1, 6);
    const p = await r.command(ex);
    assert.ok(r.isErr(p), `EXECUTE ${id}`);
  }
  // COM_STMT_SEND_LONG_DATA to a statement that does not exist, then a 16 MiB query whose later part holds a write.
  r.send(Buffer.concat([Buffer.from([0x18]), Buffer.from([9, 0, 0, 0, 0, 0]), Buffer.from('DELETE FROM t')]));
  // A 16 MiB packet continued by a second one that holds the state change: `SELECT <spaces…> GET_LOCK(…)`.
  const big = Buffer.alloc(0xffffff + 100, 0x20);
  Buffer.from('SELECT ').copy(big, 0);
  Buffer.from("GET_LOCK('airlock_split', 0)").copy(big, 0xffffff + 10);
  const head = (len: number, seq: number) => {
    const h = Buffer.alloc(4);
    h.writeUIntLE(len, 0, 3);
    h[3] = seq;
    return h;
  };
  const payload = Buffer.concat([Buffer.from([0x03]), big]);
  r.sock.write(Buffer.concat([head(0xffffff, 0), payload.subarray(0, 0xffffff), head(payload.length - 0xffffff, 1), payload.subarray(0xffffff)]));
  const p = await r.read();
  assert.ok(r.isErr(p), 'the continued statement is refused (or the packet is over the limit)');
  assert.match(r.errText(p), /airlock: /);
  const locks = (await my.root.query("SELECT IS_USED_LOCK('airlock_split') AS l"))[0] as { l: number | null }[];
  assert.equal(locks[0]!.l, null, 'no named lock was taken');
  r.close();
  assert.equal(await snapshot(), before);
});

test('red team: KILL forms reach no connection but the session\'s own', async () => {
  const c = await open();
  const [[{ id }]] = (await my.root.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
  try {
    for (const sql of [`KILL ${id}`, `KILL QUERY ${id}`, `KILL CONNECTION ${id}`, `KILL HARD ${id}`, `KILL USER '${my.admin.user}'`, `KILL QUERY ID ${id}`, `/*!KILL ${id}*/`, `-- x\nKILL ${id}`]) {
      await assert.rejects(c.query(sql), /airlock: /, sql);
    }
    const k = await raw();
    const pk = Buffer.alloc(5);
    pk[0] = 0x0c;
    pk.writeUInt32LE(Number(id), 1);
    assert.ok(k.isErr(await k.command(pk)), 'COM_PROCESS_KILL of root is refused');
    k.close();
    assert.deepEqual((await my.root.query('SELECT 1 AS one'))[0], [{ one: 1 }], 'root is still connected');
  } finally {
    await c.end();
  }
});

test('red team: COM_RESET_CONNECTION puts the read-only transaction mode back', async () => {
  const c = await mariadb.createConnection({ host: '127.0.0.1', port, user: principal, password: token, database: 'shop-db' });
  try {
    await c.query('SET tx_read_only = OFF').catch(() => {});
    await c.reset();
    const [row] = (await c.query('SELECT @@tx_read_only AS ro')) as { ro: bigint | number }[];
    assert.equal(Number(row!.ro), 1);
  } finally {
    await c.end();
  }
});

// ---- bypasses the red team found, each closed; the tests keep them closed ----

/** The harness's resource logs in as one upstream user with ALL on the schema (injected credential): the guardrail is the only line. */
let hx: MysqlHarness;
test('closed bypass: a login in GBK (where 0xbf 0x5c hides a quote from a UTF-8 reading) is refused before any statement', async (t) => {
  hx = await startMysqlHarness();
  t.after(() => hx.close());
  const carol = await hx.token('carol');
  await hx.grant('read', carol);
  await adminQuery(`CREATE FUNCTION \`${hx.db}\`.bump() RETURNS INT MODIFIES SQL DATA BEGIN UPDATE \`${hx.db}\`.items SET note = 'written'; RETURN 1; END`);
  const hidden = iconv.decode(Buffer.from([0xbf, 0x5c]), 'gbk');
  for (const charset of ['GBK_CHINESE_CI', 'BIG5_CHINESE_CI', 'SJIS_JAPANESE_CI', 'CP932_JAPANESE_CI']) {
    await assert.rejects(
      mysql.createConnection({ host: '127.0.0.1', port: hx.gw.port, user: 'carol', password: carol, database: 'shop-db', charset }).then(async (c) => {
        // Only reached if the login was let through: the statement the review showed would run bump().
        await c.query(`SELECT '${hidden}', bump() -- '`).finally(() => c.end());
      }),
      (e: Error) => /AIRLOCK_ENCODING_REFUSED/.test(e.message),
      charset,
    );
  }
  const notes = (await adminQuery(`SELECT note FROM \`${hx.db}\`.items ORDER BY id`)) as { note: string }[];
  assert.deepEqual(notes.map((n) => n.note), ['red', 'green', 'blue'], 'the rows are unchanged');
});

test('MariaDB skips /*!50800 … /*!99999 version comments though its version is higher: `/*!99999 SET @a = */ DROP TABLE t` is read as the DROP it is there', async () => {
  const c = await open();
  try {
    for (const v of ['50800', '80000', '99999']) {
      await assert.rejects(c.query(`/*!${v} SET @a = */ DROP TABLE t`), /airlock: statement refused by rule read_only/, v);
      await assert.rejects(c.query(`/*!${v} SET @a = */ DELETE FROM t`), /airlock: statement refused by rule read_only/, v);
    }
  } finally {
    await c.end();
  }
});

test('closed bypass (injected credential, guardrail only): SET tx_read_only = OFF, then the version-comment DROP, leaves the table', async (t) => {
  const hy = await startMysqlHarness();
  t.after(() => hy.close());
  const erin = await hy.token('erin');
  await hy.grant('read', erin);
  const c = await mysql.createConnection({ host: '127.0.0.1', port: hy.gw.port, user: 'erin', password: erin, database: 'shop-db' });
  try {
    await c.query('SET tx_read_only = OFF').catch(() => {});
    await c.query('/*!99999 SET @a = */ DROP TABLE items').catch(() => {});
  } finally {
    await c.end();
  }
  const tables = (await adminQuery('SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [hy.db])) as { n: string }[];
  assert.deepEqual(tables.map((x) => x.n), ['items'], 'the table is still there');
});

test('closed bypass (injected credential, guardrail only): names MariaDB 10.11 has no built-in for (any_value, kdf) do not reach the schema\'s stored function of that name', async (t) => {
  const hz = await startMysqlHarness();
  t.after(() => hz.close());
  const dave = await hz.token('dave');
  await hz.grant('read', dave);
  for (const f of ['any_value', 'kdf', 'load_file_disabled']) {
    await adminQuery(`CREATE FUNCTION \`${hz.db}\`.${f}(x INT) RETURNS INT MODIFIES SQL DATA BEGIN UPDATE \`${hz.db}\`.items SET note = '${f}'; RETURN x; END`);
  }
  const c = await mysql.createConnection({ host: '127.0.0.1', port: hz.gw.port, user: 'dave', password: dave, database: 'shop-db' });
  const ran: string[] = [];
  try {
    await c.query('SET tx_read_only = OFF').catch(() => {});
    for (const f of ['any_value', 'kdf', 'load_file_disabled']) await c.query(`SELECT ${f}(1) AS v`).then(() => ran.push(f), () => {});
  } finally {
    await c.end();
  }
  const notes = (await adminQuery(`SELECT DISTINCT note FROM \`${hz.db}\`.items`)) as { note: string }[];
  assert.deepEqual({ ran, notes: notes.map((n) => n.note).sort() }, { ran: [], notes: ['blue', 'green', 'red'] });
});

test('BYPASS (defense in depth): a read role undoes the gateway\'s SET SESSION TRANSACTION READ ONLY', async () => {
  const c = await open();
  const ran: string[] = [];
  try {
    for (const sql of ['SET SESSION TRANSACTION READ WRITE', 'SET tx_read_only = OFF', 'SET @@session.tx_read_only = 0', 'START TRANSACTION READ WRITE']) {
      await c.query(sql).then(() => ran.push(sql), () => {});
      await c.query('ROLLBACK').catch(() => {});
    }
  } finally {
    await c.end();
  }
  assert.deepEqual(ran, [], 'each is refused for a read-only role');
});

test('closed bypass (per-grant user): behind /*!99999 SET @a = */ no refused statement reaches the server: SET sql_mode (ANSI_QUOTES), HANDLER, ALTER USER, KILL, FLUSH', async () => {
  const before = await snapshot();
  const [[{ id: rootId }]] = (await my.root.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
  const c = await open();
  c.on('error', () => {});
  const ran: string[] = [];
  try {
    for (const tail of ["SET PASSWORD = PASSWORD('airlock-bypass')", "ALTER USER CURRENT_USER() IDENTIFIED BY 'airlock-bypass'", "DO GET_LOCK('airlock_vc', 0)", `KILL QUERY ${rootId}`, "SET sql_mode = 'ANSI_QUOTES'", 'CREATE TEMPORARY TABLE tmp_x (a INT)', 'LOCK TABLES t READ', 'FLUSH TABLES', 'HANDLER t OPEN']) {
      const sql = `/*!99999 SET @a = */ ${tail}`;
      await c.query(sql).then(() => ran.push(sql), (e: Error) => (/^airlock: /.test(e.message) ? null : ran.push(`${sql} → ${e.message}`)));
    }
  } finally {
    await c.end().catch(() => {});
  }
  const after = await snapshot();
  assert.deepEqual({ ran, changed: before !== after }, { ran: [], changed: false });
});

test('per-grant user: SET tx_read_only = OFF, then /*!99999 SET @a = */ ALTER USER leaves the account as Airlock made it', async () => {
  const c = await open();
  c.on('error', () => {});
  let who = '';
  try {
    who = ((await c.query('SELECT CURRENT_USER() AS u'))[0] as { u: string }[])[0]!.u;
    await c.query('SET tx_read_only = OFF').catch(() => {});
    await c.query("/*!99999 SET @a = */ ALTER USER CURRENT_USER() IDENTIFIED BY 'airlock-bypass-pw'").catch(() => {});
  } finally {
    await c.end().catch(() => {});
  }
  const [user, host] = who.split('@');
  // Undo at once, so the rest of the file and the clean-up see the account as Airlock made it.
  const direct = await mysql.createConnection({ host: '127.0.0.1', port: Number(my.address.split(':')[1]), user, password: 'airlock-bypass-pw', database: my.schema }).then(
    async (d) => (await d.end(), true),
    () => false,
  );
  if (direct) await my.root.query('ALTER USER ?@? ACCOUNT LOCK', [user, host]);
  assert.equal(direct, false, `the per-grant user ${who} took a password of the principal's choosing and logged in directly`);
});
