// What a new user hit in the console (issue 12, point 7), each tried again in a real browser against a real server:
// the sign-in page's console, notes on the Reviews page, a session's first statement still running, the layout at
// 1280 px with longer names, the audit page's time fields, and a role's reason hint shown once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, person, screenshot, signInWithToken, startConsoleServer, type ConsoleServer, type Person } from '../support/browser.js';

const LONG = 'payments-ledger-replica-eu';

/** The console policy with a second resource whose name is as long as real ones are. */
function policy(db: { name: string }, pgAddress: string): string {
  const resource = (name: string, labels: string) => `
  - name: ${name}
    kind: postgres
    address: "${pgAddress}"
    database: ${db.name}
    labels: ${labels}
    credential: { username: postgres, password: { env: AIRLOCK_WEB_PG_PASSWORD }, mode: injected }`;
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: dana, groups: [dba] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:${resource('prod-orders', '{ env: prod, team: payments }')}${resource(LONG, '{ env: production, team: payments-platform }')}
roles:
  - name: read
    resources: { labels: { team: payments } }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true, pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
  - name: read-everything
    resources: { labels: { env: production } }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: write
    resources: { names: [prod-orders, ${LONG}] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
}

let web: ConsoleServer;
let browser: Browser;
const people: Person[] = [];

async function open(name: string): Promise<Person> {
  const p = await person(browser, name);
  people.push(p);
  return p;
}

before(async () => {
  web = await startConsoleServer({ policy });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await web?.stop();
  assert.deepEqual(people.flatMap((p) => p.errors), []);
});

test('the sign-in page loads without a single error in the browser console, not even a 401', async () => {
  const p = await person(browser, 'visitor');
  const logged: string[] = [];
  p.page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') logged.push(`${m.type()}: ${m.text()}`);
  });
  const failed: string[] = [];
  p.page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  for (let i = 0; i < 2; i++) {
    await p.page.goto(web.server.url);
    await p.page.getByRole('button', { name: 'Sign in' }).waitFor();
  }
  // A cookie from a session that has ended: the page says so, still without an error.
  await p.context.addCookies([{ name: 'airlock_session', value: 'not-a-session', url: `${web.server.url}/api/` }]);
  await p.page.goto(web.server.url);
  await p.page.getByText('Your console session has ended').waitFor();
  assert.deepEqual(logged, []);
  assert.deepEqual(failed, []);
  assert.deepEqual(p.errors, []);
  await p.context.close();
});

