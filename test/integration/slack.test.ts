// Approvals from Slack against a local fake Slack that speaks the Web API's formats and signs interaction payloads
// as Slack does: messages with buttons routed per role and label, Approve, Deny with its form, decisions made
// elsewhere updating the message, refusals (self-approval, unlinked or unverified users, bad, stale and replayed
// signatures), a held statement released from Slack, a rate-limited post retried by the outbox, clicks from another
// workspace or app and from Slack Connect guests refused, and a click replayed to a process that forgot it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { startFakeSlack, slackSignature, type FakeMessage, type FakeSlack, type FakeSlackUser } from '../support/fake-slack.js';
import { makeSlackInteractions } from '../../src/notify/slack-interactions.js';
import { resolveSecret } from '../../src/credentials/secret-ref.js';
import { silentLog } from '../../src/domain/log.js';

const BOT_TOKEN = 'xoxb-test-bot-token';
const SIGNING_SECRET = 'test-signing-secret';
const users: Record<string, FakeSlackUser> = {
  bob: { id: 'U0BOB', name: 'bob' }, // mapped explicitly in the policy; Slack shows no e-mail
  carol: { id: 'U0CAROL', name: 'carol', email: 'Carol@Example.com', emailConfirmed: true },
  dave: { id: 'U0DAVE', name: 'dave', email: 'dave@example.com', emailConfirmed: true },
  mallory: { id: 'U0MALLORY', name: 'mallory', email: 'mallory@elsewhere.example', emailConfirmed: true },
  eve: { id: 'U0EVE', name: 'eve', email: 'bob@example.com', emailConfirmed: false },
};

let slack: FakeSlack;
let a: InProcessAirlock;
let tokens: Record<string, string>;
let endpoint: string;

