// The e-mail settings as the policy reads them, and the mail a notice becomes: recipients, subject, links, no literals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../src/policy/load.js';
import { makeEmailChannel, composeMail } from '../../src/notify/email.js';
import { silentLog } from '../../src/domain/log.js';
import type { Notice } from '../../src/notify/webhooks.js';

const BASE = `version: 1
principals:
  - { name: alice, groups: [eng], email: alice@example.com }
  - { name: bob, groups: [dba], email: bob@example.com }
  - { name: rita, groups: [reviewers], email: rita@example.com }
  - { name: bot, kind: agent, groups: [dba], email: bot@example.com }
resources:
  - { name: orders, kind: postgres, address: "127.0.0.1:5432" }
roles:
  - name: write
    resources: { names: [orders] }
    max_duration: 1h
    requestable_by: { groups: [eng] }
    approval: { approver_groups: [dba] }
    review: { statements: writes, approver_groups: [reviewers] }
`;

const withEmail = (email: string) => `${BASE}notify:\n  email:\n${email.replace(/^/gm, '    ')}\n`;

test('email settings: STARTTLS required by default, 10m warning, and clear text only to a relay on this host', () => {
  const p = parsePolicy(withEmail('smtp: { host: smtp.example.com }\nfrom: "Airlock <airlock@example.com>"'), 'p.yaml');
  const e = p.doc.notify.email!;
  assert.equal(e.smtp.starttls, true);
  assert.equal(e.expiry_warning, 600);
  assert.ok(e.events.includes('grant.expiring'));
  assert.throws(() => parsePolicy(withEmail('smtp: { host: smtp.example.com, starttls: false }\nfrom: airlock@example.com'), 'p.yaml'), /clear text/);
  assert.ok(parsePolicy(withEmail('smtp: { host: 127.0.0.1, port: 25, starttls: false }\nfrom: airlock@example.com'), 'p.yaml'));
  assert.throws(() => parsePolicy(withEmail('smtp: { host: smtp.example.com, username: a, password: hunter2 }\nfrom: airlock@example.com'), 'p.yaml'), /inline secret/);
  assert.throws(() => parsePolicy(withEmail('smtp: { host: smtp.example.com }\nfrom: not an address'), 'p.yaml'), /an address/);
});

test('a held statement goes to its reviewers with the redacted text only; agents that may not decide are left out', () => {
  const policy = parsePolicy(withEmail('smtp: { host: smtp.example.com }\nfrom: airlock@example.com'), 'p.yaml');
  const doc = policy.doc;
  const ch = makeEmailChannel({ config: () => doc.notify.email, policy: () => policy, publicUrl: () => 'https://a.example', resolveSecret: () => '', log: silentLog });
  const n: Notice = { event: 'review.requested', time: '2026-01-01T00:00:00Z', text: 'alice waits for a review of "UPDATE t SET x = $1" on orders (write).', data: { review_id: 'rev_1', principal: 'alice', resource: 'orders', role: 'write', redacted: 'UPDATE t SET x = $1' } };
  assert.deepEqual(ch.recipients(n), ['rita@example.com']);
  const created: Notice = { event: 'request.created', time: n.time, text: 'alice asks', data: { request_id: 'req_1', principal: 'alice', resource: 'orders', role: 'write', duration_seconds: 3600 } };
  assert.deepEqual(ch.recipients(created), ['bob@example.com'], 'the agent in dba has no may_approve');
  const mail = composeMail(n, ['rita@example.com'], 'https://a.example');
  assert.ok(mail.text.includes('https://a.example/reviews'));
  assert.match(mail.subject, /^\[Airlock\] alice waits for a review of a statement on orders$/);
  assert.ok(!mail.html.includes('<script'), 'values are escaped');
  const evil = composeMail({ ...created, data: { ...created.data, reason: '<script>x</script>' } }, ['b@example.com'], 'https://a.example');
  assert.ok(evil.html.includes('&lt;script&gt;') && !evil.html.includes('<script>'));
});
