// The console's other paths in a real browser: a denial, a refused self-approval, a lock and its lifting, a grant
// that vanishes when it expires, and every page at phone width and by keyboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, person, PHONE, screenshot, signInWithToken, startConsoleServer, type ConsoleServer, type Person } from '../support/browser.js';

let web: ConsoleServer;
let browser: Browser;
const people: Person[] = [];

async function signedIn(name: 'alice' | 'bob' | 'dana' | 'sec', viewport?: { width: number; height: number }): Promise<Person> {
  const p = await person(browser, name, viewport);
  people.push(p);
  await signInWithToken(p, web.server.url, web.tokens[name]);
  return p;
}

async function ask(p: Person, o: { role?: string; duration: string; reason: string }): Promise<void> {
  const form = p.page.getByRole('form', { name: 'Request access' });
  if (o.role) await form.getByLabel('Role').selectOption(o.role);
  await form.getByLabel('For how long').fill(o.duration);
  await form.getByLabel('Reason').fill(o.reason);
  await form.getByRole('button', { name: /Request access|Break glass/ }).click();
}

/** Every form control on the page has an accessible name (a label, aria-label or aria-labelledby). */
async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => (el as HTMLInputElement).type !== 'hidden')
      .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

before(async () => {
  web = await startConsoleServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await web?.stop();
  assert.deepEqual(people.flatMap((p) => p.errors), []);
});

test('denial: a deny needs a comment, and the requester sees the denial and why, without a reload', async () => {
  const alice = await signedIn('alice');
  const bob = await signedIn('bob');
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await ask(alice, { role: 'write', duration: '30m', reason: 'fix the typo in order 7' });
  const card = bob.page.getByTestId('review').filter({ hasText: 'fix the typo in order 7' });
  await card.getByText('Write access').waitFor();
  await card.getByText('Production').waitFor();
  await card.getByRole('button', { name: /^Deny/ }).click();
  await card.getByText('A denial needs a comment: the requester reads it.').waitFor();
  await card.getByLabel(/Comment/).fill('use the replica');
  await card.getByRole('button', { name: /^Deny/ }).click();
  await bob.page.getByText("Denied alice's request for write on prod-orders.").waitFor();

  const mine = alice.page.getByTestId('my-request').filter({ hasText: 'fix the typo in order 7' });
  await mine.getByTestId('status').filter({ hasText: 'denied' }).waitFor();
  await alice.page.getByTestId('sent-notice').filter({ hasText: 'was denied by bob' }).waitFor();
  await mine.getByRole('link', { name: 'write on prod-orders' }).click();
  await alice.page.getByText('“use the replica”').waitFor();
  await screenshot(alice.page, 'request-denied');
});

test('self-approval is refused with a sentence, and the request stays pending for others', async () => {
  const dana = await signedIn('dana');
  const bob = await signedIn('bob');
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await ask(dana, { duration: '1h', reason: 'OPS-9 check my own thing' });
  // Her own request is not in her review list, but bob's shows it.
  await bob.page.getByTestId('review').filter({ hasText: 'OPS-9 check my own thing' }).waitFor();
  await dana.page.getByRole('link', { name: 'Reviews' }).click();
  await dana.page.getByText('Nothing waits for your review').waitFor();
  // The request's own page offers the decision to an approver of its role; the server refuses her own.
  await dana.page.getByRole('link', { name: 'My access' }).click();
  await dana.page.getByTestId('my-request').filter({ hasText: 'OPS-9 check my own thing' }).getByRole('link', { name: 'read on prod-orders' }).click();
  await dana.page.getByText('This is your own request.').waitFor();
  await dana.page.getByRole('button', { name: /^Approve/ }).click();
  const alert = dana.page.getByRole('alert').filter({ hasText: 'You cannot approve your own request; ask one of: bob.' });
  await alert.waitFor();
  assert.doesNotMatch((await alert.textContent())!, /Error|at \w+ \(/, 'a sentence, not a stack');
  await screenshot(dana.page, 'self-approval-refused');
  assert.equal(await dana.page.getByTestId('status').first().textContent(), 'pending');
  await dana.page.getByRole('button', { name: 'Cancel this request' }).click();
  await dana.page.getByTestId('status').filter({ hasText: 'cancelled' }).waitFor();
  await bob.page.getByTestId('review').filter({ hasText: 'OPS-9 check my own thing' }).waitFor({ state: 'detached' });
});

test('a lock ends the grant on the locked person\'s page at once, refuses new requests with its reason, and lifts', async () => {
  const req = await web.api(web.tokens.alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '1h', reason: 'OPS-11 before the lock' });
  assert.equal(req.status, 201);
  assert.equal((await web.api(web.tokens.bob, 'POST', `/api/v1/requests/${req.body.id}/approve`, {})).status, 200);
  const alice = await signedIn('alice');
  const sec = await signedIn('sec');
  await alice.page.getByTestId('grant').waitFor();

  await sec.page.getByRole('link', { name: 'Admin' }).click();
  const lockForm = sec.page.getByRole('form', { name: 'Create a lock' });
  await lockForm.getByLabel('Lock a').selectOption('principal');
  await lockForm.getByLabel('Named').fill('alice');
  await lockForm.getByLabel('Reason').fill('laptop lost');
  await lockForm.getByRole('button', { name: 'Lock now' }).click();
  await sec.page.getByText('Locked principal alice; 1 active grant(s) ended.').waitFor();
  await sec.page.getByTestId('lock').filter({ hasText: 'laptop lost' }).waitFor();
  await screenshot(sec.page, 'admin-lock');

  await alice.page.getByText('You hold no access right now').waitFor();
  await ask(alice, { duration: '30m', reason: 'OPS-12 after the lock' });
  await alice.page.getByRole('alert').filter({ hasText: /locked.*laptop lost/ }).waitFor();
  await screenshot(alice.page, 'my-access-locked');

  await sec.page.getByRole('button', { name: 'Lift the lock on principal alice' }).click();
  await sec.page.getByText('No active locks.').waitFor();
  await alice.page.getByRole('form', { name: 'Request access' }).getByRole('button', { name: 'Request access' }).click();
  await alice.page.getByTestId('my-request').filter({ hasText: 'OPS-12 after the lock' }).getByTestId('status').filter({ hasText: 'pending' }).waitFor();
});

