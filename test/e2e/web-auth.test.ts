// Console sign-in against a real server process: cookie attributes, CSRF, hashed sessions with expiry, sign-out,
// `airlock passwd`, throttling, the audit of it all, the static files' headers, and what the browser shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser } from 'playwright-core';
import { cli } from '../support/server-process.js';
import { launchBrowser, person, screenshot, signInWithPassword, startConsoleServer, type ConsoleServer, type Person } from '../support/browser.js';

let web: ConsoleServer;
let browser: Browser;
const people: Person[] = [];
const BOB = 'a long enough passphrase';

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  setCookie: string | null;
  headers: Headers;
}

async function call(method: 'GET' | 'POST', path: string, o: { body?: unknown; cookie?: string; csrf?: string; bearer?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.cookie) headers.cookie = o.cookie;
  if (o.csrf !== undefined) headers['x-airlock-csrf'] = o.csrf;
  if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
  const res = await fetch(web.server.url + path, { method, headers, body: o.body !== undefined ? JSON.stringify(o.body) : undefined });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, setCookie: res.headers.get('set-cookie'), headers: res.headers };
}

async function signIn(body: Record<string, string>): Promise<{ cookie: string; csrf: string; answer: Answer }> {
  const answer = await call('POST', '/api/v1/console/sign-in', { body, csrf: 'sign-in' });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const cookie = answer.setCookie!.split(';')[0]!;
  return { cookie, csrf: answer.body.csrf, answer };
}

async function auditActions(prefix: string): Promise<{ action: string; actor: string; details: Record<string, unknown> }[]> {
  const r = await call('GET', `/api/v1/audit/events?action=${encodeURIComponent(prefix)}`, { bearer: web.server.adminToken });
  return r.body.events;
}

before(async () => {
  web = await startConsoleServer();
  const r = await cli(web.server, web.server.adminToken, ['passwd', '--principal', 'bob'], { stdin: `${BOB}\n` });
  assert.equal(r.code, 0, r.stderr);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await web?.stop();
  assert.deepEqual(people.flatMap((p) => p.errors), []);
});

