// The MySQL corpora against the machine's MariaDB: every read runs there, and the write-bypass statements, run with
// no guardrail as a SELECT-only user (the per-grant user of a read role), leave the data unchanged — except the
// cases marked serverGap, which only the guardrail stops.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { makeMysqlInspector } from '../../src/inspect/mysql/index.js';
import { MYSQL_CORPUS_SCHEMA, MYSQL_READS, MYSQL_WRITE_BYPASS } from '../support/mysql-write-bypass.js';

const HOST = process.env.AIRLOCK_TEST_MYSQL_HOST ?? '127.0.0.1';
const PORT = Number(process.env.AIRLOCK_TEST_MYSQL_PORT ?? 3306);
const suffix = randomBytes(4).toString('hex');
const DB = `airlock_inspect_${suffix}`;
const USER = `airlock_inspect_${suffix}`;
const PASSWORD = randomBytes(12).toString('hex');

let root: mysql.Connection;

async function snapshot(): Promise<string> {
  const [t] = await root.query(`SELECT id, v FROM \`${DB}\`.t ORDER BY id`);
  const [u] = await root.query(`SELECT id, t_id FROM \`${DB}\`.u ORDER BY id`);
  return JSON.stringify([t, u]);
}

before(async () => {
  root = await mysql.createConnection({ host: HOST, port: PORT, user: 'root', multipleStatements: true });
  await root.query(`CREATE DATABASE \`${DB}\``);
  await root.query(`USE \`${DB}\``);
  for (const s of MYSQL_CORPUS_SCHEMA) await root.query(s);
  await root.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await root.query(`GRANT SELECT, SHOW VIEW ON \`${DB}\`.* TO '${USER}'@'%'`);
});

after(async () => {
  await root.query(`DROP USER IF EXISTS '${USER}'@'%'`);
  await root.query(`DROP DATABASE IF EXISTS \`${DB}\``);
  await root.end();
});

function connectAsReader(): Promise<mysql.Connection> {
  return mysql.createConnection({ host: HOST, port: PORT, user: USER, password: PASSWORD, database: DB, multipleStatements: true });
}

describe('MySQL corpora on MariaDB', () => {
  test('every read the read-only guardrail allows runs on MariaDB as the SELECT-only user', async () => {
    const inspector = makeMysqlInspector({ read_only: true });
    const c = await connectAsReader();
    try {
      for (const sql of MYSQL_READS) {
        assert.equal(inspector.inspect(sql).allowed, true, sql);
        await c.query(sql).catch((err: Error) => assert.fail(`${sql}: ${err.message}`));
      }
    } finally {
      await c.end();
    }
  });

  test('with the guardrail off, the SELECT-only user changes nothing through the bypass corpus', async () => {
    const before = await snapshot();
    for (const { sql, serverGap } of MYSQL_WRITE_BYPASS) {
      if (serverGap !== undefined) continue; // only the guardrail stops it; tested in the unit corpus
      // One connection per statement: LOCK TABLES, XA START or a failed multi-statement must not shape the next.
      const c = await connectAsReader();
      try {
        await c.query(sql).catch(() => undefined);
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    assert.equal(await snapshot(), before);
    const still = await connectAsReader(); // the account itself is unchanged too
    await still.end();
    const [tables] = await root.query(`SHOW TABLES FROM \`${DB}\``);
    assert.deepEqual((tables as Record<string, string>[]).map((r) => Object.values(r)[0]).sort(), ['t', 'u']);
  });
});
