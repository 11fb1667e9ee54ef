// Statement review in a real browser: a write through the real gateway (psql) is held, the reviewer's open Reviews
// page shows the exact statement and what the parser saw without a reload, Approve lets psql finish (UPDATE 1) and
// Deny ends it with the reviewer's comment; the requester follows their own held statement without decision buttons,
// and a decision that lost a race is shown with its error code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pg from 'pg';
import type { Browser } from 'playwright-core';
import { launchBrowser, person, PHONE, screenshot, signInWithToken, startConsoleServer, type ConsoleServer, type Person } from '../support/browser.js';

let web: ConsoleServer;
let browser: Browser;
let gw: { host: string; port: number };
let botToken: string;
const people: Person[] = [];

/** The console tests' people, an agent sponsored by alice, and a write role whose writes wait for a dba's review. */
function reviewPolicy(db: { name: string }, pgAddress: string): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers], email: alice@example.com }
  - { name: bob, groups: [dba] }
  - { name: dana, groups: [engineers, dba] }
  - { name: sec, groups: [security] }
  - { name: bot, kind: agent, groups: [engineers], sponsor: alice }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - name: prod-orders
    kind: postgres
    address: "${pgAddress}"
    database: ${db.name}
    labels: { env: prod, team: payments }
    credential: { username: postgres, password: { env: AIRLOCK_WEB_PG_PASSWORD }, mode: injected }
roles:
  - name: write
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true }
    review: { statements: writes, approver_groups: [dba], timeout: 10m }