test('an approver never reads their own approval as "elsewhere"; notes are few and can be dismissed', async () => {
  const bob = await open('bob');
  const dana = await open('dana');
  await signInWithToken(bob, web.server.url, web.tokens.bob);
  await signInWithToken(dana, web.server.url, web.tokens.dana);
  for (const p of [bob, dana]) await p.page.getByRole('link', { name: 'Reviews' }).click();
  const asks = [
    { resource: 'prod-orders', role: 'read', reason: 'OPS-31 one' },
    { resource: 'prod-orders', role: 'write', reason: 'OPS-32 two' },
    { resource: LONG, role: 'read-everything', reason: 'OPS-33 three' },
    { resource: LONG, role: 'write', reason: 'OPS-34 four' },
  ];
  for (const a of asks) {
    const r = await web.api(web.tokens.alice, 'POST', '/api/v1/requests', { ...a, duration: '30m' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  for (const a of asks) {
    const card = bob.page.getByTestId('review').filter({ hasText: a.reason });
    await card.getByRole('button', { name: /^Approve/ }).click();
    await bob.page.getByTestId('review-note').filter({ hasText: `Approved alice's request for ${a.role} on ${a.resource}: the grant is active now.` }).waitFor();
    await card.waitFor({ state: 'detached' });
    // dana's page hears the same event: once it shows there, bob's page has heard it too.
    await dana.page.getByTestId('review-note').filter({ hasText: `alice's request for ${a.role} on ${a.resource} was approved by bob.` }).waitFor();
  }
  const bobs = await bob.page.getByTestId('review-note').allTextContents();
  assert.equal(bobs.filter((t) => /elsewhere|approved by bob/.test(t)).length, 0, `bob's own approvals only: ${bobs.join(' | ')}`);
  assert.ok(bobs.length <= 4, `notes stay few: ${bobs.length}`);
  await screenshot(bob.page, 'reviews-notes');

  const first = bob.page.getByTestId('review-note').first();
  const text = (await first.textContent())!;
  await first.getByRole('button', { name: /^Dismiss: / }).click();
  await bob.page.getByTestId('review-note').filter({ hasText: text.replace('×', '').trim() }).waitFor({ state: 'detached' });
  await bob.page.getByRole('button', { name: 'Dismiss all' }).click();
  await bob.page.getByTestId('review-note').first().waitFor({ state: 'detached' });
  // Clean up: the grants would otherwise refuse the next test's requests as duplicates.
  for (const g of (await web.api<{ grants: { id: string }[] }>(web.tokens.alice, 'GET', '/api/v1/grants?active=true')).body.grants) {
    await web.api(web.tokens.alice, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'test done' });
  }
});

test('a session whose first statement still runs shows it as one statement, running; "since" says each thing once', async () => {
  const r = await web.api(web.tokens.alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '30m', reason: 'OPS-40 long query' });
  await web.api(web.tokens.bob, 'POST', `/api/v1/requests/${r.body.id}/approve`, {});
  const gw = (await web.api<{ postgres: { host: string; port: number } }>(web.tokens.alice, 'GET', '/api/v1/gateways')).body.postgres;
  const dir = mkdtempSync(`${tmpdir()}/airlock-web-new-user-`);
  const psql = spawn('psql', [`host=${gw.host} port=${gw.port} user=alice dbname=prod-orders sslmode=require`, '-X', '-At', '-c', 'select pg_sleep(60)'], {
    env: { PATH: process.env.PATH, HOME: dir, PSQLRC: '/dev/null', PGPASSWORD: web.tokens.alice, PGCONNECT_TIMEOUT: '10' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  psql.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => psql.on('exit', (code) => res(code)));
  try {
    const sec = await open('sec');
    await signInWithToken(sec, web.server.url, web.tokens.sec);
    await sec.page.getByRole('link', { name: 'Sessions' }).click();
    const live = sec.page.getByTestId('live-session').filter({ hasText: 'alice' });
    await live.waitFor();
    await live.getByTestId('statement-count').filter({ hasText: /^1$/ }).waitFor();
    await live.getByText('(1 running)').waitFor();
    const since = (await live.getByTestId('since').textContent())!;
    assert.match(since, /^\d\d:\d\d:\d\d \S+ · for \d+s$/, `one clock time with its zone, then how long: ${since}`);
    await screenshot(sec.page, 'sessions-running-1280');

    // The history API says the same, from the sessions table and the live session.
    const h = await web.api<{ sessions: { principal: string; live: boolean; statements: number; statements_running: number }[] }>(web.tokens.sec, 'GET', '/api/v1/sessions/history');
    const mine = h.body.sessions.find((s) => s.principal === 'alice' && s.live)!;
    assert.equal(mine.statements, 1);
    assert.equal(mine.statements_running, 1);

    await live.getByRole('button', { name: /Kill alice's session/ }).click();
    await live.getByLabel('Why (the user sees it)').fill('test done');
    await live.getByRole('button', { name: 'End session' }).click();
    assert.notEqual(await exited, 0);
    assert.match(stderr, /your session was ended by sec: test done/);
    const ended = sec.page.getByTestId('ended-session').filter({ hasText: 'alice' }).first();
    await ended.waitFor();
    assert.match((await ended.locator('td[data-label="Statements"]').textContent())!, /^1$/);
  } finally {
    psql.kill('SIGKILL');
  }
});

/** Lines a text node takes in its element: more than one means it wrapped. */
async function lines(page: Page, selector: string): Promise<{ text: string; lines: number }[]> {
  return page.$$eval(selector, (els) =>
    els.map((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      return { text: (el.textContent ?? '').trim(), lines: tops.size };
    }),
  );
}

test('at 1280 px the Resource selector shows the whole name, headers and names do not wrap, and every time names its zone', async () => {
  const alice = await open('alice');
  await signInWithToken(alice, web.server.url, web.tokens.alice);
  const form = alice.page.getByRole('form', { name: 'Request access' });
  await form.getByLabel('Resource').selectOption(LONG);
  const fit = await form.getByLabel('Resource').evaluate((el) => {
    const s = el as HTMLSelectElement;
    const ctx = document.createElement('canvas').getContext('2d')!;
    const cs = getComputedStyle(s);
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    return { text: ctx.measureText(s.options[s.selectedIndex]!.text).width, room: s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 24 };
  });
  assert.ok(fit.text <= fit.room, `"${LONG} (production)" fits its selector: ${Math.round(fit.text)} px of text in ${Math.round(fit.room)} px`);
  for (const l of await lines(alice.page, 'th:not(:has(.visually-hidden))')) assert.equal(l.lines, 1, `header "${l.text}" stays on one line`);
  for (const l of await lines(alice.page, 'td .name, td.name')) assert.equal(l.lines, 1, `"${l.text}" stays on one line`);
  await screenshot(alice.page, 'after-my-access-1280');

  // The reason hint, once: under the field until the reason breaks the rule, then as the field's error.
  const hint = 'Start with a ticket such as OPS-123.';
  await form.getByLabel('Resource').selectOption('prod-orders');
  await form.getByLabel('Role').selectOption('read');
  await form.getByLabel('Reason').fill('no ticket here');
  assert.equal(await alice.page.getByText(hint, { exact: true }).count(), 2, 'under the field and in the table of what you may request');
  await form.getByRole('button', { name: 'Request access' }).click();
  await form.locator('.field-error').filter({ hasText: hint }).waitFor();
  assert.equal(await form.getByText(hint).count(), 1, 'the form says it once');
  const api = await web.api(web.tokens.alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '30m', reason: 'no ticket here' });
  assert.equal(api.status, 400);
  assert.equal(api.body.detail.split(hint).length - 1, 1, `the API says it once: ${api.body.detail}`);

  const sec = await open('sec-audit');
  await signInWithToken(sec, web.server.url, web.tokens.sec);
  await sec.page.getByRole('link', { name: 'Audit' }).click();
  await sec.page.getByTestId('audit-event').first().waitFor();
  const from = await sec.page.getByLabel('From').inputValue();
  assert.match(from, /^\d{4}-\d\d-\d\d \d\d:\d\d$/, `the From field reads like every other time: ${from}`);
  const time = (await sec.page.getByTestId('audit-event').first().locator('td[data-label="Time"]').textContent())!;
  const zone = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+)/.exec(time)![1]!;
  assert.match(await sec.page.getByText('YYYY-MM-DD HH:MM,').textContent() as string, new RegExp(`${zone.replace('+', '\\+')} \\(Europe/Berlin\\)`), 'the field names the same zone as the times in the table');
  assert.equal(time.slice(0, 16) >= from, true, 'the events shown start at From');
  await sec.page.getByLabel('From').fill('12/02/2026, 05:46 PM');
  await sec.page.getByText(/is not a time; write e\.g\. \d{4}-/).waitFor();
  await screenshot(sec.page, 'after-audit-1280');
});