test('a password sign-in sets an HttpOnly, SameSite=Strict session cookie for the API only; wrong ones say so plainly', async () => {
  const noHeader = await call('POST', '/api/v1/console/sign-in', { body: { principal: 'bob', password: BOB } });
  assert.equal(noHeader.status, 403, 'a sign-in without the console header (a cross-site form) is refused');
  for (const body of [{ principal: 'bob', password: 'not the password' }, { principal: 'nobody', password: BOB }, { principal: 'alice', password: BOB }]) {
    const wrong = await call('POST', '/api/v1/console/sign-in', { body, csrf: 'sign-in' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'AIRLOCK_UNAUTHENTICATED');
    assert.match(wrong.body.detail, /^The name or the password is not right\./, 'the same answer whether the name exists or not');
    assert.equal(wrong.setCookie, null);
  }
  const { answer, cookie, csrf } = await signIn({ principal: 'bob', password: BOB });
  const attrs = answer.setCookie!.split(';').map((s) => s.trim());
  assert.ok(attrs.includes('HttpOnly'));
  assert.ok(attrs.includes('SameSite=Strict'));
  assert.ok(attrs.includes('Path=/api/'));
  assert.ok(!attrs.includes('Secure'), 'plain HTTP here; Secure is set when Airlock serves TLS');
  const maxAge = Number(attrs.find((a) => a.startsWith('Max-Age='))!.split('=')[1]);
  assert.ok(maxAge > 11 * 3600 && maxAge <= 12 * 3600, `12 h at most (${maxAge})`);
  assert.equal(answer.body.principal, 'bob');
  assert.ok(!JSON.stringify(answer.body).includes(BOB));
  assert.equal(answer.headers.get('cache-control'), 'no-store');
  const me = await call('GET', '/api/v1/whoami', { cookie });
  assert.equal(me.body.principal.name, 'bob');
  const session = await call('GET', '/api/v1/console/session', { cookie });
  assert.equal(session.body.csrf, csrf);

  // Stored hashed: neither the cookie's value nor the password is in the store.
  const sqlite = new Database(join(web.server.dir, 'data', 'airlock.db'), { readonly: true });
  try {
    const rows = sqlite.prepare('select * from console_sessions').all() as { hash: string; principal: string; expires_at: string }[];
    const secret = cookie.split('=')[1]!;
    assert.ok(rows.length >= 1 && rows.every((r) => r.hash !== secret && /^[0-9a-f]{64}$/.test(r.hash)));
    assert.ok(!JSON.stringify(rows).includes(secret));
    const pw = sqlite.prepare("select hash from passwords where principal = 'bob'").get() as { hash: string };
    assert.match(pw.hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  } finally {
    sqlite.close();
  }
});

test('changes made with the cookie need the CSRF header; bearer tokens work exactly as before', async () => {
  const { cookie, csrf } = await signIn({ token: web.tokens.alice });
  const body = { resource: 'prod-orders', role: 'read', duration: '10m', reason: 'OPS-20 csrf check' };
  const none = await call('POST', '/api/v1/requests', { body, cookie });
  assert.equal(none.status, 403);
  assert.match(none.body.detail, /CSRF/);
  const wrong = await call('POST', '/api/v1/requests', { body, cookie, csrf: csrf.slice(0, -2) + 'xx' });
  assert.equal(wrong.status, 403);
  const right = await call('POST', '/api/v1/requests', { body, cookie, csrf });
  assert.equal(right.status, 201, JSON.stringify(right.body));
  assert.equal(right.body.principal, 'alice');
  const bearer = await call('POST', `/api/v1/requests/${right.body.id}/cancel`, { body: {}, bearer: web.tokens.alice });
  assert.equal(bearer.status, 200, 'a bearer call needs no CSRF header');
  const noAuth = await call('GET', '/api/v1/grants');
  assert.equal(noAuth.status, 401);
  assert.match(noAuth.body.detail, /Authorization: Bearer/);
});

test('sign-out deletes the session; a session made with a token ends with that token', async () => {
  const { cookie, csrf } = await signIn({ principal: 'bob', password: BOB });
  const out = await call('POST', '/api/v1/console/sign-out', { body: {}, cookie, csrf });
  assert.equal(out.status, 200);
  assert.deepEqual(out.body, { signed_out: true });
  assert.match(out.setCookie!, /airlock_session=;.*Max-Age=0/);
  const after = await call('GET', '/api/v1/whoami', { cookie });
  assert.equal(after.status, 401);
  assert.match(after.body.detail, /console session has ended/);

  const made = await call('POST', '/api/v1/tokens', { body: { principal: 'dana', ttl: '1h' }, bearer: web.server.adminToken });
  const viaToken = await signIn({ token: made.body.token });
  assert.equal((await call('GET', '/api/v1/whoami', { cookie: viaToken.cookie })).status, 200);
  await call('POST', `/api/v1/tokens/${made.body.id}/revoke`, { body: {}, bearer: web.server.adminToken });
  const revoked = await call('GET', '/api/v1/whoami', { cookie: viaToken.cookie });
  assert.equal(revoked.status, 401);
  assert.match(revoked.body.detail, /token you signed in with has expired or was revoked/);

  const bad = await call('POST', '/api/v1/console/sign-in', { body: { token: 'alk_not-a-real-token' }, csrf: 'sign-in' });
  assert.equal(bad.status, 401);
  assert.match(bad.body.detail, /not known/);
});

test('airlock passwd: admins set anyone\'s, a principal their own; rules are told; a change ends password sessions', async () => {
  const short = await cli(web.server, web.tokens.alice, ['passwd'], { stdin: 'short\n' });
  assert.equal(short.code, 2);
  assert.match(short.stderr, /at least 12 characters/);
  const other = await cli(web.server, web.tokens.alice, ['passwd', '--principal', 'bob'], { stdin: 'someone elses password\n' });
  assert.equal(other.code, 3);
  assert.match(other.stderr, /Only an admin can set someone else's password/);
  const own = await cli(web.server, web.tokens.alice, ['passwd', '--json'], { stdin: 'alice has her own now\n' });
  assert.equal(own.code, 0, own.stderr);
  assert.equal(own.json().principal, 'alice');
  await signIn({ principal: 'alice', password: 'alice has her own now' });

  const bobSession = await signIn({ principal: 'bob', password: BOB });
  const reset = await cli(web.server, web.server.adminToken, ['passwd', '--principal', 'bob'], { stdin: `${BOB}\n` });
  assert.match(reset.stdout, /[1-9]\d* console session\(s\) signed in with the old password were ended/);
  assert.equal((await call('GET', '/api/v1/whoami', { cookie: bobSession.cookie })).status, 401);

  const events = await auditActions('password.set');
  assert.deepEqual(events.map((e) => [e.actor, e.details.self]).slice(-3), [['admin', false], ['alice', true], ['admin', false]]);
  assert.ok(!JSON.stringify(events).includes(BOB));
});

test('sign-ins, failed sign-ins and sign-outs are audited without the password; repeated failures are slowed down', async () => {
  const failed = await auditActions('console.sign_in_failed');
  assert.ok(failed.some((e) => e.actor === 'bob' && e.details.reason === 'wrong_password'));
  assert.ok(failed.some((e) => e.actor === 'nobody'));
  assert.ok(failed.some((e) => e.details.method === 'token'));
  assert.ok(!JSON.stringify(failed).includes('not the password'));
  assert.ok((await auditActions('console.sign_in')).some((e) => e.actor === 'bob' && e.details.method === 'password'));
  assert.ok((await auditActions('console.sign_out')).some((e) => e.actor === 'bob'));

  for (let i = 0; i < 10; i++) await call('POST', '/api/v1/console/sign-in', { body: { principal: 'dana', password: `guess number ${i}` }, csrf: 'sign-in' });
  const stopped = await call('POST', '/api/v1/console/sign-in', { body: { principal: 'dana', password: 'one more guess' }, csrf: 'sign-in' });
  assert.equal(stopped.status, 401);
  assert.match(stopped.body.detail, /Too many failed sign-ins for "dana"/);
});

test('the console is served at / with a strict content security policy; unknown API paths stay problem+json', async () => {
  const index = await call('GET', '/');
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type')!, /text\/html/);
  assert.match(index.headers.get('content-security-policy')!, /default-src 'self'.*script-src 'self'.*frame-ancestors 'none'/);
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  const deep = await call('GET', '/sessions/ses_x');
  assert.equal(deep.status, 200, 'a console page path gets the console');
  assert.equal(deep.body, index.body);
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(String(index.body))![1]!;
  const js = await call('GET', asset);
  assert.match(js.headers.get('cache-control')!, /immutable/);
  assert.equal((await call('GET', '/assets/nothing.js')).status, 404);
  assert.equal((await call('GET', '/%2e%2e/%2e%2e/package.json')).status, 404);
  const api = await call('GET', '/api/v1/nothing-here');
  assert.equal(api.status, 404);
  assert.equal(api.body.code, 'AIRLOCK_NOT_FOUND');
  const ca = await call('GET', '/api/v1/gateways/ca.crt');
  assert.match(String(ca.body), /BEGIN CERTIFICATE/);
  assert.match(ca.headers.get('content-disposition')!, /airlock-ca\.crt/);
});

test('in the browser: a wrong password shows the sentence, sign-out returns to the sign-in page and stays there', async () => {
  const p = await person(browser, 'bob');
  people.push(p);
  await p.page.goto(web.server.url);
  await p.page.getByRole('textbox', { name: 'Name' }).fill('bob');
  await p.page.getByRole('textbox', { name: 'Password' }).fill('wrong password here');
  await p.page.getByRole('button', { name: 'Sign in' }).click();
  await p.page.getByRole('alert').filter({ hasText: 'The name or the password is not right.' }).waitFor();
  await screenshot(p.page, 'sign-in-failed');
  await signInWithPassword(p, web.server.url, 'bob', BOB);
  await p.page.getByRole('button', { name: 'Sign out' }).click();
  await p.page.getByText('You are signed out.').waitFor();
  await p.page.reload();
  await p.page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await p.page.getByTestId('signed-in-as').count(), 0);
});
