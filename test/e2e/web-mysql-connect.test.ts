// The console for a MySQL grant, in a real browser against the real server: the grant card shows a ready mariadb line
// for the MySQL gateway (password via MYSQL_PWD, certificate checked) with a copy button that copies exactly it.
// The MySQL listener's address is set on the running server here (its front-end is tested on its own).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { ensureConsoleBuilt, launchBrowser, person, screenshot, signInWithToken } from '../support/browser.js';

const POLICY = `version: 1
principals: [{ name: alice, groups: [eng] }, { name: bob, groups: [dba] }]
resources:
  - { name: shop-db, kind: mysql, address: "127.0.0.1:3306", database: shop, description: Shop (MariaDB) }
  - { name: orders, kind: postgres, address: "127.0.0.1:5432", database: orders }
roles:
  - { name: read, resources: { names: [shop-db, orders] }, max_duration: 4h, requestable_by: { groups: [eng] }, approval: { approver_groups: [dba] } }
`;

let s: InProcessAirlock;
let browser: Browser;

before(async () => {
  ensureConsoleBuilt();
  s = await startAirlock({ policy: POLICY });
  const pg = s.server.gateways.postgres!;
  s.server.gateways.mysql = { host: '127.0.0.1', port: 3307, ca: pg.ca, ca_path: pg.ca_path };
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await s?.stop();
});

test('a MySQL grant shows the mariadb line and airlock connect --exec mariadb, each copyable; a PostgreSQL one keeps psql', async () => {
  const alice = await s.token('alice');
  const bob = await s.token('bob');
  await s.grant(alice, bob, 'shop-db', 'read', '1h');
  await s.grant(alice, bob, 'orders', 'read', '1h');
  const p = await person(browser, 'alice');
  await p.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: s.server.apiUrl });
  await signInWithToken(p, s.server.apiUrl, alice);

  const card = p.page.getByTestId('grant').filter({ hasText: 'shop-db' });
  await card.waitFor();
  const line = 'mariadb -h 127.0.0.1 -P 3307 -u alice --ssl-ca=airlock-ca.crt --ssl-verify-server-cert shop-db';
  assert.equal(await card.getByTestId('mysql-command').textContent(), line);
  assert.equal(await card.getByTestId('connect-command').textContent(), 'airlock connect shop-db --exec mariadb');
  assert.match((await card.locator('.hint').textContent())!, /MYSQL_PWD environment variable, never on the command line/);
  assert.equal(await card.getByTestId('psql-string').count(), 0);
  await card.getByRole('button', { name: 'Copy mariadb' }).click();
  await card.getByRole('button', { name: 'Copy mariadb' }).filter({ hasText: 'Copied' }).waitFor();
  assert.equal(await p.page.evaluate(() => navigator.clipboard.readText()), line);
  await card.getByRole('link', { name: /download airlock-ca\.crt/ }).waitFor();

  const pgCard = p.page.getByTestId('grant').filter({ hasText: 'orders' });
  assert.match((await pgCard.getByTestId('psql-string').textContent())!, /^psql "host=127\.0\.0\.1 port=\d+ user=alice dbname=orders sslmode=verify-full/);
  await screenshot(p.page, 'my-access-mysql-grant');
  assert.deepEqual(p.errors, []);
  await p.context.close();
});
