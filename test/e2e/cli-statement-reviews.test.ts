// Held statements through the real server and the real CLI: `airlock reviews`, `reviews show`, `approve|deny rev_…`,
// the API routes with their refusals, the event stream, an agent's sponsor on its requests, and a restart that
// withdraws what an earlier run held.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { cli } from '../support/server-process.js';
import type { HoldInput } from '../../src/access/statement-reviews.js';

const policy = (hookPort: number) => `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [engineers] }
  - { name: helper, kind: agent, groups: [agents], sponsor: alice }
  - { name: plain-bot, kind: agent, groups: [dba] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders }
roles:
  - name: write-reviewed
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 4h
    requestable_by: { groups: [engineers, agents] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
    review: { statements: writes, timeout: 10m }
notify:
  webhooks:
    - { name: chat, url: "http://127.0.0.1:${hookPort}/hook", events: [request.created, review.requested, review.decided] }
`;

let a: InProcessAirlock;
let POLICY: string;
let hooks: Server;
/** Webhook bodies as they arrive; `notice()` waits for the one a test expects. */
const notices: { event: string; text: string; [k: string]: unknown }[] = [];
const arrived = new EventTarget();

async function notice(match: (n: (typeof notices)[number]) => boolean): Promise<(typeof notices)[number]> {
  for (;;) {
    const found = notices.find(match);
    if (found) return found;
    await once(arrived, 'notice');
  }
}
const tokens: Record<string, string> = {};
let helperRequest: string;
let grant: string;

function input(statement: string, over: Partial<HoldInput> = {}): HoldInput {
  return {
    grant_id: grant,
    session_id: 'ses_CLI',
    protocol: 'postgres',
    database: 'orders',
    statement,
    parameters: ['42', null],
    summary: { kinds: ['update'], tables: ['public.orders'], has_where: true, writes: true },
    source: '127.0.0.1',
    redacted: statement.replace(/'[^']*'/g, '$n'),
    ...over,
  };
}

const run = (who: string, args: string[]) => cli({ url: a.server.apiUrl }, tokens[who], args, { env: { TZ: 'UTC' } });

