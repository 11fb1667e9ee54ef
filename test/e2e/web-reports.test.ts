// The console's Reports page in Chromium: an auditor sees the period's grants with totals, times in the browser's
// zone with the zone named, downloads the same report as CSV (times in that zone, named in its header) and runs the
// standing-access check; a plain user has no Reports link.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { ensureConsoleBuilt, launchBrowser, person, screenshot, signInWithToken, type Person } from '../support/browser.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders }
roles:
  - name: read
    resources: { names: [prod-orders] }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
`;

describe('the Reports page', () => {
  let a: InProcessAirlock;
  let browser: Browser;
  let sec: Person;
  let grantId: string;
  let tokens: Record<string, string>;
  before(async () => {
    ensureConsoleBuilt();
    a = await startAirlock({ policy: POLICY });
    tokens = { alice: await a.token('alice'), bob: await a.token('bob'), sec: await a.token('sec') };
    const req = await a.api<{ id: string }>(tokens.alice!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '2h', reason: 'OPS-7 fix "stuck", orders', ticket: 'OPS-7' });
    grantId = (await a.api<{ grant_id: string }>(tokens.bob!, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id;
    browser = await launchBrowser();
    sec = await person(browser, 'sec');
    await signInWithToken(sec, a.server.apiUrl, tokens.sec!);
  });
  after(async () => {
    await browser?.close();
    await a?.stop();
  });

  test('an auditor sees rows and totals in their zone, downloads the CSV and checks standing access', async () => {
    const { page } = sec;
    await page.getByRole('link', { name: 'Reports' }).click();
    const row = page.locator(`[data-testid="report-row"][data-grant="${grantId}"]`);
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    assert.match(text, /alice/);
    assert.match(text, /prod-orders/);
    assert.match(text, /OPS-7 fix "stuck", orders/);
    assert.match(text, /bob/);
    assert.match(text, /active/);
    assert.match((await page.getByRole('status').filter({ hasText: 'Times are in your zone' }).textContent()) ?? '', /Europe\/Berlin/);
    const total = page.getByTestId('total-resource').filter({ hasText: 'prod-orders' });
    assert.match((await total.textContent()) ?? '', /prod-orders\s*1\s*0/);
    await screenshot(page, 'reports');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8');
    const [header, ...lines] = csv.split('\r\n');
    assert.match(header!, /started \(Europe\/Berlin\)/);
    assert.ok(lines.some((l) => l.startsWith(grantId) && l.includes('"OPS-7 fix ""stuck"", orders"')), csv);

    await page.getByRole('textbox', { name: 'More than (hours)' }).fill('0');
    await page.getByRole('button', { name: 'Check standing access' }).click();
    const finding = page.getByTestId('standing-finding');
    await finding.waitFor();
    assert.match((await finding.textContent()) ?? '', /alice\s*prod-orders\s*1/);
    assert.deepEqual(sec.errors, []);
  });

  test('a plain user has no Reports link, and the page says why', async () => {
    const alice = await person(browser, 'alice');
    await signInWithToken(alice, a.server.apiUrl, tokens.alice!);
    assert.equal(await alice.page.getByRole('link', { name: 'Reports' }).count(), 0);
    await alice.page.goto(`${a.server.apiUrl}/reports`);
    await alice.page.getByText('Only admins and auditors can read access reports.').waitFor();
    await alice.context.close();
  });
});
