// Single sign-on against a real OpenID Connect provider on loopback (test/support/oidc-provider.ts): console sign-in,
// groups from the IdP giving and taking away a role, unlisted people, refused ID tokens, key rotation, and the CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, cli } from '../support/server-process.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { startTestIdp, browse, CookieJar, type TestIdp } from '../support/oidc-provider.js';

const SECRET_ENV = 'AIRLOCK_TEST_OIDC_CLIENT_SECRET';

function policy(issuer: string, o: { allowUnlisted?: boolean } = {}): string {
  return `
version: 1
principals:
  - { name: alice, groups: [staff] }
  - { name: dave, groups: [staff] }
  - { name: carol, groups: [] }
  - { name: bot, kind: agent, groups: [] }
admins: { principals: [admin] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: prod } }
roles:
  - name: pg-read
    resources: { names: [prod-orders] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [payments-oncall] }
    approval: { approver_groups: [approvers] }
    justification: { required: false }
identity:
  oidc:
    issuer: ${issuer}
    client_id: airlock
    client_secret: { env: ${SECRET_ENV} }
    group_mapping: { Payments: [payments-oncall], Approvers: [approvers] }
    allow_unlisted: ${o.allowUnlisted ? 'true' : 'false'}
    console_session_max: 8h
    display_name: Test IdP
`;
}

let idp: TestIdp;
let airlock: InProcessAirlock;
let base: string;

before(async () => {
  idp = await startTestIdp({
    users: {
      alice: { password: 'alice-pw', email: 'alice@example.com', groups: ['Payments', 'Everyone'] },
      dave: { password: 'dave-pw', email: 'dave@example.com', groups: ['Payments'] },
      carol: { password: 'carol-pw', email: 'carol@example.com', groups: ['Approvers'] },
      erin: { password: 'erin-pw', email: 'erin@example.com', groups: ['Payments'] },
    },
  });
  process.env[SECRET_ENV] = idp.clientSecret;
  airlock = await startAirlock({ policy: policy(idp.issuer) });
  base = airlock.server.apiUrl;
  idp.serve(base);
});

after(async () => {
  await airlock?.stop();
  await idp?.stop();
});

/** Signs in to the console through the IdP as a browser would; the cookies and where it landed. */
async function consoleSignIn(user: string, password: string) {
  const r = await browse(`${base}/api/v1/auth/sso/start`, { user, password, until: (u) => u.origin === base && !u.pathname.startsWith('/api/') });
  const cookie = r.jar.get(new URL(base).host, 'airlock_session');
  return { landed: r.url, cookie, error: r.url.searchParams.get('sso_error') };
}

