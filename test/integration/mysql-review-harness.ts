// A MariaDB database and an Airlock whose `reviewed` role holds writes for a DBA's review: what the MySQL statement
// review tests share. alice holds a grant under it; bob (dba) decides.
import { randomBytes } from 'node:crypto';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { MARIADB, adminQuery, until } from './mysql-gateway-harness.js';
import type { Caller } from '../../src/domain/model.js';
import type { StatementReview } from '../../src/access/statement-reviews.js';

export interface MysqlReviewSetup {
  a: InProcessAirlock;
  /** The database (and the injected account's name) made for this run. */
  db: string;
  alice: string;
  bob: Caller;
  /** The MySQL gateway's port. */
  port: number;
  /** The one pending review, once the gateway has created it. */
  pendingReview(): Promise<StatementReview>;
  stop(): Promise<void>;
}

/** `prefix` names the run's database and account; `setup` gets the database's name and returns the statements that fill it. */
export async function startMysqlReview(prefix: string, setup: (db: string) => string[]): Promise<MysqlReviewSetup> {
  const suffix = randomBytes(5).toString('hex');
  const db = `${prefix}_${suffix}`;
  const user = `${prefix}_${suffix}`;
  const password = randomBytes(12).toString('base64url');
  await adminQuery(`CREATE DATABASE \`${db}\``);
  for (const h of ['%', 'localhost']) {
    await adminQuery(`CREATE USER '${user}'@'${h}' IDENTIFIED BY '${password}'`);
    await adminQuery(`GRANT ALL ON \`${db}\`.* TO '${user}'@'${h}'`);
  }
  for (const sql of setup(db)) await adminQuery(sql);
  const a = await startAirlock({
    env: { REVIEW_MYSQL_PW: password },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - { name: shop-db, kind: mysql, address: "${MARIADB.host}:${MARIADB.port}", database: ${db}, credential: { username: ${user}, password: { env: REVIEW_MYSQL_PW }, mode: injected } }
roles:
  - name: reviewed
    resources: { names: [shop-db] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    review: { statements: writes, approver_groups: [dba], timeout: 15m }
`,
  });
  const alice = await a.token('alice');
  await a.grant(alice, await a.token('bob'), 'shop-db', 'reviewed');
  const bob: Caller = { principal: a.server.access.policy().principal('bob')!, source: null, token_id: null };
  return {
    a,
    db,
    alice,
    bob,
    port: a.server.gateways.mysql!.port,
    async pendingReview() {
      let found: StatementReview | undefined;
      await until('a pending statement review', async () => (found = (await a.server.access.statementReviews.list(bob, { status: 'pending' }))[0]) !== undefined, 10_000);
      return found!;
    },
    async stop() {
      await a.stop();
      await adminQuery(`DROP DATABASE IF EXISTS \`${db}\``);
      for (const h of ['%', 'localhost']) await adminQuery(`DROP USER IF EXISTS '${user}'@'${h}'`);
    },
  };
}
