// The query runner on a grant's card (My access) in Chromium: a person runs SQL with Ctrl+Enter through the gateway,
// pages through the result with column types in the header, cancels a long statement, sees errors with their code,
// a statement held for review with its link and then its outcome, exports CSV (its file's content and quoting) and
// finds results.exported in the audit; and, with a masking role, sees masked values in the table and the CSV only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, PHONE, ensureConsoleBuilt, launchBrowser, person, screenshot, signInWithToken, type Person } from '../support/browser.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { waitFor } from '../integration/pg-gateway-harness.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function policy(db: TestDatabase, extraRoles = ''): string {
  const up = new URL(adminUrl());
  const cred = `{ username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: QR_WEB_PG_PASSWORD }, mode: injected }`;
  const address = `"${up.hostname}:${up.port || 5432}"`;
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: ${address}, database: ${db.name}, credential: ${cred} }
  - { name: prod-ledger, kind: postgres, address: ${address}, database: ${db.name}, credential: ${cred} }
roles:
  - name: read
    resources: { names: [prod-orders] }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
  - name: fix
    resources: { names: [prod-ledger] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
    review: { statements: writes, approver_groups: [dba], timeout: 15m }
${extraRoles}`;
}

interface Rig {
  db: TestDatabase;
  a: InProcessAirlock;
  browser: Browser;
  alice: Person;
  tokens: Record<'alice' | 'bob' | 'sec', string>;
  /** alice's grant id by resource. */
  grants: Record<string, string>;
  stop(): Promise<void>;
}

/** A database made by `sql`, the server on `policyOf` it, alice's grants (approved by bob), and alice signed in to the console. */
async function setUp(prefix: string, sql: string[], policyOf: (db: TestDatabase) => string, want: [resource: string, role: string][]): Promise<Rig> {
  ensureConsoleBuilt();
  const db = await createTestDatabase(prefix);
  const c = new pg.Client(db.url);
  await c.connect();
  for (const s of sql) await c.query(s);
  await c.end();
  const up = new URL(adminUrl());
  let a: InProcessAirlock;
  try {
    a = await startAirlock({ policy: policyOf(db), env: { QR_WEB_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' } });
  } catch (e) {
    await db.drop();
    throw e;
  }
  const tokens = { alice: await a.token('alice'), bob: await a.token('bob'), sec: await a.token('sec') };
  const grants: Record<string, string> = {};
  for (const [resource, role] of want) grants[resource] = await a.grant(tokens.alice, tokens.bob, resource, role, '1h');
  const browser = await launchBrowser();
  const alice = await person(browser, 'alice');
  await signInWithToken(alice, a.server.apiUrl, tokens.alice);
  return {
    db, a, browser, alice, tokens, grants,
    async stop() {
      await browser.close();
      await a.stop();
      await db.drop();
    },
  };
}

/** Opens the query runner on the grant's card and returns it. */
async function openRunner(page: Page, grantId: string, resource: string) {
  const card = page.locator(`[data-testid="grant"][data-grant-id="${grantId}"]`);
  await card.getByRole('button', { name: `Query ${resource}` }).click();
  const runner = card.getByTestId('query-runner');
  await runner.waitFor();
  return runner;
}

describe('the query runner', () => {
  let rig: Rig;
  let a: InProcessAirlock;
  let db: TestDatabase;
  let browser: Browser;
  let alice: Person;
  let tokens: Rig['tokens'];
  let grants: Rig['grants'];

  before(async () => {
    rig = await setUp('airlock_qrweb', [
      'create table orders (id int primary key, item text not null, note text, price numeric(8,2))',
      "insert into orders select g, 'item ' || g, null, g * 1.5 from generate_series(1, 250) g",
      `update orders set note = case id when 1 then 'comma, here' when 2 then 'say "hi"' when 3 then E'two\\nlines' when 4 then '=HYPERLINK("x")' when 5 then '' end where id <= 5`,
    ], (d) => policy(d), [['prod-orders', 'read'], ['prod-ledger', 'fix']]);
    ({ a, db, browser, alice, tokens, grants } = rig);
  });
  after(async () => rig?.stop());

  test('Ctrl+Enter runs; the table has names and types; Next and Previous page; an error shows its code', async () => {
    const { page } = alice;
    const runner = await openRunner(page, grants['prod-orders']!, 'prod-orders');
    const editor = runner.getByRole('textbox', { name: 'SQL on prod-orders' });
    await editor.fill('select id, item, price, note from orders order by id');
    await editor.press('Control+Enter');
    await runner.getByTestId('runner-summary').filter({ hasText: 'SELECT 250' }).waitFor();
    assert.match((await runner.getByTestId('runner-summary').textContent()) ?? '', /SELECT 250 · 250 rows · \d/);
    const headers = await runner.locator('thead th').allTextContents();
    assert.deepEqual(headers, ['id int4', 'item text', 'price numeric', 'note text']);
    assert.equal(await runner.locator('tbody tr').count(), 100);
    assert.deepEqual(await runner.locator('tbody tr').nth(0).locator('td').allTextContents(), ['1', 'item 1', '1.50', 'comma, here']);
    assert.deepEqual(await runner.locator('tbody tr').nth(6).locator('td').allTextContents(), ['7', 'item 7', '10.50', 'NULL']);
    assert.equal(await runner.getByTestId('runner-range').textContent(), 'Rows 1–100 of 250');
    await screenshot(page, 'query-runner');

    await runner.getByRole('button', { name: 'Next' }).click();
    await runner.getByTestId('runner-range').filter({ hasText: 'Rows 101–200 of 250' }).waitFor();
    assert.equal(await runner.locator('tbody tr').nth(0).locator('td').first().textContent(), '101');
    await runner.getByRole('button', { name: 'Next' }).click();
    await runner.getByTestId('runner-range').filter({ hasText: 'Rows 201–250 of 250' }).waitFor();
    assert.equal(await runner.getByRole('button', { name: 'Next' }).isDisabled(), true);
    await runner.getByRole('button', { name: 'Previous' }).click();
    await runner.getByTestId('runner-range').filter({ hasText: 'Rows 101–200 of 250' }).waitFor();
    // At phone width the result scrolls inside its own box; the page does not scroll sideways.
    await page.setViewportSize(PHONE);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= PHONE.width, 'no sideways scrolling at 375 px');
    await screenshot(page, 'query-runner-phone');
    await page.setViewportSize(DESKTOP);

    await editor.fill('select * from no_such_table');
    await page.keyboard.press('Control+Enter');
    const err = runner.getByTestId('runner-error');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /^Error: SQLSTATE_42P01 relation "no_such_table" does not exist/);
    await editor.fill('delete from orders');
    await editor.press('Control+Enter');
    await runner.getByTestId('runner-error').filter({ hasText: 'AIRLOCK_STATEMENT_REFUSED' }).waitFor();
    assert.deepEqual(alice.errors.filter((e) => !/status of 4\d\d/.test(e)), []);
  });

  test('Cancel stops select pg_sleep(30): the status line counts while it runs, then says cancelled', async () => {
    const { page } = alice;
    const runner = page.locator(`[data-testid="grant"][data-grant-id="${grants['prod-orders']}"]`).getByTestId('query-runner');
    const editor = runner.getByRole('textbox', { name: 'SQL on prod-orders' });
    await editor.fill('select pg_sleep(30)');
    const t0 = Date.now();
    await runner.getByRole('button', { name: 'Run' }).click();
    const status = runner.getByTestId('runner-status');
    await status.filter({ hasText: /Running… \d/ }).waitFor();
    // The gateway has the statement (a live session with a statement running) before Cancel is pressed.
    await waitFor(async () => (await a.api<{ sessions: Json[] }>(tokens.sec!, 'GET', '/api/v1/sessions')).sessions.some((s) => s.principal === 'alice' && s.statements_running > 0), 10_000, 'the sleep on the gateway');
    await status.getByRole('button', { name: 'Cancel' }).click();
    const err = runner.getByTestId('runner-error');
    await err.filter({ hasText: 'Cancelled' }).waitFor();
    assert.match((await err.textContent()) ?? '', /Cancelled: SQLSTATE_57014 canceling statement due to user request/);
    assert.ok(Date.now() - t0 < 20_000, 'stopped long before 30 s');
    await editor.fill('select 42 as answer');
    await editor.press('Control+Enter');
    await runner.locator('tbody td').filter({ hasText: '42' }).waitFor();
  });

  test('Export CSV downloads every row with RFC 4180 quoting and lands in the audit as results.exported', async () => {
    const { page } = alice;
    const runner = page.locator(`[data-testid="grant"][data-grant-id="${grants['prod-orders']}"]`).getByTestId('query-runner');
    const editor = runner.getByRole('textbox', { name: 'SQL on prod-orders' });
    await editor.fill("select id, note from orders where id <= 200 and item <> 'secret-literal' order by id");
    await editor.press('Control+Enter');
    await runner.getByTestId('runner-summary').filter({ hasText: 'SELECT 200' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), runner.getByRole('button', { name: 'Export CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^prod-orders-\d{8}-\d{6}\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8');
    const lines = csv.split('\r\n');
    assert.deepEqual(lines.slice(0, 7), ['id,note', '1,"comma, here"', '2,"say ""hi"""', '3,"two\nlines"', `4,"'=HYPERLINK(""x"")"`, '5,""', '6,']);
    assert.equal(lines.length, 1 + 200 + 1);
    await runner.getByRole('status').filter({ hasText: /Saved prod-orders-/ }).waitFor();

    const events = (await a.api<{ events: Json[] }>(tokens.sec!, 'GET', '/api/v1/audit/events?action=results.exported')).events;
    const e = events.at(-1);
    assert.equal(e.actor, 'alice');
    assert.equal(e.target, 'prod-orders');
    assert.equal(e.details.grant_id, grants['prod-orders']);
    assert.equal(e.details.rows, 200);
    assert.match(e.details.statement, /from orders where id <= \$1 and item <> \$2/);
    assert.doesNotMatch(JSON.stringify(e), /secret-literal/);

    // The auditor finds it on the Audit page too.
    const sec = await person(browser, 'sec');
    await signInWithToken(sec, a.server.apiUrl, tokens.sec!);
    await sec.page.getByRole('link', { name: 'Audit' }).click();
    await sec.page.getByRole('combobox', { name: 'Action' }).fill('results.exported');
    await sec.page.getByRole('button', { name: 'Show events' }).click();
    const row = sec.page.locator('[data-testid="audit-event"][data-action="results.exported"]');
    await row.first().waitFor();
    assert.match((await row.first().textContent()) ?? '', /alice.*prod-orders.*rows=200/s);
    await sec.context.close();
  });

  test('a statement held for review shows its review with a link, then its outcome once approved', async () => {
    const { page } = alice;
    const runner = await openRunner(page, grants['prod-ledger']!, 'prod-ledger');
    const editor = runner.getByRole('textbox', { name: 'SQL on prod-ledger' });
    await editor.fill("update orders set item = 'reviewed' where id = 9");
    await editor.press('Control+Enter');
    const held = runner.getByTestId('runner-held');
    await held.waitFor();
    const review = /rev_[a-z0-9]+/.exec((await held.textContent()) ?? '')![0];
    assert.equal(await held.getByRole('link', { name: 'See the review' }).getAttribute('href'), '/reviews');
    await a.api(tokens.bob!, 'POST', `/api/v1/statement-reviews/${review}/approve`, { comment: 'ok' });
    await runner.getByTestId('runner-summary').filter({ hasText: 'UPDATE 1' }).waitFor();
    const c = new pg.Client(db.url);
    await c.connect();
    assert.equal((await c.query('select item from orders where id = 9')).rows[0].item, 'reviewed');
    await c.end();
  });
});


// Needs the masking the gateway helpers build (issue 17, sections 1–2): until it is merged this policy does not load,
// or the gateway refuses the role's sessions (AIRLOCK_MASKING_UNSUPPORTED), and this case fails — on purpose.
describe('the query runner with a masking role', () => {
  let rig: Rig;
  const REAL = ['jane.doe@example.com', 'max.mustermann@example.com'];

  before(async () => {
    rig = await setUp('airlock_qrmask', [
      'create table customers (id int primary key, name text, email text)',
      `insert into customers values (1, 'Jane', '${REAL[0]}'), (2, 'Max', '${REAL[1]}')`,
    ], (d) => policy(d, `  - name: support
    resources: { names: [prod-orders] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
    masking: { columns: [ { column: customers.email, method: email } ] }
`), [['prod-orders', 'support']]);
  });
  after(async () => rig?.stop());

  test('the table and the CSV show ****@example.com, never the real address', async () => {
    const { page } = rig.alice;
    const runner = await openRunner(page, rig.grants['prod-orders']!, 'prod-orders');
    const editor = runner.getByRole('textbox', { name: 'SQL on prod-orders' });
    await editor.fill('select id, name, email from customers order by id');
    await editor.press('Control+Enter');
    await runner.getByTestId('runner-summary').filter({ hasText: 'SELECT 2' }).waitFor();
    const emails = await runner.locator('tbody tr td:nth-child(3)').allTextContents();
    assert.deepEqual(emails, ['****@example.com', '****@example.com']);
    const [download] = await Promise.all([page.waitForEvent('download'), runner.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8');
    assert.equal(csv, 'id,name,email\r\n1,Jane,****@example.com\r\n2,Max,****@example.com\r\n');
    const html = await page.content();
    for (const real of REAL) {
      assert.ok(!html.includes(real), `${real} is not on the page`);
      assert.ok(!csv.includes(real), `${real} is not in the CSV`);
    }
  });
});
