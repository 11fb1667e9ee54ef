// Single sign-on against what red team 16 tried (test/support/oidc-provider.ts, a real OIDC provider): an IdP account
// named like an admin or like someone else, e-mail local parts from other domains, IdP groups folded into admin groups,
// IdP groups outliving the sign-in (Slack approvals), the CLI's loopback handed to whoever made the link, floods.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cli } from '../support/server-process.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { startTestIdp, browse, CookieJar, type TestIdp, type TestUser } from '../support/oidc-provider.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { manualClock } from '../../src/domain/clock.js';
import { cliConfirmationCode } from '../../src/domain/cli-code.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const user = (groups: string[] = [], email = 'someone@corp.example', more: Partial<TestUser> = {}): TestUser => ({ password: 'pw', email, groups, ...more });

interface Site {
  idp: TestIdp;
  airlock: InProcessAirlock;
  base: string;
}

async function site(users: Record<string, TestUser>, policy: (issuer: string, env: string) => string, opts: { clock?: ReturnType<typeof manualClock>; env?: Record<string, string> } = {}): Promise<Site> {
  const idp = await startTestIdp({ users });
  const env = `AIRLOCK_TEST_SSO_ATTACKS_${randomBytes(4).toString('hex')}`;
  const airlock = await startAirlock({ policy: policy(idp.issuer, env), env: { [env]: idp.clientSecret, ...opts.env }, clock: opts.clock });
  idp.serve(airlock.server.apiUrl);
  return { idp, airlock, base: airlock.server.apiUrl };
}

async function signIn(s: Site, name: string) {
  const r = await browse(`${s.base}/api/v1/auth/sso/start`, { user: name, password: 'pw', until: (u) => u.origin === s.base && !u.pathname.startsWith('/api/') });
  const cookie = r.jar.get(new URL(s.base).host, 'airlock_session');
  if (!cookie) return { error: r.url.searchParams.get('sso_error') };
  const me = (await (await fetch(`${s.base}/api/v1/whoami`, { headers: { cookie: `airlock_session=${cookie}` } })).json()) as Any;
  return { principal: me.principal.name as string, groups: [...me.principal.groups].sort() as string[], admin: me.admin as boolean };
}

const events = async (s: Site, action: string): Promise<{ actor: string; details: Any }[]> => (await s.airlock.api<Any>(s.airlock.adminToken, 'GET', `/api/v1/audit/events?action=${action}`)).events;

const clock = manualClock(new Date());
let slack: FakeSlack;
let A: Site; // preferred_username, group_prefix, allow_unlisted, Slack, a clock the test moves
let B: Site; // principal_claim: name, so two IdP accounts can carry one name
let C: Site; // principal_claim: email_local_part
const carolSlack = { id: 'U0CAROL', name: 'carol', email: 'carol@corp.example', emailConfirmed: true };

