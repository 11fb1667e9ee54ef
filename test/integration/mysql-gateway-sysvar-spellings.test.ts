// Red team finding: `SET @@`sql_mode` = 'ANSI_QUOTES'` and `SET @@session . character_set_client = 'sjis'` went
// through a masked write role's session (the lexer cut the name short), after which a statement the check read one
// way the server read another and masked values leaked. Through the real gateway to the machine's MariaDB, with
// mysql2's text (query) and binary (execute) protocols: every spelling is refused, no real value reaches the client,
// and the gateway asks the server how it reads text again after each SET that went through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { MARIADB, adminQuery } from './mysql-gateway-harness.js';

const suffix = randomBytes(4).toString('hex');
const db = `airlock_mysv_${suffix}`;
const user = `airlock_mysv_${suffix}`;
const password = randomBytes(12).toString('base64url');
const passEnv = `AIRLOCK_T_MYSV_${suffix.toUpperCase()}`;
const SECRETS = ['zq8alice', 'zq8bob'];

let airlock: InProcessAirlock;
let tokens: Record<'alice' | 'bob', string>;

const leaks = (got: unknown): string[] => {
  const text = JSON.stringify(got, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v));
  return SECRETS.filter((s) => text.includes(s));
};
const connect = () => mysql.createConnection({ host: '127.0.0.1', port: airlock.server.gateways.mysql!.port, user: 'alice', password: tokens.alice, database: 'shop-db' });

before(async () => {
  await adminQuery(`CREATE DATABASE \`${db}\``);
  for (const h of ['%', 'localhost']) {
    await adminQuery(`CREATE USER '${user}'@'${h}' IDENTIFIED BY '${password}'`);
    await adminQuery(`GRANT ALL ON \`${db}\`.* TO '${user}'@'${h}'`);
  }
  await adminQuery(`CREATE TABLE \`${db}\`.customers (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(100))`);
  await adminQuery(`INSERT INTO \`${db}\`.customers VALUES (1, 'Alice', 'zq8alice@example.com'), (2, 'Bob', 'zq8bob@example.org')`);
  const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
resources:
  - name: shop-db
    kind: mysql
    address: "${MARIADB.host}:${MARIADB.port}"
    database: ${db}
    credential: { username: ${user}, password: { env: ${passEnv} }, mode: injected }
roles:
  - name: support
    resources: { names: [shop-db] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking:
      columns:
        - { column: customers.email, method: email }
`;
  airlock = await startAirlock({ policy, env: { [passEnv]: password } });
  tokens = { alice: await airlock.token('alice'), bob: await airlock.token('bob') };
  await airlock.grant(tokens.alice, tokens.bob, 'shop-db', 'support');
});

after(async () => {
  await airlock?.stop();
  await adminQuery(`DROP DATABASE IF EXISTS \`${db}\``);
  for (const h of ['%', 'localhost']) await adminQuery(`DROP USER IF EXISTS '${user}'@'${h}'`);
});

type Run = (c: mysql.Connection, sql: string) => Promise<unknown>;
const PROTOCOLS: [string, Run][] = [
  ['query', async (c, sql) => (await c.query(sql))[0]],
  ['execute', async (c, sql) => (await c.execute(sql))[0]],
];

/** The result, or the error message the client got. */
async function attempt(run: Run, c: mysql.Connection, sql: string): Promise<{ rows: unknown; error: string | null }> {
  try {
    return { rows: await run(c, sql), error: null };
  } catch (err) {
    return { rows: null, error: (err as Error).message };
  }
}

for (const [protocol, run] of PROTOCOLS) {
  test(`${protocol}: SET @@\`sql_mode\` = 'ANSI_QUOTES' is refused, and "email" stays a string: no real e-mail reaches the client`, async () => {
    const c = await connect();
    try {
      const set = await attempt(run, c, "SET @@`sql_mode` = 'ANSI_QUOTES'");
      assert.match(set.error ?? '', /text_setting/, JSON.stringify(set));
      const sel = await attempt(run, c, 'SELECT LOWER("email") AS x FROM customers ORDER BY id');
      assert.deepEqual(sel, { rows: [{ x: 'email' }, { x: 'email' }], error: null });
      const [mode] = (await c.query('SELECT @@SESSION.sql_mode AS m'))[0] as { m: string }[];
      assert.doesNotMatch(mode!.m, /ANSI_QUOTES/);
    } finally {
      await c.end().catch(() => {});
    }
  });

  test(`${protocol}: SET @@session . character_set_client = 'sjis' is refused, and the multi-byte trick shows no real value`, async () => {
    const c = await connect();
    try {
      const set = await attempt(run, c, "SET @@session . character_set_client = 'sjis'");
      assert.match(set.error ?? '', /text_setting/, JSON.stringify(set));
      const payload = "SELECT '\u0095\\\\' , ' , LOWER(email) AS x FROM customers -- '";
      const got = await attempt(run, c, payload);
      assert.deepEqual(leaks(got), [], JSON.stringify(got));
      const [cs] = (await c.query('SELECT @@SESSION.character_set_client AS cs'))[0] as { cs: string }[];
      assert.notEqual(cs!.cs, 'sjis');
    } finally {
      await c.end().catch(() => {});
    }
  });

  test(`${protocol}: every other spelling of a text setting, or a name the gateway cannot read, is refused`, async () => {
    const c = await connect();
    try {
      for (const sql of [
        "SET @@session.`character_set_client` = 'sjis'",
        "SET @@SESSION/**/./**/`SQL_MODE` = 'ANSI_QUOTES'",
        "SET @@local . `sql_mode` := 'ANSI'",
        "SET SESSION `sql_mode` = 'ANSI_QUOTES'",
        "SET `character_set_connection` = 'big5'",
        "SET autocommit = 1, @@`character_set_client` = 'gbk'",
        "SET STATEMENT @@`sql_mode` = 'ANSI_QUOTES' FOR SELECT LOWER(\"email\") FROM customers",
        "/*!40101 SET @@session . sql_mode = 'ANSI_QUOTES' */",
        "SET @@`session`.`sql_mode` = 'ANSI_QUOTES'",
        "SET @@default.key_buffer_size = 8388608",
      ]) {
        const got = await attempt(run, c, sql);
        assert.match(got.error ?? '', /text_setting/, `${sql}: ${JSON.stringify(got)}`);
      }
      const sel = await attempt(run, c, 'SELECT LOWER("email") AS x, email FROM customers ORDER BY id');
      assert.deepEqual(leaks(sel), [], JSON.stringify(sel));
      assert.deepEqual(sel.rows, [{ x: 'email', email: '****@example.com' }, { x: 'email', email: '****@example.org' }]);
    } finally {
      await c.end().catch(() => {});
    }
  });
}

test('after a SET that went through, the gateway asks the server how it reads text before the next statement', async () => {
  const c = await connect();
  try {
    const selects = async () => Number(((await c.query("SHOW SESSION STATUS LIKE 'Com_select'"))[0] as { Value: string }[])[0]!.Value);
    const base = await selects();
    await c.query("SET @@session . time_zone = '+00:00'");
    // The gateway's check is a SELECT on the same session: one more than the client sent.
    assert.equal(await selects(), base + 1);
    await c.query('SELECT 1');
    assert.equal(await selects(), base + 2);
    const [tz] = (await c.query('SELECT @@session.time_zone AS tz'))[0] as { tz: string }[];
    assert.equal(tz!.tz, '+00:00');
  } finally {
    await c.end().catch(() => {});
  }
});
