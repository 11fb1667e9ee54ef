// The console's whole story in a real browser against a real server, gateway and database: alice asks, bob approves
// in his own browser and alice's page changes without a reload, the grant counts down, the psql line on the page works
// through the gateway, sec watches the session live and kills it, psql says why, and the audit page shows it all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { cli, type ServerProcess } from '../support/server-process.js';
import { launchBrowser, person, screenshot, signInWithPassword, signInWithToken, startConsoleServer, type ConsoleServer, type Person } from '../support/browser.js';

let web: ConsoleServer;
let server: ServerProcess;
let browser: Browser;
const BOB_PASSWORD = 'correct horse battery staple';
const people: Person[] = [];
/** Every API response body the browsers received, to prove no secret reached a page. */
const bodies: string[] = [];

async function open(name: string): Promise<Person> {
  const p = await person(browser, name);
  p.page.on('response', async (res) => {
    if (!res.url().includes('/api/v1/') || res.url().includes('/api/v1/events')) return;
    bodies.push(await res.text().catch(() => ''));
  });
  people.push(p);
  return p;
}

interface Psql {
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/** psql exactly as the page says, run where the CA file was downloaded, with alice's access token as the password. */
function runPsql(line: string, cwd: string, password: string, commands: string[]): Psql {
  const m = /^psql "([^"]+)"$/.exec(line);
  assert.ok(m, `the page shows a psql command line: ${line}`);
  const args = [m[1]!, '-X', '-At', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((c) => ['-c', c])];
  const child = spawn('psql', args, { cwd, env: { PATH: process.env.PATH, HOME: cwd, PSQLRC: '/dev/null', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Psql = { stdout: '', stderr: '', exited: new Promise((r) => child.on('exit', (code) => r(code))) };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  setTimeout(() => child.kill('SIGKILL'), 90_000).unref();
  return out;
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  web = await startConsoleServer();
  server = web.server;
  const passwd = await cli(server, server.adminToken, ['passwd', '--principal', 'bob'], { stdin: `${BOB_PASSWORD}\n` });
  assert.equal(passwd.code, 0, passwd.stderr);
  assert.match(passwd.stdout, /Console password for bob set/);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await web?.stop();
});

test('request, approve live, count down, psql through the gateway, watch and kill the session, audit it all', async () => {
  const alice = await open('alice');
  const bob = await open('bob');
  const sec = await open('sec');
  await signInWithToken(alice, server.url, web.tokens.alice);
  await signInWithPassword(bob, server.url, 'bob', BOB_PASSWORD);
  await signInWithToken(sec, server.url, web.tokens.sec);
  await screenshot(alice.page, 'my-access-empty');

  // bob and sec open their pages before anything happens: whatever appears later arrives without a reload.
  await bob.page.getByRole('link', { name: 'Reviews' }).click();
  await bob.page.getByText('Nothing waits for your review').waitFor();
  await screenshot(bob.page, 'reviews-empty');
  await sec.page.getByRole('link', { name: 'Sessions' }).click();
  await sec.page.getByText('No live sessions').waitFor();
  // dana approves the same role: the request shows up for her too, and leaves her list when bob decides.
  const dana = await open('dana');
  await signInWithToken(dana, server.url, web.tokens.dana);
  await dana.page.getByRole('link', { name: 'Reviews' }).click();

  // alice asks.
  const form = alice.page.getByRole('form', { name: 'Request access' });
  await form.getByLabel('For how long').fill('3m');
  await form.getByLabel('Reason').fill('OPS-7 look at order 42');
  await form.getByLabel('Ticket').fill('OPS-7');
  await form.getByRole('button', { name: 'Request access' }).click();
  await alice.page.getByText(/sent; it waits for review/).waitFor();
  const mine = alice.page.getByTestId('my-request').filter({ hasText: 'OPS-7 look at order 42' });
  assert.equal(await mine.getByTestId('status').textContent(), 'pending');

  // bob's list shows it at once, with who, what, how long, why, and the production hint.
  const card = bob.page.getByTestId('review').filter({ hasText: 'OPS-7 look at order 42' });
  await card.waitFor();
  const text = await card.textContent();
  assert.match(text!, /alice\s*asks for\s*read\s*on\s*prod-orders\s*for\s*3m/);
  assert.match(text!, /Ticket OPS-7/);
  await card.getByText('Production').waitFor();
  assert.equal(await card.getByText('Write access').count(), 0, 'read is read-only: no write hint');
  await screenshot(bob.page, 'reviews-pending');
  const danasCard = dana.page.getByTestId('review').filter({ hasText: 'OPS-7 look at order 42' });
  await danasCard.waitFor();
  await card.getByLabel(/Comment/).fill('ok, read only');
  await card.getByRole('button', { name: /^Approve/ }).click();
  await bob.page.getByText("Approved alice's request for read on prod-orders: the grant is active now.").waitFor();
  await card.waitFor({ state: 'detached' }); // the decided request leaves the list
  await danasCard.waitFor({ state: 'detached' });
  await dana.page.getByText("alice's request for read on prod-orders was approved by bob.").waitFor();

  // alice's page changes without a reload: approved, and a grant that counts down.
  await mine.getByTestId('status').filter({ hasText: 'approved' }).waitFor();
  await alice.page.getByTestId('sent-notice').filter({ hasText: 'Approved by bob' }).waitFor();
  const grant = alice.page.getByTestId('grant').filter({ hasText: 'prod-orders' });
  await grant.waitFor();
  const first = (await grant.getByTestId('countdown').textContent())!;
  assert.match(first, /^[23]:\d\d left$/);
  // It moves on its own: wait (up to 10 s, for a loaded machine) for the text to change, then check it went down.
  const countdown = grant.getByTestId('countdown');
  await alice.page.waitForFunction(([el, was]) => el !== null && el.textContent !== was, [await countdown.elementHandle(), first] as const, { timeout: 10_000 });
  const second = (await countdown.textContent())!;
  const secs = (t: string) => Number(t.split(' ')[0]!.split(':')[0]) * 60 + Number(t.split(' ')[0]!.split(':')[1]);
  assert.ok(secs(second) < secs(first), `the countdown moves: ${first} → ${second}`);
  await screenshot(alice.page, 'my-access-grant');

  // The connection line works as shown: download the CA next to psql, use alice's token as the password.
  const dir = mkdtempSync(join(tmpdir(), 'airlock-web-psql-'));
  const [download] = await Promise.all([alice.page.waitForEvent('download'), grant.getByRole('link', { name: /download airlock-ca\.crt/ }).click()]);
  assert.equal(download.suggestedFilename(), 'airlock-ca.crt');
  await download.saveAs(join(dir, 'airlock-ca.crt'));
  assert.match(readFileSync(join(dir, 'airlock-ca.crt'), 'utf8'), /BEGIN CERTIFICATE/);
  const line = (await grant.getByTestId('psql-string').textContent())!;
  assert.match(line, /sslmode=verify-full sslrootcert=airlock-ca\.crt/);
  assert.equal((await grant.getByTestId('connect-command').textContent())!, 'airlock connect prod-orders --exec psql');
  const psql = runPsql(line, dir, web.tokens.alice, ['select count(*) from orders', 'select pg_sleep(60)']);
  await until('psql to print the count', () => psql.stdout.includes('42') || psql.stderr !== '', 20_000);
  assert.equal(psql.stdout.trim(), '42', psql.stderr);

  // sec sees the session appear, live, with its statements so far.
  const live = sec.page.getByTestId('live-session').filter({ hasText: 'alice' });
  await live.waitFor();
  assert.match((await live.textContent())!, /prod-orders/);
  await live.getByTestId('statement-count').filter({ hasText: /^[1-9]/ }).waitFor();
  await screenshot(sec.page, 'sessions-live');

  // Kill: psql is told why, at once.
  await live.getByRole('button', { name: /Kill alice's session/ }).click();
  await live.getByLabel('Why (the user sees it)').fill('incident drill');
  await live.getByRole('button', { name: 'End session' }).click();
  const code = await psql.exited;
  assert.notEqual(code, 0);
  assert.match(psql.stderr, /your session was ended by sec: incident drill/);
  await sec.page.getByText('No live sessions').waitFor();
  const ended = sec.page.getByTestId('ended-session').filter({ hasText: 'alice' });
  await ended.waitFor();
  assert.match((await ended.textContent())!, /killed by sec/);
  await screenshot(sec.page, 'sessions-ended');

  // The statement timeline replays what happened.
  await ended.getByRole('link', { name: 'prod-orders' }).click();
  const rows = sec.page.getByTestId('statement');
  await rows.first().waitFor();
  const count = rows.filter({ hasText: 'select count(*) from orders' });
  assert.match((await count.textContent())!, /allowed/);
  assert.equal((await count.locator('td[data-label="Rows"]').textContent())!.trim(), '1');
  const sleep = rows.filter({ hasText: 'pg_sleep' });
  assert.match((await sleep.locator('td[data-label="Error"]').textContent())!, /ended/);
  await sec.page.getByText(/your session was ended by sec: incident drill/).first().waitFor();
  await screenshot(sec.page, 'session-timeline');

  // alice extends (a new request tied to the grant), then revokes the grant herself.
  await grant.getByRole('button', { name: 'Extend…' }).click();
  const extend = alice.page.getByRole('form', { name: 'Extend a grant' });
  await extend.getByLabel('For how long').fill('1h');
  await extend.getByLabel('Reason').fill('OPS-7 need another hour');
  await extend.getByRole('button', { name: 'Request extension' }).click();
  const extension = alice.page.getByTestId('my-request').filter({ hasText: 'OPS-7 need another hour' });
  await extension.getByText('extension').waitFor();
  await bob.page.getByTestId('review').filter({ hasText: 'OPS-7 need another hour' }).getByText(/extends grt_/).waitFor();
  await grant.getByRole('button', { name: 'Revoke…' }).click();
  await grant.getByLabel(/Why end it now/).fill('done');
  await grant.getByRole('button', { name: 'Revoke now' }).click();
  await alice.page.getByText('You hold no access right now').waitFor();

  // The audit page: everything above is there and the chain verifies.
  await sec.page.getByRole('link', { name: 'Audit' }).click();
  await sec.page.getByTestId('chain-status').filter({ hasText: 'Chain intact.' }).waitFor();
  const actions = await sec.page.getByTestId('audit-event').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-action')));
  for (const a of ['console.sign_in', 'request.create', 'review.approve', 'request.approve', 'grant.activate', 'session.start', 'statement', 'session.kill', 'session.end', 'grant.revoke']) {
    assert.ok(actions.includes(a), `the audit page shows ${a}`);
  }
  await screenshot(sec.page, 'audit');
  await sec.page.getByLabel('Actor').fill('alice');
  await sec.page.getByLabel('Action').fill('session.*');
  await sec.page.getByRole('button', { name: 'Show events' }).click();
  await sec.page.getByText(/^\d+ events?, oldest first/).waitFor();
  await sec.page.waitForFunction(() => [...document.querySelectorAll('[data-testid="audit-event"]')].every((r) => r.getAttribute('data-action')!.startsWith('session.')));
  const filtered = await sec.page.getByTestId('audit-event').evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-action'), r.querySelector('td[data-label="Actor"]')!.textContent]));
  assert.deepEqual(filtered, [['session.start', 'alice'], ['session.end', 'alice']]);
  const [jsonl] = await Promise.all([sec.page.waitForEvent('download'), sec.page.getByRole('link', { name: 'Export JSONL' }).click()]);
  const exported = readFileSync((await jsonl.path())!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; actor: string });
  assert.deepEqual(exported.map((e) => `${e.actor} ${e.action}`), ['alice session.start', 'alice session.end']);

  // The admin page: locks, principals, the policy and "explain".
  await sec.page.getByRole('link', { name: 'Admin' }).click();
  await sec.page.getByText('No active locks.').waitFor();
  const explain = sec.page.getByRole('form', { name: 'Explain the policy' });
  await explain.getByLabel('Principal').selectOption('bob');
  await explain.getByLabel('Resource').selectOption('prod-orders');
  await explain.getByRole('button', { name: 'Explain' }).click();
  const why = sec.page.getByTestId('explain');
  await why.getByText('roles.read.requestable_by').waitFor();
  assert.match((await why.textContent())!, /cannot\s*read on prod-orders/);
  await screenshot(sec.page, 'admin');

  // No secret reached any page: not the upstream password, not alice's token.
  const all = bodies.join('\n') + (await Promise.all(people.map((p) => p.page.content()))).join('\n');
  assert.ok(!all.includes(web.upstreamPassword), 'the upstream password never reaches the browser');
  assert.ok(!all.includes(web.tokens.alice), 'the token alice signed in with never comes back');
  assert.deepEqual(people.flatMap((p) => p.errors), []);
});