before(async () => {
  slack = await startFakeSlack({ botToken: 'xoxb-t', signingSecret: 'ss', users: [carolSlack], channels: ['#appr'] });
  A = await site(
    {
      admin: user(), Admin: user(), ADMIN: user(), root: user(), judy: user(), ops: user(), sam: user(), lin: user(), kim: user(),
      bob: user([], 'bob@evil.example'), dan: user([], 'DAN@Corp.Example'), fay: user([], 'fay@corp.example', { emailVerified: false }),
      carol: user(['approvers'], 'carol@corp.example'),
      eve: user(['SEC Admins', 'Sec/Admins', 'sec\u00a0admins', '/sec admins', 'sec-admins', 'audit', 'Ops', '/ops', 'ops']),
      vic: user([], 'vic@corp.example', { emailVerified: false }),
    },
    (issuer, env) => `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: root }
  - { name: sam, groups: [sec-admins] }
  - { name: lin, groups: [sec-admins], sso_subject: lin }
  - { name: kim, groups: [sec-admins], sso_subject: kim-at-the-idp }
  - { name: bob, email: bob@corp.example }
  - { name: dan, email: dan@corp.example }
  - { name: fay, email: fay@corp.example }
  - { name: carol, email: carol@corp.example }
admins: { principals: [root, ops], groups: [sec-admins, "idp:sec-admins"] }
auditors: { principals: [judy], groups: ["idp:audit"] }
resources:
  - { name: box, kind: ssh, address: "127.0.0.1:22" }
roles:
  - { name: shell, resources: { names: [box] }, max_duration: 1h, requestable_by: { groups: [engineers] }, approval: { approver_groups: ["idp:approvers"] } }
notify:
  slack:
    - { name: s, bot_token: { env: RT_SSO_BOT }, signing_secret: { env: RT_SSO_SIG }, api_url: ${slack.apiUrl}, channel: "#appr" }
identity:
  oidc: { issuer: ${issuer}, client_id: airlock, client_secret: { env: ${env} }, group_prefix: "idp:", allow_unlisted: true }
`,
    { clock, env: { RT_SSO_BOT: 'xoxb-t', RT_SSO_SIG: 'ss' } },
  );
  B = await site({ u1: user([], 'a1@corp.example', { name: 'alice' }), u2: user([], 'a2@corp.example', { name: 'Alice' }), u3: user([], 'a3@corp.example', { name: 'ALICE' }) }, (issuer, env) => `
version: 1
principals: [ { name: alice } ]
identity:
  oidc: { issuer: ${issuer}, client_id: airlock, client_secret: { env: ${env} }, principal_claim: name }
`);
  C = await site(
    {
      mallory: user([], 'alice@evil.example'), boss: user([], 'Admin@evil.example'), look: user([], 'alice@corp.example.evil.example'),
      sub: user([], 'alice@sub.corp.example'), it: user([], 'admin@corp.example'), uv: user([], 'uv@corp.example', { emailVerified: false }),
      alice: user([], 'Alice@CORP.example'),
    },
    (issuer, env) => `
version: 1
principals: [ { name: alice } ]
identity:
  oidc: { issuer: ${issuer}, client_id: airlock, client_secret: { env: ${env} }, principal_claim: email_local_part, email_domains: [corp.example], allow_unlisted: true }
`,
  );
});

after(async () => {
  for (const s of [A, B, C]) {
    await s?.airlock.stop();
    await s?.idp.stop();
  }
  await slack?.close();
});

test('an IdP account named like the bootstrap admin, an admin or an unlisted auditor of the policy does not become them', async () => {
  for (const name of ['admin', 'Admin', 'ADMIN', 'root', 'sam', 'judy', 'ops']) assert.deepEqual(await signIn(A, name), { error: 'admin_not_linked' }, name);
  assert.deepEqual(await signIn(A, 'kim'), { error: 'subject_mismatch' }, 'an admin whose sso_subject is another account');
  const lin = await signIn(A, 'lin');
  assert.equal(lin.principal, 'lin', 'an admin whose sso_subject is this account signs in');
  assert.equal(lin.admin, true);
  const failed = await events(A, 'sso.sign_in_failed');
  assert.deepEqual(failed.filter((e) => e.details.code === 'admin_not_linked').map((e) => e.actor).sort(), ['admin', 'admin', 'admin', 'judy', 'ops', 'root', 'sam']);
});

test('when the policy names a principal\'s e-mail, the IdP\'s must be it (any case) and not unverified; unverified e-mails are not kept', async () => {
  assert.deepEqual(await signIn(A, 'bob'), { error: 'email_mismatch' });
  assert.equal((await signIn(A, 'dan')).principal, 'dan', 'DAN@Corp.Example is dan@corp.example');
  assert.deepEqual(await signIn(A, 'fay'), { error: 'email_unverified' });
  assert.equal((await signIn(A, 'vic')).principal, 'vic', 'an unlisted person with an unverified e-mail signs in');
  const vic = await A.airlock.api<Any>(A.airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=vic');
  assert.equal(vic.principal.email, undefined, 'but the e-mail is not kept (no Slack matching, no notices to it)');
});

test('group_prefix passes IdP groups through only as they are, never as an admin or auditor group, and says what it dropped', async () => {
  const eve = await signIn(A, 'eve');
  assert.deepEqual([eve.groups, eve.admin], [['idp:ops'], false]);
  const dropped = (await events(A, 'sso.groups_dropped')).find((e) => e.actor === 'eve')!;
  assert.deepEqual([...dropped.details.dropped].sort(), ['/ops', '/sec admins', 'Ops', 'SEC Admins', 'Sec/Admins', 'audit', 'sec\u00a0admins', 'sec-admins'].sort());
  const audit = await fetch(`${A.base}/api/v1/audit/events`, { headers: { authorization: `Bearer ${await A.airlock.token('alice')}` } });
  assert.equal(audit.status, 403);
});

test('a principal is pinned to the IdP subject that first signed in as it; another account with the name is refused until an admin unlinks', async () => {
  assert.equal((await signIn(B, 'u1')).principal, 'alice');
  for (const other of ['u2', 'u3']) assert.deepEqual(await signIn(B, other), { error: 'subject_mismatch' }, `${other} names itself alice too`);
  const failed = (await events(B, 'sso.sign_in_failed')).filter((e) => e.details.code === 'subject_mismatch');
  assert.deepEqual(failed.map((e) => [e.actor, e.details.subject]), [['alice', 'u2'], ['alice', 'u3']]);
  assert.equal((await signIn(B, 'u1')).principal, 'alice', 'the pinned account goes on signing in');
  const out = await cli({ url: B.base }, B.airlock.adminToken, ['identities', 'unlink', 'alice']);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /Unlinked alice from subject u1/);
  assert.equal((await events(B, 'sso.identity_unlinked'))[0]?.details.subject, 'u1');
  assert.equal((await signIn(B, 'u2')).principal, 'alice', 'after the unlink, the next account pins it');
  assert.deepEqual(await signIn(B, 'u1'), { error: 'subject_mismatch' });
  const bad = await cli({ url: B.base }, await B.airlock.token('alice'), ['identities', 'unlink', 'alice']);
  assert.notEqual(bad.code, 0, 'only an admin unlinks');
});