async function api(who: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(a.server.apiUrl + path, { method, headers: { authorization: `Bearer ${tokens[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: await res.json() };
}

before(async () => {
  hooks = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      notices.push(JSON.parse(raw));
      arrived.dispatchEvent(new Event('notice'));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  POLICY = policy((hooks.address() as AddressInfo).port);
  a = await startAirlock({ policy: POLICY });
  for (const p of ['alice', 'bob', 'carol', 'helper', 'plain-bot']) tokens[p] = await a.token(p);
  const req = await a.api<{ id: string }>(tokens.helper!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write-reviewed', duration: '1h', reason: 'OPS-7 fix order 42' });
  helperRequest = req.id;
});
after(async () => {
  await a?.stop();
  hooks?.close();
});

test("an agent's request shows it is an agent and names its sponsor; only a person (or an agent with may_approve) decides it", async () => {
  const seen = await api('bob', 'GET', `/api/v1/requests/${helperRequest}`);
  assert.equal(seen.status, 200);
  assert.equal(seen.json.principal_kind, 'agent');
  assert.equal(seen.json.sponsor, 'alice');
  const listed = await api('bob', 'GET', '/api/v1/requests?scope=reviewable');
  assert.equal(listed.json.requests.find((r: { id: string }) => r.id === helperRequest)?.sponsor, 'alice');
  const asked = await notice((n) => n.event === 'request.created' && n.request_id === helperRequest);
  assert.match(asked.text, /^helper \(agent of alice\) asks for write-reviewed on prod-orders/);
  assert.equal(asked.sponsor, 'alice');
  const bot = await run('plain-bot', ['approve', helperRequest, '--json']);
  assert.equal(bot.code, 3, bot.stderr);
  assert.equal(bot.json().error.code, 'AIRLOCK_AGENT_CANNOT_APPROVE');
  const ok = await run('bob', ['approve', helperRequest, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  grant = ok.json().grant_id;
  assert.match(grant, /^grt_/);
});

test('airlock reviews lists a held statement for its reviewer, and reviews show prints what will run', async () => {
  const sr = a.server.access.statementReviews;
  const r = await sr.hold('helper', input("update orders set note = 'call back' where id = $1 and shop = $2"));
  const waiting = sr.wait(r.id);

  const list = await run('bob', ['reviews', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(list.json().reviews.map((x: { id: string }) => x.id), [r.id]);
  const text = await run('bob', ['reviews']);
  assert.match(text.stdout, new RegExp(`${r.id}\\s+pending\\s+helper \\(agent, sponsor alice\\)\\s+prod-orders\\s+write-reviewed\\s+update orders set note`));
  assert.equal((await run('carol', ['reviews', '--json'])).json().reviews.length, 0, 'carol neither sent it nor may review it');

  const show = await run('bob', ['reviews', 'show', r.id]);
  assert.equal(show.code, 0, show.stderr);
  assert.ok(show.stdout.includes("  update orders set note = 'call back' where id = $1 and shop = $2\n"), show.stdout);
  assert.match(show.stdout, /\$1 = "42"\n {2}\$2 = NULL/);
  assert.match(show.stdout, /Kinds: +update\nTables: +public\.orders\nWHERE: +yes/);
  assert.match(show.stdout, /Asked by: +helper \(agent, sponsor alice\)/);
  assert.match(show.stdout, new RegExp(`grant ${grant} +session ses_CLI`));
  assert.match(show.stdout, /Created: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
  assert.match(show.stdout, /Expires: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (9m\d+s|10m)\)/);
  const showJson = await run('alice', ['reviews', 'show', r.id, '--json']);
  assert.equal(showJson.code, 0, 'the sponsor may look');
  assert.equal(showJson.json().statement, r.statement);

  const self = await run('helper', ['approve', r.id, '--json']);
  assert.equal(self.code, 3);
  assert.equal(self.json().error.code, 'AIRLOCK_SELF_REVIEW');
  const bot = await run('plain-bot', ['approve', r.id]);
  assert.equal(bot.code, 3);
  assert.match(bot.stderr, /agents cannot approve or deny statements .*\[AIRLOCK_AGENT_CANNOT_APPROVE\]/);
  const carol = await run('carol', ['approve', r.id, '--json']);
  assert.equal(carol.json().error.code, 'AIRLOCK_NOT_APPROVER');

  const approve = await run('bob', ['approve', r.id, '--comment', 'ok for order 42']);
  assert.equal(approve.code, 0, approve.stderr);
  assert.match(approve.stdout, new RegExp(`Approved statement ${r.id}: it runs now in helper's session \\(once\\)\\.`));
  const out = await waiting;
  assert.equal(out.status, 'approved');
  const held = await notice((n) => n.event === 'review.requested' && n.review_id === r.id);
  assert.equal(held.text, `helper (agent of alice) waits for a review of "update orders set note = $n where id = $1 and shop = $2" on prod-orders (write-reviewed). See it: airlock reviews show ${r.id}; then airlock approve ${r.id} / airlock deny ${r.id} --comment …`);
  assert.ok(!JSON.stringify(held).includes('call back'), 'the literal stays out of notices');
  assert.equal(held.redacted, 'update orders set note = $n where id = $1 and shop = $2');
  const decided = await notice((n) => n.event === 'review.decided' && n.review_id === r.id);
  assert.equal(decided.text, `helper (agent of alice)'s statement ${r.id} on prod-orders was approved by bob.`);
  const again = await run('bob', ['approve', r.id, '--json']);
  assert.equal(again.code, 1);
  assert.equal(again.json().error.code, 'AIRLOCK_REVIEW_NOT_PENDING');
  const done = await run('bob', ['reviews', '--status', 'executed', '--json']);
  assert.deepEqual(done.json().reviews.map((x: { id: string; status: string }) => [x.id, x.status]), [[r.id, 'executed']]);
});

test('airlock deny rev_… needs --comment; the sender reads it', async () => {
  const sr = a.server.access.statementReviews;
  const r = await sr.hold('helper', input('delete from orders', { summary: { kinds: ['delete'], tables: ['orders'], has_where: false, writes: true }, parameters: null }));
  const waiting = sr.wait(r.id);
  const show = await run('bob', ['reviews', 'show', r.id]);
  assert.match(show.stdout, /WHERE: +NO \(touches every row\)/);
  const usage = await run('bob', ['deny', r.id, '--json']);
  assert.equal(usage.code, 2);
  const deny = await run('bob', ['deny', r.id, '--comment', 'no WHERE', '--json']);
  assert.equal(deny.code, 0, deny.stderr);
  assert.equal(deny.json().status, 'denied');
  const out = await waiting;
  assert.equal(out.status, 'denied');
  assert.equal(out.review.comment, 'no WHERE');
});

test('the API: list, one, approve, deny, with 403/404 and problem+json; the event stream tells who may see it', async () => {
  const sr = a.server.access.statementReviews;
  const events = new AbortController();
  const stream = await fetch(`${a.server.apiUrl}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.bob}` }, signal: events.signal });
  const reader = stream.body!.getReader();
  let seen = '';
  const r = await sr.hold('helper', input("update orders set a = 'x' where id = 1"));
  const dec = new TextDecoder();
  while (!seen.includes(`"id":"${r.id}"`)) {
    const chunk = await reader.read();
    assert.ok(!chunk.done, `the stream ended before the change came: ${seen}`);
    seen += dec.decode(chunk.value);
  }
  assert.match(seen, /event: statement_review\ndata: \{[^\n]*"event":"requested"/);
  events.abort();
  const change = { kind: 'statement_review' as const, id: r.id, event: 'requested', principal: 'helper', role: 'write-reviewed', time: r.created_at };
  const callerOf = (name: string) => ({ principal: a.server.access.policy().principal(name)!, source: null, token_id: null });
  assert.equal(a.server.access.visibility.hearsChange(callerOf('carol'), change), false);
  assert.equal(a.server.access.visibility.hearsChange(callerOf('alice'), change), true, 'the sponsor hears of it');

  const list = await api('bob', 'GET', '/api/v1/statement-reviews?status=pending&principal=helper&limit=5');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.reviews.map((x: { id: string }) => x.id), [r.id]);
  const one = await api('bob', 'GET', `/api/v1/statement-reviews/${r.id}`);
  assert.deepEqual(one.json, await sr.get(r.id));
  const hidden = await api('carol', 'GET', `/api/v1/statement-reviews/${r.id}`);
  assert.equal(hidden.status, 403);
  assert.equal(hidden.json.code, 'AIRLOCK_FORBIDDEN');
  const missing = await api('bob', 'GET', '/api/v1/statement-reviews/rev_NOPE');
  assert.equal(missing.status, 404);
  const noComment = await api('bob', 'POST', `/api/v1/statement-reviews/${r.id}/deny`, { comment: ' ' });
  assert.equal(noComment.status, 400);
  assert.equal(noComment.json.code, 'AIRLOCK_BAD_INPUT');
  const ok = await api('bob', 'POST', `/api/v1/statement-reviews/${r.id}/approve`, { comment: 'fine' });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.status, 'approved');
  assert.deepEqual(ok.json.approvals.map((x: { reviewer: string; comment: string }) => [x.reviewer, x.comment]), [['bob', 'fine']]);
  const used = await sr.consumeApproved(grant, r.binding, 'ses_NEXT');
  assert.equal(used?.id, r.id, 'the same statement asked again uses the approval');
});

test('a restart withdraws the pending reviews an earlier run held', async () => {
  const r = await a.server.access.statementReviews.hold('helper', input("update orders set b = 'y' where id = 2"));
  await a.server.close();
  const again = await startAirlock({ policy: POLICY, dir: a.dir });
  a = { ...again, stop: again.stop };
  const after = await a.server.access.statementReviews.get(r.id);
  assert.equal(after?.status, 'withdrawn');
  assert.match(after?.end_reason ?? '', /restarted/);
});