`;
}

async function signedIn(name: 'alice' | 'bob' | 'dana' | 'sec', viewport?: { width: number; height: number }): Promise<Person> {
  const p = await person(browser, name, viewport);
  people.push(p);
  await signInWithToken(p, web.server.url, web.tokens[name]);
  return p;
}

/** A grant of `write` for `token`'s principal, approved by bob through the API. */
async function grant(token: string, reason: string): Promise<void> {
  const req = await web.api<{ id: string }>(token, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write', duration: '30m', reason });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const ok = await web.api(web.tokens.bob, 'POST', `/api/v1/requests/${req.body.id}/approve`, {});
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
}

interface Psql {
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/** psql through the gateway as `user`, its access token as the password; runs until the statement is decided. */
function psql(user: string, token: string, sql: string): Psql {
  const env = { PATH: process.env.PATH, PSQLRC: '/dev/null', PGHOST: gw.host, PGPORT: String(gw.port), PGUSER: user, PGDATABASE: 'prod-orders', PGPASSWORD: token, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' };
  const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Psql = { stdout: '', stderr: '', exited: new Promise((r) => child.on('exit', (code) => r(code))) };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  setTimeout(() => child.kill('SIGKILL'), 120_000).unref();
  return out;
}

async function rows<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const c = new pg.Client(web.db.url);
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

before(async () => {
  web = await startConsoleServer({ policy: reviewPolicy });
  browser = await launchBrowser();
  gw = (await web.api<{ postgres: { host: string; port: number } }>(web.tokens.alice, 'GET', '/api/v1/gateways')).body.postgres;
  const t = await web.api<{ token: string }>(web.server.adminToken, 'POST', '/api/v1/tokens', { principal: 'bot', ttl: '1h' });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  botToken = t.body.token;
});

after(async () => {
  await browser?.close();
  await web?.stop();
  assert.deepEqual(people.flatMap((p) => p.errors), []);
});

test('an UPDATE held by the gateway appears on the open Reviews page; Approve lets psql finish with UPDATE 1', async () => {
  await grant(web.tokens.alice, 'fix the typo in order 7');
  const bob = await signedIn('bob');
  const alice = await signedIn('alice');
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await bob.page.getByText('No statement waits for review').waitFor();
  assert.equal(await alice.page.getByRole('navigation').getByRole('link', { name: /^Reviews/ }).count(), 0, 'no Reviews page for alice while nothing of hers is held');

  const sql = "update orders set item = 'it''s fixed' where id = 7";
  const run = psql('alice', web.tokens.alice, sql);
  const card = bob.page.getByTestId('statement-review').filter({ hasText: "it''s fixed" });
  await card.waitFor();
  assert.equal(await card.getByTestId('statement').textContent(), sql, 'the exact statement, literals and all');
  const summary = (await card.getByTestId('statement-summary').textContent())!;
  assert.match(summary, /Kind UPDATE/);
  assert.match(summary, /Tables orders/);
  assert.match(summary, /WHERE yes/);
  assert.equal(await card.getByTestId('no-where').count(), 0);
  const text = (await card.textContent())!;
  assert.match(text, /alice wants to run on prod-orders as write/);
  assert.match(text, /Grant\s*grt_/);
  assert.match(text, /0 of 1 approval/);
  assert.match((await card.getByTestId('countdown').textContent())!, /^(10:00|9:[0-5]\d) left$/, 'expires in the review timeout, counting down');
  assert.match(text, /Held\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT\+\d|CES?T)/, 'held and expiry times name the zone');
  await bob.page.getByText(/Times are in \S+ \(Europe\/Berlin\)/).waitFor();
  assert.equal(await bob.page.getByRole('navigation').getByRole('link', { name: /^Reviews/ }).getByLabel('1 waiting').count(), 1, 'counted in the nav');
  await screenshot(bob.page, 'statement-review-held');

  // The requester finds her held statement without a reload, and no way to decide it herself.
  await alice.page.getByRole('navigation').getByRole('link', { name: /^Reviews/ }).click();
  const own = alice.page.getByTestId('statement-review').filter({ hasText: "it''s fixed" });
  await own.getByText('waiting for a reviewer').waitFor();
  assert.equal(await own.getByRole('button').count(), 0, 'no decision buttons on your own statement');
  assert.equal(await alice.page.getByText('Waiting for your decision').count(), 0, 'no request reviews for a non-approver');
  await screenshot(alice.page, 'statement-review-own');

  // Keyboard only: the comment, then Approve.
  const deny = card.getByRole('button', { name: /^Deny/ });
  assert.equal(await deny.isDisabled(), true, 'Deny waits for a comment');
  await card.getByLabel(/Comment/).focus();
  await bob.page.keyboard.type('one row, checked');
  await bob.page.keyboard.press('Tab');
  assert.match((await bob.page.evaluate(() => document.activeElement?.getAttribute('aria-label'))) ?? '', /^Approve alice's UPDATE on prod-orders/);
  await bob.page.keyboard.press('Enter');

  assert.equal(await run.exited, 0, run.stderr);
  assert.match(run.stdout, /^UPDATE 1$/m);
  assert.deepEqual(await rows('select item from orders where id = 7'), [{ item: "it's fixed" }]);
  await card.waitFor({ state: 'detached' });
  await bob.page.getByTestId('review-note').filter({ hasText: "Approved alice's UPDATE on prod-orders" }).waitFor();
  const decided = bob.page.getByTestId('decided-statement').filter({ hasText: "it''s fixed" });
  await decided.getByTestId('status').filter({ hasText: 'executed' }).waitFor();
  assert.match((await decided.textContent())!, /Approved by bob; it ran.*“one row, checked”/);
  // Alice's page follows too: she is told, her statement left the waiting list, and it shows what became of it.
  await alice.page.getByTestId('review-note').filter({ hasText: 'Your UPDATE on prod-orders was approved by bob.' }).waitFor();
  await own.waitFor({ state: 'detached' });
  await alice.page.getByTestId('decided-statement').filter({ hasText: "it''s fixed" }).getByTestId('status').filter({ hasText: 'executed' }).waitFor();
  await screenshot(bob.page, 'statement-review-decided');
});

test("an agent's request shows its sponsor; its DELETE without WHERE is flagged; Deny needs a comment, and psql gets it", async () => {
  const bob = await signedIn('bob');
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await bob.page.getByRole('heading', { name: /Statements waiting for review/ }).waitFor();
  const req = await web.api(botToken, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write', duration: '30m', reason: 'nightly cleanup' });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const request = bob.page.getByTestId('review').filter({ hasText: 'nightly cleanup' });
  await request.getByText('agent', { exact: true }).waitFor();
  await request.getByText('sponsor: alice').waitFor();
  await screenshot(bob.page, 'agent-request');
  await request.getByRole('button', { name: /^Approve/ }).click();
  await request.waitFor({ state: 'detached' });

  const run = psql('bot', botToken, 'delete from orders');
  const card = bob.page.getByTestId('statement-review').filter({ hasText: 'delete from orders' });
  await card.waitFor();
  assert.equal(await card.getByTestId('statement').textContent(), 'delete from orders');
  assert.match((await card.getByTestId('no-where').textContent())!, /No WHERE: this DELETE changes every row of orders/);
  await card.getByText('agent', { exact: true }).waitFor();
  await card.getByText('sponsor: alice').waitFor();

  const deny = card.getByRole('button', { name: /^Deny/ });
  assert.equal(await deny.isDisabled(), true);
  await card.getByLabel(/Comment/).fill('   ');
  assert.equal(await deny.isDisabled(), true, 'blanks are no comment');
  await card.getByLabel(/Comment/).fill('not without a WHERE — ask in #dba');
  await deny.click();

  assert.notEqual(await run.exited, 0);
  assert.match(run.stderr, /not without a WHERE — ask in #dba/, run.stderr);
  assert.equal(Number((await rows<{ n: string }>('select count(*) as n from orders'))[0]!.n), 42, 'nothing was deleted');
  await card.waitFor({ state: 'detached' });
  const decided = bob.page.getByTestId('decided-statement').filter({ hasText: 'delete from orders' });
  await decided.getByTestId('status').filter({ hasText: 'denied' }).waitFor();
  assert.match((await decided.textContent())!, /Denied by bob.*“not without a WHERE — ask in #dba”/);
});

test('a decision that lost the race shows the error code; the page fits a phone', async () => {
  const bob = await signedIn('bob');
  // Dana's window at phone width, with its live stream cut: it still shows the statement after bob decided it.
  const dana = await person(browser, 'dana', PHONE);
  people.push(dana);
  await dana.page.route('**/api/v1/events', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"code":"AIRLOCK_NOT_FOUND","detail":"cut by the test"}' }));
  await signInWithToken(dana, web.server.url, web.tokens.dana);
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await bob.page.getByRole('heading', { name: /Statements waiting for review/ }).waitFor();

  const sql = "update orders set item = 'raced' where id = 8";
  const run = psql('alice', web.tokens.alice, sql);
  const bobCard = bob.page.getByTestId('statement-review').filter({ hasText: 'raced' });
  await bobCard.waitFor();
  await dana.page.getByRole('navigation').getByRole('link', { name: /^Reviews/ }).click();
  const danaCard = dana.page.getByTestId('statement-review').filter({ hasText: 'raced' });
  await danaCard.waitFor();
  const width = await dana.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `the Reviews page is ${width}px wide at phone width`);
  await screenshot(dana.page, 'statement-review-phone');

  await bobCard.getByRole('button', { name: /^Approve/ }).click();
  assert.equal(await run.exited, 0, run.stderr);
  await danaCard.getByLabel(/Comment/).fill('too late?');
  await danaCard.getByRole('button', { name: /^Deny/ }).click();
  const alert = danaCard.getByRole('alert');
  await alert.getByText('AIRLOCK_REVIEW_NOT_PENDING').waitFor();
  assert.doesNotMatch((await alert.textContent())!, /at \w+ \(/, 'a sentence, not a stack');
  await screenshot(dana.page, 'statement-review-not-pending');
});