test('email_local_part names a principal only from a verified address in email_domains', async () => {
  for (const [name, code] of [['mallory', 'email_domain'], ['boss', 'email_domain'], ['look', 'email_domain'], ['sub', 'email_domain'], ['uv', 'email_unverified'], ['it', 'admin_not_linked']] as const) {
    assert.deepEqual(await signIn(C, name), { error: code }, name);
  }
  assert.equal((await signIn(C, 'alice')).principal, 'alice', 'Alice@CORP.example is alice');
});

test('airlock login --sso --browser: the loopback gets a code only after the person who signed in allows it, in their browser, seeing the CLI\'s code', async () => {
  let trapped = 0;
  const { createServer } = await import('node:http');
  const trap = createServer((_q, r) => (trapped++, r.end('thanks')));
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  try {
    const port = (trap.address() as { port: number }).port;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const link = `${B.base}/api/v1/auth/sso/start?cli_redirect=${encodeURIComponent(`http://127.0.0.1:${port}/cb`)}&challenge=${challenge}`;
    const victim = await browse(link, { user: 'u2', password: 'pw', until: (u) => u.pathname === '/api/v1/auth/sso/confirm' });
    const confirmUrl = victim.url;
    const elsewhere = await fetch(confirmUrl, { redirect: 'manual' });
    assert.equal(elsewhere.headers.get('location'), '/?sso_error=other_browser', 'the page is for the browser that signed in only');
    const pageRes = await fetch(confirmUrl, { headers: { cookie: victim.jar.header(confirmUrl) } });
    assert.equal(pageRes.status, 200);
    assert.equal(pageRes.headers.get('x-frame-options'), 'DENY');
    assert.match(pageRes.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const page = await pageRes.text();
    assert.match(page, /Give the command-line tool access\?/);
    assert.match(page, /as <strong>alice<\/strong>/);
    assert.ok(page.includes(`<code>${cliConfirmationCode(challenge)}</code>`), 'the code the CLI that chose the challenge shows');
    const field = (n: string) => new RegExp(`name="${n}" value="([^"]*)"`).exec(page)![1]!;
    const post = (cookie: string, fields: Record<string, string>) => fetch(`${B.base}/api/v1/auth/sso/confirm`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams(fields).toString() });
    const mine = victim.jar.header(confirmUrl);
    const forms = [
      ['no cookie (another browser, or a cross-site form)', '', { id: field('id'), csrf: field('csrf'), decision: 'allow' }],
      ['a wrong CSRF token', mine, { id: field('id'), csrf: 'x'.repeat(32), decision: 'allow' }],
      ['no CSRF token', mine, { id: field('id'), decision: 'allow' }],
      ['another cookie', 'airlock_sso=forged', { id: field('id'), csrf: field('csrf'), decision: 'allow' }],
    ] as const;
    for (const [what, cookie, fields] of forms) assert.equal((await post(cookie, fields as Record<string, string>)).headers.get('location'), '/?sso_error=other_browser', what);
    assert.equal(trapped, 0, 'nothing reached the loopback');
    const cancelled = await post(mine, { id: field('id'), csrf: field('csrf'), decision: 'cancel' });
    assert.equal(cancelled.headers.get('location'), '/?sso_error=cli_cancelled');
    assert.equal(trapped, 0, 'cancelled: the loopback is given nothing');
    assert.equal((await post(mine, { id: field('id'), csrf: field('csrf'), decision: 'allow' })).headers.get('location'), '/?sso_error=unknown_login', 'answered once');
    assert.ok((await events(B, 'sso.cli_refused')).some((e) => e.actor === 'alice'));
  } finally {
    trap.close();
  }
});