before(async () => {
  slack = await startFakeSlack({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, users: Object.values(users), channels: ['#airlock-approvals', '#payments-approvals', '#airlock-root'] });
  a = await startAirlock({
    env: { SLACK_TEST_BOT_TOKEN: BOT_TOKEN, SLACK_TEST_SIGNING_SECRET: SIGNING_SECRET, SLACK_TEST_SMTP_PASSWORD: 'smtp-pw-value' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers], email: alice@example.com }
  - { name: bob, groups: [dba], email: bob@example.com }
  - { name: carol, groups: [engineers, dba], email: carol@example.com }
  - { name: dave, groups: [engineers], email: dave@example.com }
  - { name: helper, kind: agent, groups: [engineers], sponsor: alice }
resources:
  - { name: box, kind: ssh, address: "127.0.0.1:22", labels: { env: prod } }
  - { name: pay-box, kind: ssh, address: "127.0.0.1:22", labels: { env: prod, team: payments } }
roles:
  - name: shell
    resources: { names: [box, pay-box] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    break_glass: true
    privileges: { sql: write }
  - name: root
    resources: { names: [box] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: twice
    resources: { names: [box] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba], approvals: 2 }
notify:
  email:
    smtp: { host: smtp.example.com, port: 587, username: airlock, password: { env: SLACK_TEST_SMTP_PASSWORD } }
    from: airlock@example.com
    events: [policy.reload_refused]
  slack:
    - name: ops-slack
      bot_token: { env: SLACK_TEST_BOT_TOKEN }
      signing_secret: { env: SLACK_TEST_SIGNING_SECRET }
      api_url: ${slack.apiUrl}
      team_id: T0TEST
      app_id: A0AIRLOCK
      channels:
        roles: { root: "#airlock-root" }
        labels: { "team=payments": "#payments-approvals" }
      users: { U0BOB: bob }
`,
  });
  endpoint = `${a.server.apiUrl}/api/v1/slack/interactions`;
  tokens = {};
  for (const p of ['alice', 'bob', 'carol', 'dave', 'helper']) tokens[p] = await a.token(p);
});

after(async () => {
  await a?.stop();
  await slack?.close();
});

async function until<T>(f: () => T | undefined | Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const request = (who: string, body: Record<string, unknown>) => a.api<{ id: string; status: string; grant_id: string | null }>(tokens[who]!, 'POST', '/api/v1/requests', { duration: '30m', reason: 'fix order 42', ticket: 'OPS-7', ...body });
const getRequest = (id: string) => a.api<{ status: string; grant_id: string | null; decided_by: string | null }>(tokens.bob!, 'GET', `/api/v1/requests/${id}`);
const messageFor = (id: string) => until(() => slack.messages.find((m) => JSON.stringify(m.blocks).includes(id)), `the Slack message of ${id}`);
const updated = (m: FakeMessage) => until(() => m.updates.at(-1), 'the message to be updated');
const buttons = (blocks: Record<string, unknown>[]) => blocks.flatMap((b) => (b.type === 'actions' ? (b.elements as { action_id: string; value?: string }[]) : []));
const words = (blocks: unknown) => JSON.stringify(blocks);

test('a new request posts Block Kit with who, what, why, risk hints and Approve / Deny, to the channel its role or label routes to', async () => {
  const r = await request('helper', { resource: 'box', role: 'shell' });
  const m = await messageFor(r.id);
  const post = slack.calls.find((c) => c.method === 'chat.postMessage' && words(c.args.blocks).includes(r.id))!;
  assert.equal(post.authorization, `Bearer ${BOT_TOKEN}`);
  assert.match(post.contentType ?? '', /^application\/json; charset=utf-8/);
  assert.equal(post.args.channel, '#airlock-approvals');
  const text = words(m.blocks);
  assert.match(text, /\*helper\* `agent` of \*alice\* \(sponsor\) asks for \*shell\* on \*box\* for \*30m\*/);
  assert.match(text, /fix order 42/);
  assert.match(text, /OPS-7/);
  assert.match(text, /Production/);
  assert.match(text, /Write access/);
  assert.deepEqual(buttons(m.blocks).filter((b) => b.value).map((b) => [b.action_id, b.value]), [['airlock_approve', r.id], ['airlock_deny', r.id]]);

  const pay = await request('alice', { resource: 'pay-box', role: 'shell' });
  await messageFor(pay.id);
  assert.equal(slack.calls.find((c) => c.method === 'chat.postMessage' && words(c.args.blocks).includes(pay.id))!.args.channel, '#payments-approvals');
  const root = await request('alice', { resource: 'box', role: 'root' });
  await messageFor(root.id);
  assert.equal(slack.calls.find((c) => c.method === 'chat.postMessage' && words(c.args.blocks).includes(root.id))!.args.channel, '#airlock-root');
  // Leave nothing pending that later tests would trip over (duplicate requests).
  for (const id of [r.id, pay.id, root.id]) await a.api(tokens.bob!, 'POST', `/api/v1/requests/${id}/deny`, { comment: 'test cleanup' });
});

test('Approve in Slack activates the grant and rewrites the message: buttons gone, who and when', async () => {
  const r = await request('alice', { resource: 'box', role: 'shell' });
  const m = await messageFor(r.id);
  const res = await slack.send(endpoint, slack.click(users.bob!, m, 'airlock_approve'));
  assert.equal(res.status, 200);
  const after = await getRequest(r.id);
  assert.equal(after.status, 'approved');
  assert.ok(after.grant_id);
  const u = await updated(m);
  assert.deepEqual(buttons(u.blocks).filter((b) => b.value), []);
  assert.match(words(u.blocks), /Approved\* by bob on <!date\^\d+\^\{date_short_pretty\} at \{time_secs\}\|\d{4}-\d\d-\d\dT[\d:]+Z> \(\d{4}-\d\d-\d\dT[\d:]+Z UTC\)/);
  assert.ok(slack.responses.some((x) => /You approved/.test(String(x.text)) && x.response_type === 'ephemeral'));
  await a.api(a.adminToken, 'POST', `/api/v1/grants/${after.grant_id}/revoke`, { reason: 'test done' });
});

test('Deny opens a form that needs a comment; the request is denied with it and the message says so', async () => {
  const r = await request('alice', { resource: 'box', role: 'shell' });
  const m = await messageFor(r.id);
  assert.equal((await slack.send(endpoint, slack.click(users.carol!, m, 'airlock_deny'))).status, 200);
  const view = await until(() => slack.views.at(-1), 'views.open');
  assert.equal(view.view.callback_id, 'airlock_deny');
  assert.ok((view.view.blocks as { type: string }[]).some((b) => b.type === 'input'));
  const empty = await slack.send(endpoint, slack.submit(users.carol!, view, ''));
  assert.equal(empty.status, 200);
  assert.equal(empty.json?.response_action, 'errors');
  assert.match(String(empty.json?.errors?.comment), /Say why/);
  assert.equal((await getRequest(r.id)).status, 'pending');
  const ok = await slack.send(endpoint, slack.submit(users.carol!, view, 'use the read role'));
  assert.equal(ok.status, 200);
  assert.equal(ok.text, '');
  assert.equal((await getRequest(r.id)).status, 'denied');
  const u = await updated(m);
  assert.match(words(u.blocks), /Denied\* by carol on <!date\^/);
  assert.match(words(u.blocks), /use the read role/);
  assert.deepEqual(buttons(u.blocks).filter((b) => b.value), []);
});

test('a decision made with the API (as the CLI does) updates the Slack message too', async () => {
  const r = await request('alice', { resource: 'box', role: 'shell' });
  const m = await messageFor(r.id);
  const out = await a.api<{ grant_id: string }>(tokens.bob!, 'POST', `/api/v1/requests/${r.id}/approve`, {});
  const u = await updated(m);
  assert.match(words(u.blocks), /Approved\* by bob/);
  await a.api(a.adminToken, 'POST', `/api/v1/grants/${out.grant_id}/revoke`, { reason: 'test done' });
});

test('Slack users are refused what the console refuses them, and unlinked or unverified accounts decide nothing', async () => {
  const own = await request('carol', { resource: 'box', role: 'shell' });
  const m = await messageFor(own.id);
  const before = slack.responses.length;
  assert.equal((await slack.send(endpoint, slack.click(users.carol!, m, 'airlock_approve'))).status, 200);
  assert.match(String(slack.responses[before]?.text), /^AIRLOCK_SELF_APPROVAL: You cannot approve your own request/);
  assert.equal((await slack.send(endpoint, slack.click(users.dave!, m, 'airlock_approve'))).status, 200);
  assert.match(String(slack.responses[before + 1]?.text), /^AIRLOCK_NOT_APPROVER/);
  assert.equal((await slack.send(endpoint, slack.click(users.mallory!, m, 'airlock_approve'))).status, 200);
  assert.match(String(slack.responses[before + 2]?.text), /Your Slack account is not linked to an Airlock principal/);
  assert.equal((await slack.send(endpoint, slack.click(users.eve!, m, 'airlock_approve'))).status, 200);
  assert.match(String(slack.responses[before + 3]?.text), /not linked.*e-mail is not verified/);
  assert.equal((await getRequest(own.id)).status, 'pending');
  await a.server.audit.flush();
  const refused: { details: Record<string, unknown> }[] = [];
  for await (const e of a.server.audit.events({ action: 'slack.refused' })) refused.push(e as never);
  assert.deepEqual(refused.map((e) => e.details.reason).sort(), ['email_unverified', 'not_linked']);
  await a.api(tokens.bob!, 'POST', `/api/v1/requests/${own.id}/deny`, { comment: 'test cleanup' });
});

test('badly signed, stale and replayed payloads are refused with 401 and change nothing', async () => {
  const r = await request('alice', { resource: 'box', role: 'shell' });
  const m = await messageFor(r.id);
  const forged = await slack.send(endpoint, slack.click(users.bob!, m, 'airlock_approve', { secret: 'not-the-secret' }));
  assert.equal(forged.status, 401);
  assert.equal(forged.json?.code, 'AIRLOCK_UNAUTHENTICATED');
  const stale = await slack.send(endpoint, slack.click(users.bob!, m, 'airlock_approve', { timestamp: Math.floor(Date.now() / 1000) - 360 }));
  assert.equal(stale.status, 401);
  assert.match(String(stale.json?.detail), /5 minutes/);
  const tampered = slack.click(users.bob!, m, 'airlock_deny');
  assert.equal((await slack.send(endpoint, { ...tampered, body: tampered.body.replace('airlock_deny', 'airlock_approve') })).status, 401);
  assert.equal((await getRequest(r.id)).status, 'pending');
  const bad = await slack.send(endpoint, { body: 'payload=%7Bnot-json', headers: { ...slack.click(users.bob!, m, 'airlock_approve').headers } });
  assert.equal(bad.status, 401, 'a body that does not match its signature is refused before it is read');

  const click = slack.click(users.bob!, m, 'airlock_approve');
  assert.equal((await slack.send(endpoint, click)).status, 200);
  const approved = await getRequest(r.id);
  assert.equal(approved.status, 'approved');
  const replay = await slack.send(endpoint, click);
  assert.equal(replay.status, 401);
  assert.match(String(replay.json?.detail), /replay/);
  await a.api(a.adminToken, 'POST', `/api/v1/grants/${approved.grant_id}/revoke`, { reason: 'test done' });
});

test('a malformed but correctly signed body is a 400 with a clear message', async () => {
  const { slackSignature } = await import('../support/fake-slack.js');
  const send = async (body: string) => {
    const ts = Math.floor(Date.now() / 1000);
    return slack.send(endpoint, { body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': slackSignature(SIGNING_SECRET, ts, body) } });
  };
  const notJson = await send('payload=%7Bnot-json');
  assert.equal(notJson.status, 400);
  assert.match(String(notJson.json?.detail), /payload is not JSON/);
  assert.match(String((await send('nothing=here')).json?.detail), /no payload= field/);
  assert.equal((await send(`payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', team: { id: 'T0TEST' }, api_app_id: 'A0AIRLOCK', user: { id: 'U0BOB', team_id: 'T0TEST' }, actions: [{ action_id: 'airlock_approve', value: '../../etc' }] }))}`)).status, 400);
});

test('a held statement is posted with its redacted text only, and Approve in Slack releases it', async () => {
  const grant = await a.grant(tokens.alice!, tokens.bob!, 'box', 'root');
  const held = await a.server.access.statementReviews.hold('alice', {
    grant_id: grant, session_id: null, protocol: 'postgres', database: null,
    statement: "UPDATE accounts SET password = 'hunter2' WHERE id = 7", parameters: null,
    summary: { kinds: ['update'], tables: ['accounts'], has_where: true, writes: true }, source: null,
    redacted: 'UPDATE accounts SET password = ? WHERE id = ?',
  });
  const m = await messageFor(held.id);
  assert.match(words(m.blocks), /UPDATE accounts SET password = \? WHERE id = \?/);
  assert.match(words(m.blocks), /update on accounts/);
  assert.ok(!words(m.blocks).includes('hunter2'), 'literals stay out of chat');
  assert.equal(slack.calls.find((c) => c.method === 'chat.postMessage' && words(c.args.blocks).includes(held.id))!.args.channel, '#airlock-root');
  const waiting = a.server.access.statementReviews.wait(held.id);
  assert.equal((await slack.send(endpoint, slack.click(users.bob!, m, 'airlock_approve'))).status, 200);
  const outcome = await waiting;
  assert.equal(outcome.status, 'approved');
  const u = await updated(m);
  assert.match(words(u.blocks), /Approved\* by bob/);
  await a.api(a.adminToken, 'POST', `/api/v1/grants/${grant}/revoke`, { reason: 'test done' });
});

test('a rate-limited post is retried after Retry-After and arrives once', async () => {
  slack.rateLimit('chat.postMessage', 1, 1);
  const r = await request('alice', { resource: 'box', role: 'shell' });
  await messageFor(r.id);
  const attempts = slack.calls.filter((c) => c.method === 'chat.postMessage' && words(c.args.blocks).includes(r.id));
  assert.equal(attempts.length, 2, 'one refused with 429, one delivered');
  assert.equal(slack.messages.filter((m) => words(m.blocks).includes(r.id)).length, 1);
  await a.api(tokens.bob!, 'POST', `/api/v1/requests/${r.id}/deny`, { comment: 'test cleanup' });
});

test('break-glass is posted for its review after the fact; Deny in Slack revokes the grant and the message says so', async () => {
  const r = await request('dave', { resource: 'pay-box', role: 'shell', break_glass: true });
  assert.equal(r.status, 'approved');
  const m = await messageFor(r.id);
  assert.match(words(m.blocks), /Break-glass: access taken without review/);
  assert.deepEqual(buttons(m.blocks).filter((b) => b.value).map((b) => (b as { text?: { text: string } }).text?.text), ['Approve after the fact', 'Deny and revoke']);
  assert.equal((await slack.send(endpoint, slack.click(users.bob!, m, 'airlock_deny'))).status, 200);
  const view = await until(() => slack.views.find((v) => String(v.view.private_metadata).includes(r.id)), 'the Deny form');
  assert.equal((await slack.send(endpoint, slack.submit(users.bob!, view, 'not an incident'))).status, 200);
  const grant = await a.api<{ status: string }>(a.adminToken, 'GET', `/api/v1/grants/${r.grant_id}`);
  assert.equal(grant.status, 'revoked');
  const u = await updated(m);
  assert.match(words(u.blocks), /Denied after the fact\* by bob on <!date\^.*the access was revoked.*not an incident/);
  await a.server.audit.flush();
  const reviews: { source: string | null; actor: string }[] = [];
  for await (const e of a.server.audit.events({ action: 'review.deny' })) reviews.push(e as never);
  assert.ok(reviews.some((e) => e.actor === 'bob' && e.source === 'slack'), 'decisions from Slack are audited with source slack');
});

/** The same click, changed as another workspace, app or user would send it, and signed with the same secret. */
function resigned(req: { body: string }, change: (p: Record<string, any>) => void) { // eslint-disable-line @typescript-eslint/no-explicit-any
  const payload = JSON.parse(new URLSearchParams(req.body).get('payload')!) as Record<string, unknown>;
  change(payload);
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = Math.floor(Date.now() / 1000);
  return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': slackSignature(SIGNING_SECRET, ts, body) } };
}

async function refusals(target: string): Promise<string[]> {
  await a.server.audit.flush();
  const out: string[] = [];
  for await (const e of a.server.audit.events({ action: 'slack.refused' })) if ((e as { target: string }).target === target) out.push(String((e as { details: Record<string, unknown> }).details.reason));
  return out.sort();
}

test('clicks from another workspace or app are refused with 403, Slack Connect guests are told no; all audited, nothing decided', async () => {
  const r = await request('alice', { resource: 'box', role: 'shell' });
  const m = await messageFor(r.id);
  const otherTeam = await slack.send(endpoint, resigned(slack.click(users.bob!, m, 'airlock_approve'), (p) => {
    p.team.id = 'T0OTHER';
    p.user.team_id = 'T0OTHER';
  }));
  assert.equal(otherTeam.status, 403);
  assert.equal(otherTeam.json?.code, 'AIRLOCK_FORBIDDEN');
  assert.match(String(otherTeam.json?.detail), /Slack workspace T0OTHER is not the one/);
  const otherApp = await slack.send(endpoint, resigned(slack.click(users.bob!, m, 'airlock_approve'), (p) => (p.api_app_id = 'A0COPYCAT')));
  assert.equal(otherApp.status, 403);
  assert.match(String(otherApp.json?.detail), /Slack app A0COPYCAT/);
  // A guest in a shared channel whose verified e-mail (or even an explicit mapping) names an approver.
  for (const who of [users.carol!, users.bob!]) {
    const before = slack.responses.length;
    const guest = await slack.send(endpoint, resigned(slack.click(who, m, 'airlock_approve'), (p) => (p.user.team_id = 'T0PARTNER')));
    assert.equal(guest.status, 200);
    assert.match(String(slack.responses[before]?.text), /belongs to another Slack workspace \(T0PARTNER\)/);
  }
  assert.equal((await getRequest(r.id)).status, 'pending');
  assert.deepEqual(await refusals(r.id), ['external_user', 'external_user', 'other_app', 'other_team']);
  await a.api(tokens.bob!, 'POST', `/api/v1/requests/${r.id}/deny`, { comment: 'test cleanup' });
});

test('a click replayed to a process that forgot it (a restart) is refused by the review itself and changes nothing', async () => {
  // A restarted process has an empty replay memory: the same signed click, within its 5 minutes, reaches the review.
  const restarted = () => makeSlackInteractions({
    slack: () => a.server.access.policy().doc.notify.slack, resolveSecret, policy: a.server.access.policy, clock: a.server.access.clock,
    audit: a.server.access.audit, log: silentLog,
    decisions: {
      approveRequest: (caller, id) => a.server.access.reviews.approve(caller, id),
      denyRequest: (caller, id, comment) => a.server.access.reviews.deny(caller, id, comment),
      approveStatement: (caller, id) => a.server.access.statementReviews.approve(caller, id),
      denyStatement: (caller, id, comment) => a.server.access.statementReviews.deny(caller, id, comment),
    },
  });
  const approvals = async (id: string) => {
    await a.server.audit.flush();
    let n = 0;
    for await (const e of a.server.audit.events({ action: 'review.approve' })) if ((e as { details: Record<string, unknown> }).details.request_id === id) n++;
    return n;
  };

  const r = await request('alice', { resource: 'box', role: 'shell' });
  const click = slack.click(users.bob!, (await messageFor(r.id)), 'airlock_approve');
  assert.equal((await slack.send(endpoint, click)).status, 200);
  const decided = await getRequest(r.id);
  assert.equal(decided.status, 'approved');
  let before = slack.responses.length;
  assert.equal((await restarted().handle(click.headers, click.body)).status, 200);
  assert.match(String(slack.responses[before]?.text), /^AIRLOCK_REQUEST_NOT_PENDING/);
  assert.deepEqual(await getRequest(r.id), decided);
  assert.equal((await a.api<{ status: string }>(a.adminToken, 'GET', `/api/v1/grants/${decided.grant_id}`)).status, 'active');
  assert.equal(await approvals(r.id), 1);
  await a.api(a.adminToken, 'POST', `/api/v1/grants/${decided.grant_id}/revoke`, { reason: 'test done' });

  // Two approvals needed: the same approver's click again does not count twice.
  const two = await request('alice', { resource: 'box', role: 'twice' });
  const first = slack.click(users.bob!, (await messageFor(two.id)), 'airlock_approve');
  assert.equal((await slack.send(endpoint, first)).status, 200);
  before = slack.responses.length;
  assert.equal((await restarted().handle(first.headers, first.body)).status, 200);
  assert.match(String(slack.responses[before]?.text), /^AIRLOCK_ALREADY_REVIEWED/);
  assert.equal((await getRequest(two.id)).status, 'pending');
  assert.equal(await approvals(two.id), 1);
  await a.api(tokens.carol!, 'POST', `/api/v1/requests/${two.id}/deny`, { comment: 'test cleanup' });
});

test('GET /api/v1/policy shows the Slack and e-mail channels, never their secrets or where they are kept', async () => {
  const res = await fetch(`${a.server.apiUrl}/api/v1/policy`, { headers: { authorization: `Bearer ${a.adminToken}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  const notify = (JSON.parse(text) as { policy: { notify: Record<string, any> } }).policy.notify; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(notify.slack[0].name, 'ops-slack');
  assert.equal(notify.slack[0].channel, '#airlock-approvals');
  assert.deepEqual(notify.slack[0].channels.roles, { root: '#airlock-root' });
  assert.equal(notify.slack[0].team_id, 'T0TEST');
  assert.equal(notify.slack[0].bot_token, '(reference hidden)');
  assert.deepEqual(notify.email.smtp, { host: 'smtp.example.com', port: 587, starttls: true, password: '(reference hidden)' });
  assert.equal(notify.email.from, 'airlock@example.com');
  assert.deepEqual(notify.email.events, ['policy.reload_refused']);
  for (const secret of [BOT_TOKEN, SIGNING_SECRET, 'smtp-pw-value', 'SLACK_TEST_BOT_TOKEN', 'SLACK_TEST_SIGNING_SECRET', 'SLACK_TEST_SMTP_PASSWORD']) assert.ok(!text.includes(secret), `${secret} is not shown`);
});
