// Admin → Notifications in a real browser: a webhook that refuses a message shows it dead with its error, and the
// admin's Retry sends it again once the receiver takes it — the table follows without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { consolePolicy, launchBrowser, person, screenshot, signInWithToken, startConsoleServer, type ConsoleServer, type Person } from '../support/browser.js';

let web: ConsoleServer;
let browser: Browser;
let receiver: Server;
let rejecting = true;
const answered: number[] = [];
const people: Person[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = rejecting ? 400 : 200;
      answered.push(status);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  web = await startConsoleServer({ policy: (db, pg) => `${consolePolicy(db, pg)}notify:\n  webhooks:\n    - { name: approvers-chat, url: "${hook}", events: [request.created] }\n` });
  browser = await launchBrowser();
});
after(async () => {
  for (const p of people) await p.context.close();
  await browser?.close();
  await web?.stop();
  receiver?.close();
});

test('a dead notification is shown with its error, and Retry delivers it', async () => {
  const sec = await person(browser, 'sec');
  people.push(sec);
  await signInWithToken(sec, web.server.url, web.tokens.sec);
  await sec.page.getByRole('link', { name: 'Admin' }).click();
  const section = sec.page.getByRole('region', { name: /^Notifications/ });
  await section.getByText('No notifications yet.').waitFor();

  const req = await web.api<{ id: string }>(web.tokens.alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write', duration: '30m', reason: 'fix order 42' });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const row = section.getByTestId('notification');
  await section.locator('[data-testid="notification"][data-status="dead"]').waitFor({ timeout: 20_000 });
  const cells = await row.locator('td').evaluateAll((tds) => tds.map((td) => td.textContent?.trim()));
  assert.deepEqual(cells.slice(0, 5), ['approvers-chat webhook', `request.created${req.body.id}`, 'dead', '1', 'HTTP 400']);
  await screenshot(sec.page, 'admin-notifications-dead');

  rejecting = false;
  await section.getByRole('button', { name: 'Retry request.created to approvers-chat' }).click();
  await section.getByRole('status').filter({ hasText: 'request.created to approvers-chat is queued again.' }).waitFor();
  await section.locator('[data-testid="notification"][data-status="delivered"]').waitFor({ timeout: 20_000 });
  assert.equal(await section.getByRole('button', { name: /^Retry/ }).count(), 0, 'nothing left to retry');
  assert.deepEqual(answered, [400, 200]);
  await screenshot(sec.page, 'admin-notifications-delivered');
  assert.deepEqual(sec.errors, []);
});