async function asCookie<T = any>(cookie: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const session = (await (await fetch(`${base}/api/v1/console/session`, { headers: { cookie: `airlock_session=${cookie}` } })).json()) as { csrf?: string };
  const res = await fetch(base + path, { method, headers: { cookie: `airlock_session=${cookie}`, 'x-airlock-csrf': session.csrf ?? '', ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: (await res.json()) as T };
}

async function audit(action: string): Promise<{ actor: string; details: Record<string, any> }[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (await airlock.api<{ events: { actor: string; details: Record<string, unknown> }[] }>(airlock.adminToken, 'GET', `/api/v1/audit/events?action=${action}`)).events;
}

test('the console offers the IdP by name', async () => {
  const r = (await (await fetch(`${base}/api/v1/auth/sso`)).json()) as { enabled: boolean; display_name: string };
  assert.deepEqual(r, { enabled: true, display_name: 'Test IdP', device_flow: true });
});

test('a person signs in through the IdP; their IdP group maps to an Airlock group that lets them request a role', async () => {
  const s = await consoleSignIn('alice', 'alice-pw');
  assert.equal(s.error, null);
  assert.equal(s.landed.pathname, '/');
  assert.ok(s.cookie, 'a console session cookie was set');
  const me = await asCookie(s.cookie!, 'GET', '/api/v1/whoami');
  assert.equal(me.body.principal.name, 'alice');
  assert.deepEqual([...me.body.principal.groups].sort(), ['payments-oncall', 'staff']);
  const session = (await (await fetch(`${base}/api/v1/console/session`, { headers: { cookie: `airlock_session=${s.cookie}` } })).json()) as { method: string; expires_at: string };
  assert.equal(session.method, 'sso');
  // console_session_max is 8h, but the IdP's ID token lasts an hour: the session ends with what the IdP allows.
  assert.ok(Date.parse(session.expires_at) <= Date.now() + 3600_000 + 60_000, session.expires_at);
  const asked = await asCookie(s.cookie!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'pg-read', duration: '30m' });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  const ex = await airlock.api<{ principal: { group_sources: Record<string, string[]> } }>(airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=alice');
  assert.deepEqual(ex.principal.group_sources, { staff: ['file'], 'payments-oncall': ['idp'] });
  const text = await cli({ url: base }, airlock.adminToken, ['policy', 'explain', '--principal', 'alice']);
  assert.match(text.stdout, /^alice \(user\), groups: staff \(file\), payments-oncall \(idp\)/);
  const signIns = (await audit('sso.sign_in')).filter((e) => e.actor === 'alice');
  assert.equal(signIns.length, 1);
  assert.equal(signIns[0]!.details.subject, 'alice');
  assert.deepEqual(signIns[0]!.details.idp_groups, ['Payments', 'Everyone']);
  assert.deepEqual(signIns[0]!.details.groups, ['payments-oncall']);
  assert.equal(signIns[0]!.details.source, 'oidc');
});

test('a person removed from the IdP group loses the role it gave at their next sign-in, and explain shows why', async () => {
  const first = await consoleSignIn('dave', 'dave-pw');
  assert.ok(first.cookie);
  let ex = await airlock.api<{ principal: { groups: string[] }; entries: { role: string; allowed: boolean }[] }>(airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=dave&resource=prod-orders');
  assert.equal(ex.entries.find((e) => e.role === 'pg-read')?.allowed, true);
  idp.users.get('dave')!.groups = [];
  const second = await consoleSignIn('dave', 'dave-pw');
  assert.ok(second.cookie);
  const refused = await asCookie(second.cookie!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'pg-read', duration: '30m' });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'AIRLOCK_NOT_REQUESTABLE');
  ex = await airlock.api(airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=dave&resource=prod-orders');
  assert.deepEqual(ex.principal.groups, ['staff']);
  assert.equal(ex.entries.find((e) => e.role === 'pg-read')?.allowed, false);
  const changed = (await audit('sso.groups_changed')).filter((e) => e.actor === 'dave');
  assert.deepEqual(changed.map((e) => [e.details.added, e.details.removed]), [[[], ['payments-oncall']]]);
});

test('people not in the policy are refused unless allow_unlisted; then their groups come from the IdP only', async () => {
  const refused = await consoleSignIn('erin', 'erin-pw');
  assert.equal(refused.cookie, undefined);
  assert.equal(refused.error, 'not_listed', 'the sign-in page is told a code from a fixed set, and has the sentence');
  assert.ok((await audit('sso.sign_in_failed')).some((e) => e.actor === 'erin' && /allow_unlisted/.test(e.details.reason)));
  writeFileSync(join(airlock.dir, 'airlock.yaml'), policy(idp.issuer, { allowUnlisted: true }));
  await airlock.api(airlock.adminToken, 'POST', '/api/v1/policy/reload');
  const s = await consoleSignIn('erin', 'erin-pw');
  assert.equal(s.error, null);
  const me = await asCookie(s.cookie!, 'GET', '/api/v1/whoami');
  assert.equal(me.body.principal.name, 'erin');
  assert.deepEqual(me.body.principal.groups, ['payments-oncall']);
  const ex = await airlock.api<{ principal: { group_sources: Record<string, string[]> } }>(airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=erin');
  assert.deepEqual(ex.principal.group_sources, { 'payments-oncall': ['idp'] });
  writeFileSync(join(airlock.dir, 'airlock.yaml'), policy(idp.issuer));
  await airlock.api(airlock.adminToken, 'POST', '/api/v1/policy/reload');
  assert.equal((await asCookie(s.cookie!, 'GET', '/api/v1/whoami')).status, 401, 'with allow_unlisted off again, the unlisted person is out');
});

test('an ID token for another audience, an expired one, and one not signed by the IdP are refused', async () => {
  const cases: [typeof idp.tamper, RegExp][] = [
    ['wrong_audience', /aud/],
    ['expired', /exp|expired/i],
    ['other_key', /signature/i],
  ];
  try {
    for (const [tamper, why] of cases) {
      idp.tamper = tamper;
      const s = await consoleSignIn('carol', 'carol-pw');
      assert.equal(s.cookie, undefined, `${tamper}: no session`);
      assert.match(s.error ?? '', /^id_token_(audience|expired|signature)$/, `${tamper}: the sign-in page says so`);
      const failed = (await audit('sso.sign_in_failed')).at(-1)!;
      assert.match(failed.details.reason, why, `${tamper}: ${failed.details.reason}`);
      assert.doesNotMatch(JSON.stringify(failed), /eyJ/, 'no token in the audit log');
    }
  } finally {
    idp.tamper = null;
  }
  assert.ok((await consoleSignIn('carol', 'carol-pw')).cookie, 'the same person signs in once the tokens are right');
});

test('after the IdP rotates its signing key, the next sign-in validates (the JWKS is fetched again for the new kid)', async () => {
  assert.ok((await consoleSignIn('carol', 'carol-pw')).cookie);
  idp.rotateKeys();
  const s = await consoleSignIn('carol', 'carol-pw');
  assert.equal(s.error, null);
  assert.ok(s.cookie);
});

test('a callback is used once, and only in the browser that started the sign-in; another browser cannot cancel it', async () => {
  const jar = new CookieJar();
  const r = await browse(`${base}/api/v1/auth/sso/start`, { jar, user: 'carol', password: 'carol-pw', until: (u) => u.pathname === '/api/v1/auth/sso/callback' });
  const other = await fetch(r.url, { redirect: 'manual' });
  assert.equal(other.headers.get('location'), '/?sso_error=other_browser');
  const forged = await fetch(r.url, { redirect: 'manual', headers: { cookie: 'airlock_sso=not-the-binding' } });
  assert.equal(forged.headers.get('location'), '/?sso_error=other_browser');
  const mine = await fetch(r.url, { redirect: 'manual', headers: { cookie: jar.header(r.url) } });
  assert.equal(mine.headers.get('location'), '/', 'the browser that started it still signs in');
  const again = await fetch(r.url, { redirect: 'manual', headers: { cookie: jar.header(r.url) } });
  assert.equal(again.headers.get('location'), '/?sso_error=unknown_login');
});

/** Runs the real `airlock login --sso …`; resolves `seen` with the first stderr text `pattern` matches. */
function login(args: string[], configDir: string, pattern: RegExp, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'login', '--sso', ...args], { env: { ...process.env, AIRLOCK_SERVER: base, AIRLOCK_CONFIG_DIR: configDir, AIRLOCK_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let found: (m: RegExpMatchArray) => void;
  const seen = new Promise<RegExpMatchArray>((r) => (found = r));
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => {
    stderr += c;
    const m = pattern.exec(stderr);
    if (m) found(m);
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
  void done.then((d) => found([`exited ${d.code}: ${d.stderr}`] as unknown as RegExpMatchArray));
  return { seen, done };
}

test('airlock login --sso: the device flow — the person confirms the code at the IdP, the CLI saves a token bound to the sign-in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sso-cli-'));
  const run = login(['--json'], dir, /open (http\S+)\s+and confirm the code (\S+?)\./);
  const m = await run.seen;
  assert.ok(m[1], m[0]);
  const confirmed = await browse(m[1]!, { user: 'alice', password: 'alice-pw' });
  assert.match(confirmed.text, /success|sign-in|signed in/i, confirmed.text.slice(0, 300));
  const out = await run.done;
  assert.equal(out.code, 0, out.stderr);
  const j = JSON.parse(out.stdout) as { principal: string; groups: string[]; expires_at: string; method: string; saved_to: string };
  assert.equal(j.principal, 'alice');
  assert.equal(j.method, 'device');
  assert.ok(j.groups.includes('payments-oncall'));
  // Bound to the sign-in: no longer than the IdP's ID token (an hour here), not the 8h console_session_max.
  assert.ok(Date.parse(j.expires_at) <= Date.now() + 3600_000 + 60_000, j.expires_at);
  const saved = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as { token: string; server: string };
  assert.equal(saved.server, base);
  const me = await cli({ url: base }, undefined, ['whoami', '--json'], { env: { AIRLOCK_CONFIG_DIR: dir } });
  assert.equal(me.code, 0, me.stderr);
  assert.equal(me.json().principal.name, 'alice');
  assert.ok((await audit('sso.sign_in')).some((e) => e.actor === 'alice' && e.details.via === 'cli'));
});

test('airlock login --sso --browser: with no browser to open it prints the URL and a code; once the person allows it on Airlock\'s page, a one-time code reaches its loopback', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sso-cli-'));
  const run = login(['--browser'], dir, /Open this address in a browser on this machine to sign in:\n(\S+)\n.*shows the code ([0-9A-Z]{6})\./, { PATH: '/nonexistent' });
  const m = await run.seen;
  assert.ok(m[1], m[0]);
  // After the IdP, Airlock asks the person to confirm, showing the code the CLI printed.
  const idpDone = await browse(m[1]!, { user: 'carol', password: 'carol-pw', until: (u) => u.pathname === '/api/v1/auth/sso/confirm' });
  const confirm = await (await fetch(idpDone.url, { headers: { cookie: idpDone.jar.header(idpDone.url) } })).text();
  assert.match(confirm, new RegExp(`as <strong>carol</strong>[\\s\\S]*<code>${m[2]}</code>`));
  const page = await browse(idpDone.url.href, { jar: idpDone.jar, user: 'carol', password: 'carol-pw' });
  assert.match(page.text, /Signed in to Airlock/);
  const out = await run.done;
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /Logged in to .* as carol with single sign-on \(groups: approvers\)/);
  const me = await cli({ url: base }, undefined, ['whoami', '--json'], { env: { AIRLOCK_CONFIG_DIR: dir } });
  assert.equal(me.json().principal.name, 'carol');
});