test('an expired grant leaves the page on time, without a reload', async () => {
  // The lock test leaves a pending request for the same role, which would make this one a duplicate.
  for (const r of (await web.api<{ requests: { id: string }[] }>(web.tokens.alice, 'GET', '/api/v1/requests?status=pending')).body.requests) {
    await web.api(web.tokens.alice, 'POST', `/api/v1/requests/${r.id}/cancel`, {});
  }
  const alice = await signedIn('alice');
  const bob = await signedIn('bob');
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await ask(alice, { duration: '6s', reason: 'OPS-13 a quick look' });
  const card = bob.page.getByTestId('review').filter({ hasText: 'OPS-13 a quick look' });
  await card.getByRole('button', { name: /^Approve/ }).click();
  const grant = alice.page.getByTestId('grant').filter({ hasText: 'prod-orders' });
  await grant.waitFor();
  const id = (await grant.getAttribute('data-grant-id'))!;
  const g = (await web.api<{ expires_at: string }>(web.tokens.alice, 'GET', `/api/v1/grants/${id}`)).body;
  const expiresAt = Date.parse(g.expires_at);
  assert.match((await grant.getByTestId('countdown').textContent())!, /^0:0[1-6] left$/);
  await grant.waitFor({ state: 'detached', timeout: 15_000 });
  const gone = Date.now();
  assert.ok(gone >= expiresAt - 100, `not before its end (${gone - expiresAt} ms)`);
  assert.ok(gone <= expiresAt + 2500, `within moments of its end (${gone - expiresAt} ms late)`);
  await alice.page.getByText('You hold no access right now').waitFor();
  const ended = (await web.api<{ status: string }>(web.tokens.alice, 'GET', `/api/v1/grants/${id}`)).body;
  assert.equal(ended.status, 'expired');
});

test('every page works at phone width and at 1280 px: no sideways scrolling, every control labelled', async () => {
  // A pending request and a live-looking admin view make the pages show real content.
  await web.api(web.tokens.alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '2h', reason: 'OPS-14 phone check of a rather long reason that must wrap on a small screen' });
  const pages: [string, string][] = [['My access', 'my-access'], ['Reviews', 'reviews'], ['Sessions', 'sessions'], ['Audit', 'audit'], ['Admin', 'admin']];
  for (const [viewport, suffix] of [[PHONE, 'phone'], [undefined, 'desktop']] as const) {
    const sec = await signedIn('sec', viewport);
    const bob = await signedIn('bob', viewport);
    for (const [link, name] of pages) {
      const who = link === 'Reviews' ? bob : sec;
      await who.page.getByRole('navigation').getByRole('link', { name: new RegExp(`^${link}`) }).click();
      await who.page.getByRole('heading', { level: 1, name: link }).waitFor();
      await who.page.waitForFunction(() => !document.querySelector('.state.loading'));
      const width = await who.page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= (viewport?.width ?? 1280), `${name} at ${suffix}: the page is ${width}px wide`);
      assert.deepEqual(await unlabelledControls(who.page), [], `${name}: unlabelled controls`);
      await screenshot(who.page, `${name}-${suffix}`);
    }
  }
});

