// The machine's MariaDB (or MySQL) for tests: a schema of the test's own with a small `orders` table, and an admin user
// of the test's own with a password (Airlock refuses empty secrets), both removed afterwards. Nothing else is touched.
// Where the server is: AIRLOCK_TEST_MYSQL_HOST / AIRLOCK_TEST_MYSQL_PORT (default 127.0.0.1:3306, root, empty password).
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export const MYSQL_HOST = process.env.AIRLOCK_TEST_MYSQL_HOST ?? '127.0.0.1';
export const MYSQL_PORT = Number(process.env.AIRLOCK_TEST_MYSQL_PORT ?? 3306);

/** A connection as the server's root user (the tests' superuser), with several statements per query allowed. */
export function rootConnection(database?: string): Promise<mysql.Connection> {
  return mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: process.env.AIRLOCK_TEST_MYSQL_USER ?? 'root', password: process.env.AIRLOCK_TEST_MYSQL_PASSWORD ?? '', database, multipleStatements: true });
}

export interface TestMysql {
  /** The schema, `airlock_t_<random>`, with `orders(id int primary key, item varchar(40), qty int)` holding 42 rows. */
  schema: string;
  /** A second schema of the test's own (`<schema>_other`) with a `secrets` table, which the resource does not cover. */
  otherSchema: string;
  /** An admin user made for this test (all privileges, with GRANT OPTION), as a resource's credential would name it. */
  admin: { user: string; password: string };
  /** host:port of the server, for a policy's address. */
  address: string;
  root: mysql.Connection;
  /**
   * Removes what this made; `deploymentIds`: the Airlock servers this test ran against, whose marker roles
   * (`airlock_managed_<id>`, made by per-grant users) go too — each server's own, so no other test's.
   */
  drop(opts?: { deploymentIds?: string[] }): Promise<void>;
}

/** Makes the schema, the other schema and the admin user; `drop()` removes them and every user whose name starts with `userPrefix`. */
export async function createTestMysql(opts: { userPrefix?: string } = {}): Promise<TestMysql> {
  const id = randomBytes(4).toString('hex');
  const schema = `airlock_t_${id}`;
  const otherSchema = `${schema}_other`;
  const admin = { user: `airlock_adm_${id}`, password: randomBytes(18).toString('base64url') };
  const root = await rootConnection();
  await root.query(`create database \`${schema}\`; create database \`${otherSchema}\``);
  await root.query(`create table \`${schema}\`.orders (id int primary key, item varchar(40) not null, qty int not null)`);
  const rows = Array.from({ length: 42 }, (_, i) => [i + 1, `item-${i + 1}`, (i % 5) + 1]);
  await root.query(`insert into \`${schema}\`.orders (id, item, qty) values ?`, [rows]);
  await root.query(`create table \`${otherSchema}\`.secrets (id int primary key, v varchar(40)); insert into \`${otherSchema}\`.secrets values (1, 'not for you')`);
  for (const host of ['127.0.0.1', 'localhost', '::1']) {
    await root.query(`create user '${admin.user}'@'${host}' identified by '${admin.password}'`);
    await root.query(`grant all privileges on *.* to '${admin.user}'@'${host}' with grant option`);
  }
  return {
    schema,
    otherSchema,
    admin,
    address: `${MYSQL_HOST}:${MYSQL_PORT}`,
    root,
    async drop(o = {}) {
      for (const id of o.deploymentIds ?? []) {
        if (/^[a-z0-9]{1,12}$/.test(id)) await root.query(`drop role if exists \`airlock_managed_${id}\``);
      }
      const prefixes = [admin.user, ...(opts.userPrefix ? [opts.userPrefix] : [])];
      const [users] = await root.query<mysql.RowDataPacket[]>('select user as name, host as host from mysql.user');
      for (const u of users) {
        if (prefixes.some((p) => String(u.name).startsWith(p))) await root.query('drop user if exists ?@?', [String(u.name), String(u.host)]);
      }
      await root.query(`drop database if exists \`${schema}\`; drop database if exists \`${otherSchema}\``);
      await root.end();
    },
  };
}
