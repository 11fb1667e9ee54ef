// HTTPS for the API and console, as an operator turns it on and a user meets it: `--tls auto` and `--tls-cert/--tls-key`
// serve the console in Chromium with a Secure session cookie; the CLI verifies the server against AIRLOCK_CA or the CA
// saved at login and refuses an unknown one; plain HTTP off loopback and a malformed bootstrap token are refused at start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startServerProcess, cli, type ServerProcess } from '../support/server-process.js';
import { ensureConsoleBuilt, launchBrowser, trustingHome } from '../support/browser.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
admins: { principals: [alice] }
`;

let s: ServerProcess;
let ca: string;
let browser: Browser | undefined;

before(async () => {
  ensureConsoleBuilt();
  s = await startServerProcess({ policy: POLICY, extraArgs: ['--tls', 'auto'] });
  ca = join(s.dir, 'data', 'tls', 'ca.crt');
});

after(async () => {
  await browser?.close();
  await s?.stop();
});

/** GET over HTTPS, verifying the server against `caPem` as a careful client does. */
function httpsGet(url: string, caPem: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('--tls auto: the API answers over HTTPS with a certificate from Airlock\'s own CA', async () => {
  assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const pem = readFileSync(ca, 'utf8');
  const who = await httpsGet(`${s.url}/api/v1/whoami`, pem, s.adminToken);
  assert.equal(who.status, 200);
  assert.equal(JSON.parse(who.body).principal.name, 'admin');
  assert.equal((await httpsGet(`${s.url}/readyz`, pem)).status, 200);
  await assert.rejects(fetch(`${s.url}/healthz`), 'a client without the CA does not trust it');
});

test('the console over HTTPS in Chromium: the session cookie is Secure and HttpOnly', async () => {
  // A browser that does not know Airlock's CA refuses the page; one whose trust store holds it (as a user's does after
  // importing <data>/tls/ca.crt) loads it with no exception made: the chain and the name 127.0.0.1 are checked.
  const untrusting = await launchBrowser();
  try {
    await assert.rejects((await untrusting.newPage()).goto(s.url), /ERR_CERT_AUTHORITY_INVALID/, 'a browser without the CA refuses the page');
  } finally {
    await untrusting.close();
  }
  browser = await launchBrowser({ home: trustingHome(ca) });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(s.url);
  await page.getByRole('tab', { name: 'Access token' }).click();
  await page.getByRole('textbox', { name: 'Access token' }).fill(s.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in-as').waitFor();
  const cookie = (await context.cookies(s.url + '/api/')).find((c) => c.name === 'airlock_session');
  assert.ok(cookie, 'signed in with a session cookie');
  assert.equal(cookie.secure, true);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  await context.close();
});

test('the CLI verifies the server: AIRLOCK_CA works, no CA is refused with a way out, login keeps the CA', async () => {
  const untrusted = await cli(s, s.adminToken, ['whoami', '--json']);
  assert.equal(untrusted.code, 1);
  assert.equal(untrusted.json().error.code, 'AIRLOCK_TLS_UNTRUSTED');
  assert.match(untrusted.json().error.detail, /AIRLOCK_CA/);

  const withCa = await cli(s, s.adminToken, ['whoami', '--json'], { env: { AIRLOCK_CA: ca } });
  assert.equal(withCa.code, 0, withCa.stderr);
  assert.equal(withCa.json().principal.name, 'admin');
  const exported = await cli(s, s.adminToken, ['audit', 'export'], { env: { AIRLOCK_CA: ca } });
  assert.equal(exported.code, 0, exported.stderr);
  assert.ok(exported.stdout.split('\n').filter(Boolean).some((l) => JSON.parse(l).action === 'server.start'), 'a streamed answer comes over HTTPS too');

  const configDir = mkdtempSync(join(tmpdir(), 'airlock-cli-ca-'));
  const login = await cli(s, s.adminToken, ['login', '--json'], { env: { AIRLOCK_CA: ca, AIRLOCK_CONFIG_DIR: configDir } });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(JSON.parse(readFileSync(join(configDir, 'credentials.json'), 'utf8')).ca, readFileSync(ca, 'utf8'));
  const later = await cli(s, undefined, ['whoami', '--json'], { env: { AIRLOCK_CONFIG_DIR: configDir } });
  assert.equal(later.code, 0, later.stderr);
  assert.equal(later.json().principal.name, 'admin');

  const wrongCa = await cli(s, s.adminToken, ['whoami'], { env: { AIRLOCK_CA: join(s.dir, 'no-such-ca.crt') } });
  assert.equal(wrongCa.code, 1);
  assert.match(wrongCa.stderr, /AIRLOCK_CA is .*no-such-ca\.crt, which cannot be read \(ENOENT\)/);
});

test('--tls-cert/--tls-key: the operator\'s own certificate; a key of another certificate is refused at start', async () => {
  const tls = join(s.dir, 'data', 'tls');
  const own = await startServerProcess({ policy: POLICY, extraArgs: ['--pg-listen', 'off', '--mysql-listen', 'off', '--tls-cert', join(tls, 'server.crt'), '--tls-key', join(tls, 'server.key')] });
  try {
    assert.match(own.url, /^https:/);
    const who = await cli(own, own.adminToken, ['whoami', '--json'], { env: { AIRLOCK_CA: ca } });
    assert.equal(who.code, 0, who.stderr);
  } finally {
    await own.stop();
  }
  const dir = mkdtempSync(join(tmpdir(), 'airlock-tls-bad-'));
  const bad = await cli({ url: 'http://127.0.0.1:1' }, undefined, ['server', '--config', s.config, '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--tls-cert', join(tls, 'ca.crt'), '--tls-key', join(tls, 'server.key')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /The key in .*server\.key does not belong to the certificate in .*ca\.crt\. \[AIRLOCK_CONFIG_INVALID\]/);
  const half = await cli({ url: 'http://127.0.0.1:1' }, undefined, ['server', '--config', s.config, '--data', join(dir, 'data'), '--tls-cert', join(tls, 'server.crt')]);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--tls-cert and --tls-key go together/);
  assert.ok(!existsSync(join(dir, 'data')), 'a refused start leaves nothing behind');
});

test('plain HTTP off loopback is refused unless --allow-http; a bootstrap token without alk_ is refused at start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-refused-'));
  const args = ['server', '--config', s.config, '--data', join(dir, 'data'), '--pg-listen', 'off', '--mysql-listen', 'off'];
  const open = await cli({ url: 'http://127.0.0.1:1' }, undefined, [...args, '--listen', '0.0.0.0:0', '--json']);
  assert.equal(open.code, 2);
  assert.equal(open.json().error.code, 'AIRLOCK_PLAIN_HTTP_REFUSED');
  assert.match(open.json().error.detail, /only on a loopback address, and 0\.0\.0\.0 is not one.*--tls-cert FILE --tls-key FILE.*--tls auto.*--allow-http/);

  const token = await cli({ url: 'http://127.0.0.1:1' }, undefined, [...args, '--listen', '127.0.0.1:0'], { env: { AIRLOCK_BOOTSTRAP_TOKEN: 'my-admin-password-123' } });
  assert.equal(token.code, 2);
  assert.match(token.stderr, /AIRLOCK_BOOTSTRAP_TOKEN is not an Airlock token\. A token is "alk_" followed by 32 to 196 characters .* \[AIRLOCK_CONFIG_INVALID\]/);
  assert.ok(!existsSync(join(dir, 'data')), 'a refused start leaves nothing behind');

  const allowed = await startServerProcess({ policy: POLICY, extraArgs: ['--pg-listen', 'off', '--mysql-listen', 'off', '--listen', '0.0.0.0:0', '--allow-http'] });
  try {
    assert.match(allowed.url, /^http:\/\/127\.0\.0\.1:/);
    assert.equal((await fetch(`${allowed.url}/healthz`)).status, 200);
    // A proxy terminates TLS in front: the browser is on HTTPS, so the session cookie is Secure though Airlock sees HTTP.
    const signIn = await fetch(`${allowed.url}/api/v1/console/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-airlock-csrf': '1' }, body: JSON.stringify({ token: allowed.adminToken }) });
    assert.equal(signIn.status, 200);
    assert.match(signIn.headers.get('set-cookie') ?? '', /^airlock_session=[^;]+; Path=\/api\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
  } finally {
    await allowed.stop();
  }
});