test('the sign-in page is told a code, never a sentence from the address bar', async () => {
  const r = await fetch(`${A.base}/api/v1/auth/sso/callback?state=nope&error=<script>`, { redirect: 'manual' });
  assert.equal(r.headers.get('location'), '/?sso_error=unknown_login');
});

// Last for A: it moves A's clock past the sign-ins.
test('IdP groups last as long as the sign-in that brought them: after it, Slack approvals and explain see the file\'s groups only', async () => {
  assert.deepEqual((await signIn(A, 'carol')).groups, ['idp:approvers']);
  const before = await A.airlock.api<Any>(A.airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=carol');
  assert.deepEqual(before.principal.group_sources, { 'idp:approvers': ['idp'] });
  A.idp.users.get('carol')!.groups = []; // removed at the IdP; carol never signs in again
  clock.advance(2 * 3600_000); // her sign-in (an hour: the IdP's ID token) is over
  const after = await A.airlock.api<Any>(A.airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=carol');
  assert.deepEqual(after.principal.group_sources, {});
  await assert.rejects(A.airlock.api(A.airlock.adminToken, 'GET', '/api/v1/policy/explain?principal=eve'), /40\d/, 'an unlisted person is gone with their sign-in');
  const alice = await A.airlock.token('alice');
  const req = await A.airlock.api<Any>(alice, 'POST', '/api/v1/requests', { resource: 'box', role: 'shell', duration: '30m', reason: 'stale approver' });
  let m;
  // Delivery is the outbox's, in the background: look until the message is there.
  for (const until = Date.now() + 15_000; !(m = slack.messages.find((x) => JSON.stringify(x.blocks).includes(req.id))) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  assert.ok(m, 'the request was posted to Slack');
  const clicked = await slack.send(`${A.base}/api/v1/slack/interactions`, slack.click(carolSlack, m, 'airlock_approve', { timestamp: Math.floor(clock.now().getTime() / 1000) }));
  assert.equal(clicked.status, 200, 'Slack\'s request itself is accepted (signed, in time)');
  const now = await A.airlock.api<Any>(alice, 'GET', `/api/v1/requests/${req.id}`);
  assert.equal(now.status, 'pending', 'carol is no approver any more');
  assert.equal(now.decided_by ?? null, null);
});

test('floods: new sign-ins are refused (429) when one address starts too many, and a sign-in already under way still completes', async () => {
  const d = await site({ alice: user() }, (issuer, env) => `
version: 1
principals: [ { name: alice } ]
identity:
  oidc: { issuer: ${issuer}, client_id: airlock, client_secret: { env: ${env} } }
`);
  try {
    const jar = new CookieJar();
    const s = await fetch(`${d.base}/api/v1/auth/sso/start`, { redirect: 'manual' });
    jar.keep(new URL(d.base), s);
    const statuses: number[] = [];
    for (let i = 0; i < 130; i++) statuses.push((await fetch(`${d.base}/api/v1/auth/sso/start`, { redirect: 'manual' })).status);
    assert.deepEqual([statuses.filter((x) => x === 302).length, statuses.at(-1)], [119, 429]);
    const refused = await fetch(`${d.base}/api/v1/auth/sso/start`, { redirect: 'manual' });
    assert.equal(((await refused.json()) as Any).code, 'AIRLOCK_SSO_BUSY');
    const done = await browse(s.headers.get('location')!, { jar, user: 'alice', password: 'pw', until: (u) => u.origin === d.base && !u.pathname.startsWith('/api/') });
    assert.ok(done.jar.get(new URL(d.base).host, 'airlock_session'), `the earlier sign-in completes: ${done.url.search}`);
    const device: number[] = [];
    for (let i = 0; i < 12; i++) device.push((await fetch(`${d.base}/api/v1/auth/sso/device`, { method: 'POST' })).status);
    assert.deepEqual(device, [...Array(10).fill(200), 429, 429]);
  } finally {
    await d.airlock.stop();
    await d.idp.stop();
  }
});