test('keyboard only: skip link first, sign in, move between pages', async () => {
  const p = await person(browser, 'keyboard');
  people.push(p);
  await p.page.goto(web.server.url);
  await p.page.getByRole('tab', { name: 'Password' }).focus();
  await p.page.keyboard.press('ArrowRight');
  assert.equal(await p.page.evaluate(() => document.activeElement?.textContent), 'Access token');
  await p.page.keyboard.press('Tab');
  await p.page.keyboard.type(web.tokens.alice);
  await p.page.keyboard.press('Enter');
  await p.page.getByTestId('signed-in-as').waitFor();
  await p.page.keyboard.press('Tab');
  assert.equal(await p.page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await p.page.keyboard.press('Tab');
  await p.page.keyboard.press('Tab');
  assert.equal(await p.page.evaluate(() => document.activeElement?.textContent), 'Sessions');
  await p.page.keyboard.press('Enter');
  await p.page.getByRole('heading', { level: 1, name: 'Sessions' }).waitFor();
  assert.equal(new URL(p.page.url()).pathname, '/sessions');
  // The page is the same after a reload (the session cookie holds), and the cookie is out of the page's reach.
  await p.page.reload();
  await p.page.getByRole('heading', { level: 1, name: 'Sessions' }).waitFor();
  assert.equal(await p.page.evaluate(() => document.cookie), '');
});

test('admin: a new token is shown once, then only its id and label; revoking it shows at once', async () => {
  const sec = await signedIn('sec');
  await sec.page.getByRole('link', { name: 'Admin' }).click();
  const aliceRow = sec.page.getByRole('row').filter({ hasText: 'alice@example.com' });
  await aliceRow.getByRole('button', { name: 'Tokens…' }).click();
  const create = sec.page.getByRole('form', { name: 'Create a token for alice' });
  await create.getByLabel('Lifetime').fill('2h');
  await create.getByLabel('Label (optional)').fill('laptop');
  await create.getByRole('button', { name: 'Create token' }).click();
  const shown = (await sec.page.getByTestId('new-token').textContent())!;
  assert.match(shown, /^alk_[A-Za-z0-9_-]{43}$/);
  assert.equal((await web.api(shown, 'GET', '/api/v1/whoami')).body.principal.name, 'alice', 'the token shown works');
  await screenshot(sec.page, 'admin-token-created');
  await sec.page.getByRole('button', { name: 'I have copied it; hide it' }).click();
  assert.equal(await sec.page.getByTestId('new-token').count(), 0);
  assert.ok(!(await sec.page.content()).includes(shown), 'gone from the page once hidden');
  const list = sec.page.getByRole('list', { name: 'Tokens of alice' });
  const item = list.getByRole('listitem').filter({ hasText: 'laptop' });
  await item.getByText('valid').waitFor();
  await item.getByRole('button', { name: 'Revoke' }).click();
  await item.getByText('revoked', { exact: true }).waitFor();
  assert.equal((await web.api(shown, 'GET', '/api/v1/whoami')).status, 401);
});

// Last, because it breaks the chain for good: an edit made behind Airlock's back is named by its sequence number.
test('the audit page names the first bad sequence number when the chain was edited', async () => {
  const sec = await signedIn('sec');
  await sec.page.getByRole('link', { name: 'Audit' }).click();
  await sec.page.getByTestId('chain-status').filter({ hasText: 'Chain intact.' }).waitFor();
  const sqlite = new Database(join(web.server.dir, 'data', 'airlock.db'));
  try {
    sqlite.pragma('busy_timeout = 5000');
    const row = sqlite.prepare("select seq from audit_events where action = 'request.create' order by seq limit 1").get() as { seq: number };
    sqlite.prepare("update audit_events set details = json_set(details, '$.reason', 'edited') where seq = ?").run(row.seq);
    await sec.page.getByRole('button', { name: 'Verify again' }).click();
    const verdict = sec.page.getByTestId('chain-status').filter({ hasText: `Chain broken at event ${row.seq}.` });
    await verdict.waitFor();
    assert.equal(await verdict.getAttribute('role'), 'alert');
    await screenshot(sec.page, 'audit-broken');
  } finally {
    sqlite.close();
  }
});
