// The Slack channel against the fake Slack: what it posts and updates, and how Slack's errors become retryable or
// permanent delivery results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { policySchema, type SlackDef } from '../../src/policy/schema.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { makeSlackChannel } from '../../src/notify/slack.js';
import { escapeMrkdwn } from '../../src/notify/slack-messages.js';
import { verifySlackSignature } from '../../src/notify/slack-interactions.js';
import type { Notice } from '../../src/notify/webhooks.js';
import { slackSignature, startFakeSlack, type FakeSlack } from '../support/fake-slack.js';

let slack: FakeSlack;
const TOKEN = 'xoxb-unit';

before(async () => {
  slack = await startFakeSlack({ botToken: TOKEN, signingSecret: 's', users: [], channels: ['#airlock-approvals'] });
});
after(() => slack.close());

function channel(over: Partial<Record<string, unknown>> = {}, token = TOKEN) {
  const doc = policySchema.parse({
    version: 1,
    principals: [{ name: 'alice' }],
    resources: [{ name: 'box', kind: 'ssh', address: '127.0.0.1:22', labels: { env: 'prod' } }],
    roles: [{ name: 'shell', resources: { names: ['box'] }, max_duration: '1h', requestable_by: { principals: ['alice'] }, approval: { approver_principals: ['alice'] } }],
    notify: { slack: [{ name: 'ops', bot_token: { env: 'T' }, signing_secret: { env: 'S' }, api_url: slack.apiUrl, ...over }] },
  });
  const policy = compilePolicy(doc, 'test.yaml');
  return makeSlackChannel(doc.notify.slack[0] as SlackDef, { policy: () => policy, resolveSecret: () => token });
}

const notice = (event: Notice['event'], data: Record<string, unknown> = {}): Notice => ({
  event, time: '2026-03-02T10:31:07.000Z', text: 'alice asks for shell on box for 30m',
  data: { request_id: 'req_1', principal: 'alice', resource: 'box', role: 'shell', duration_seconds: 1800, reason: '<!channel> fix *it*', ticket: null, ...data },
  subject: { kind: 'request', id: 'req_1' },
});
const ctx = (ref: string | null = null) => ({ ref, attempt: 1, signal: new AbortController().signal });

test('posts, then updates the same message with who decided and when; user text cannot mention or link', async () => {
  const c = channel();
  const posted = await c.deliver(notice('request.created'), ctx());
  assert.ok(posted.ok && posted.ref);
  const m = slack.messages.at(-1)!;
  assert.ok(JSON.stringify(m.blocks).includes('&lt;!channel&gt;'), 'a reason cannot ping the channel');
  const decided = await c.deliver(notice('request.approved', { decided_by: 'bob' }), ctx(posted.ref!));
  assert.deepEqual(decided, { ok: true, ref: posted.ref });
  assert.match(JSON.stringify(m.updates[0]!.blocks), /Approved\* by bob on <!date\^1772447467\^\{date_short_pretty\} at \{time_secs\}\|2026-03-02T10:31:07Z> \(2026-03-02T10:31:07Z UTC\)/);
  const nothing = await c.deliver(notice('request.denied'), ctx(null));
  assert.deepEqual(nothing, { ok: true }, 'nothing posted for the subject: nothing to update');
  assert.equal(escapeMrkdwn('a<b>&c'), 'a&lt;b&gt;&amp;c');
});

test("Slack's errors: a bad token or unknown channel is permanent, ratelimited is retried after Retry-After", async () => {
  const bad = await channel({}, 'xoxb-wrong').deliver(notice('request.created'), ctx());
  assert.deepEqual(bad, { ok: false, retryable: false, error: 'chat.postMessage: invalid_auth' });
  const nowhere = await channel({ channel: '#nowhere' }).deliver(notice('request.created'), ctx());
  assert.deepEqual(nowhere, { ok: false, retryable: false, error: 'chat.postMessage: channel_not_found' });
  slack.rateLimit('chat.postMessage', 1, 7);
  const limited = await channel().deliver(notice('request.created'), ctx());
  assert.deepEqual(limited, { ok: false, retryable: true, retryAfterMs: 7000, error: 'chat.postMessage: ratelimited' });
});

test('v0 signatures: the exact body and timestamp, compared in constant time', () => {
  const sig = slackSignature('secret', 1700000000, 'payload=%7B%7D');
  assert.ok(verifySlackSignature('secret', '1700000000', 'payload=%7B%7D', sig));
  assert.ok(!verifySlackSignature('secret', '1700000001', 'payload=%7B%7D', sig));
  assert.ok(!verifySlackSignature('secret', '1700000000', 'payload=%7B%20%7D', sig));
  assert.ok(!verifySlackSignature('other', '1700000000', 'payload=%7B%7D', sig));
  assert.ok(!verifySlackSignature('secret', '1700000000', 'payload=%7B%7D', 'v0=short'));
});
