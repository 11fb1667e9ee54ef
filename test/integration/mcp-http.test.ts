// The MCP server at /mcp, driven by the MCP SDK's own Client over Streamable HTTP against the real server (in this
// process) and a real PostgreSQL: what an agent sees from its first tools/list to rows from a granted database.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { startSshHarness } from './ssh-gateway-harness.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';

let a: InProcessAirlock;
let db: TestDatabase;
let boxDir: string;
let agent: string;
let bob: string;
const open: { client: Client; transport: StreamableHTTPClientTransport }[] = [];

function policy(): string {
  const up = new URL(adminUrl());
  const credential = `{ username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: MCP_TEST_PG_PASSWORD }, mode: per_grant_role }`;
  const injected = `{ username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: MCP_TEST_PG_PASSWORD }, mode: injected }`;
  const address = `"${up.hostname}:${up.port || 5432}"`;
  return `
version: 1
principals:
  - { name: agent-7, kind: agent, groups: [agents], sponsor: bob }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [engineers] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - { name: shop, kind: postgres, address: ${address}, database: ${db.name}, credential: ${credential} }
  - { name: billing, kind: postgres, address: ${address}, database: ${db.name}, credential: ${credential} }
  - { name: ledger, kind: postgres, address: ${address}, database: ${db.name}, credential: ${injected} }
  - name: box
    kind: exec
    exec: { command: ["/usr/bin/env", "-C", "{target}", "--", "{command}"], targets: ["${boxDir}"] }
roles:
  - name: read
    resources: { names: [shop, billing] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [agents, engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true, pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
    guardrails: { max_rows: 3 }
  - name: write
    resources: { names: [shop] }
    privileges: { sql: write }
    max_duration: 30m
    requestable_by: { groups: [agents] }
    approval: { approver_groups: [dba] }
  - name: fix
    resources: { names: [ledger] }
    privileges: { sql: write }
    max_duration: 30m
    requestable_by: { groups: [agents] }
    approval: { approver_groups: [dba], auto_approve: [{ requester_groups: [agents], max_duration: 30m }] }
    justification: { required: false }
    review: { statements: writes, approver_groups: [dba], timeout: 15m }
  - name: ops
    resources: { names: [box] }
    max_duration: 30m
    requestable_by: { groups: [agents] }
    approval: { approver_groups: [dba], auto_approve: [{ requester_groups: [agents] }] }
    justification: { required: false }
    ssh: { shell: false }
    commands: { allow: ["echo ...", "ls ..."] }
`;
}

before(async () => {
  db = await createTestDatabase('airlock_mcp');
  boxDir = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-mcp-box-')));
  writeFileSync(join(boxDir, 'notes.txt'), 'x');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query('create table orders (id int primary key, item text not null, price numeric(8,2), shipped boolean)');
  await c.query("insert into orders select i, 'item-' || i, i * 1.5, i % 2 = 0 from generate_series(1, 5) i");
  await c.end();
  const up = new URL(adminUrl());
  a = await startAirlock({ policy: policy(), env: { MCP_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' } });
  agent = await a.token('agent-7');
  bob = await a.token('bob');
});

after(async () => {
  for (const o of open) await o.client.close().catch(() => {});
  await a?.dropRoles(adminUrl());
  await a?.stop();
  await db?.drop();
  rmSync(boxDir, { recursive: true, force: true });
});

/** An MCP client connected to /mcp with `token`, counting tools/list_changed notifications. */
async function connect(token: string, name = 'test-agent', apiUrl = a.server.apiUrl) {
  const client = new Client({ name, version: '1.2.3' });
  let changed = 0;
  const waiters: (() => void)[] = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
    changed++;
    for (const w of waiters.splice(0)) w();
  });
  const transport = new StreamableHTTPClientTransport(new URL(`${apiUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  open.push({ client, transport });
  return {
    client,
    transport,
    changed: () => changed,
    /** Resolves at the next tools/list_changed. */
    nextListChanged: () => new Promise<void>((r) => waiters.push(r)),
    tools: async () => (await client.listTools()).tools.map((t) => t.name).sort(),
    call: async (name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number; message?: string }) => void) =>
      (await client.callTool({ name, arguments: args }, undefined, { onprogress, resetTimeoutOnProgress: true, timeout: 60_000 })) as CallToolResult,
  };
}

function text(r: CallToolResult): string {
  const c = r.content[0];
  return c && c.type === 'text' ? c.text : '';
}
function json<T = Record<string, any>>(r: CallToolResult): T { // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.ok(!r.isError, `expected a result, got the error: ${text(r)}`);
  return JSON.parse(text(r)) as T;
}

async function auditOf(action: string) {
  await a.server.audit.flush();
  const out = [];
  for await (const e of a.server.audit.events({ action })) out.push(e);
  return out;
}

/** Polls `check` until it holds (a condition the server reaches on its own, e.g. a gateway session's end). */
async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One tools/call on an open MCP session sent with `token` (a session's requests may carry any token of its principal). */
async function rawToolCall(m: Awaited<ReturnType<typeof connect>>, token: string, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  const r = await fetch(`${a.server.apiUrl}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}`, 'mcp-session-id': m.transport.sessionId!, 'mcp-protocol-version': m.transport.protocolVersion ?? '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name, arguments: args } }),
  });
  assert.equal(r.status, 200);
  const body = await r.text();
  const data = r.headers.get('content-type')?.startsWith('text/event-stream') ? body.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).at(-1)! : body;
  return (JSON.parse(data) as { result: CallToolResult }).result;
}

/** The backend PostgreSQL process behind the agent's gateway connection, under a column name that tags the statement. */
async function backendPid(m: Awaited<ReturnType<typeof connect>>, tag: string): Promise<number> {
  return json(await m.call('query', { resource: 'shop', sql: `select pg_backend_pid() as ${tag}` })).rows[0][tag] as number;
}

/** The gateway's statement event of the query tagged `tag`. */
async function statementTagged(tag: string) {
  const e = (await auditOf('statement')).find((x) => String(x.details.text).includes(tag));
  assert.ok(e, `the statement ${tag} is in the audit`);
  return e.details as { session_id: string; grant_id: string };
}

test('a wrong or missing token is refused with 401 before any MCP session exists', async () => {
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
  for (const auth of ['Bearer alk_not-a-real-token', undefined]) {
    const r = await fetch(`${a.server.apiUrl}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify(init) });
    assert.equal(r.status, 401);
    const p = (await r.json()) as { code: string };
    assert.match(p.code, /^AIRLOCK_(TOKEN_INVALID|UNAUTHENTICATED)$/);
  }
  await assert.rejects(connect('alk_wrong'), (e: Error & { code?: number }) => e.code === 401);
});

test('before any grant the agent sees only the four access tools, and list_resources explains how to ask', async () => {
  const m = await connect(agent);
  assert.deepEqual(await m.tools(), ['access_status', 'list_grants', 'list_resources', 'request_access']);
  assert.match(m.client.getInstructions() ?? '', /request_access/);
  const res = json(await m.call('list_resources', {}));
  const shop = res.resources.find((r: { name: string }) => r.name === 'shop');
  assert.deepEqual(shop.roles.map((r: { role: string }) => r.role).sort(), ['read', 'write']);
  const read = shop.roles.find((r: { role: string }) => r.role === 'read');
  assert.equal(read.max_duration, '1h');
  assert.equal(read.max_rows, 3);
  assert.match(read.approval, /waits for 1 approval\(s\) from bob/);
  assert.equal(read.justification.hint, 'Start with a ticket such as OPS-123.');
  assert.match(res.how_to_request, /request_access/);

  // Tools not listed are still answered, with the rule and what to do, whatever the client remembers of the list.
  const hidden: [string, Record<string, unknown>, string][] = [
    ['query', { resource: 'shop', sql: 'select 1' }, 'AIRLOCK_NO_GRANT: query needs an active grant on a postgres resource — list_resources shows what you may request; request one with request_access'],
    ['describe_database', { resource: 'shop' }, 'AIRLOCK_NO_GRANT: describe_database needs an active grant on a postgres resource — list_resources shows what you may request; request one with request_access'],
    ['exec', { resource: 'box', command: ['ls'] }, 'AIRLOCK_NO_GRANT: exec needs an active grant on an exec or ssh resource — list_resources shows what you may request; request one with request_access'],
    ['review_status', { review_id: 'rev_nothing' }, 'AIRLOCK_NO_GRANT: review_status needs a statement held for review, or an active grant whose role reviews statements — query answers a review_id when the gateway holds a statement; list_resources shows which roles review statements'],
  ];
  for (const [tool, args, expected] of hidden) {
    const r = await m.call(tool, args);
    assert.equal(r.isError, true, tool);
    assert.equal(text(r), expected);
  }
  const unknown = await m.call('drop_everything', {});
  assert.equal(unknown.isError, true);
  assert.match(text(unknown), /Tool drop_everything not found/);
  assert.deepEqual(await m.tools(), ['access_status', 'list_grants', 'list_resources', 'request_access'], 'the list stays filtered');
  const refusedCalls = (await auditOf('mcp.tool.call')).filter((e) => e.details.session_id === m.transport.sessionId && e.details.outcome === 'AIRLOCK_NO_GRANT');
  assert.deepEqual(refusedCalls.map((e) => e.details.tool).sort(), ['describe_database', 'exec', 'query', 'review_status']);

  const starts = await auditOf('mcp.session.start');
  assert.ok(starts.some((e) => e.actor === 'agent-7' && (e.details.client as { name: string }).name === 'test-agent' && e.details.transport === 'http'));
});

test('request_access → access_status waits with progress while a person approves; query appears with list_changed', async () => {
  const m = await connect(agent);
  const refused = await m.call('request_access', { resource: 'shop', role: 'read', duration: '15m', reason: 'just looking' });
  assert.ok(refused.isError);
  assert.match(text(refused), /^AIRLOCK_JUSTIFICATION: /);

  const req = json(await m.call('request_access', { resource: 'shop', role: 'read', duration: '15m', reason: 'OPS-7 check stuck orders' }));
  assert.equal(req.status, 'pending');
  assert.equal(req.sponsor, 'bob');
  assert.match(req.next, /access_status/);

  const progress: { progress: number; message?: string }[] = [];
  let approved: Promise<unknown> | null = null;
  const changed = m.nextListChanged();
  const status = json(await m.call('access_status', { request_id: req.request_id, timeout_seconds: 60 }, (p) => {
    progress.push(p);
    // A person approves while the agent waits (once its wait has told the first progress).
    approved ??= a.api(bob, 'POST', `/api/v1/requests/${req.request_id}/approve`, { comment: 'fine for OPS-7' });
  }));
  await approved;
  assert.ok(progress.length >= 1, 'the wait sent progress notifications');
  assert.match(progress[0]!.message ?? '', /waiting for a decision on req_.* by bob/);
  assert.equal(status.status, 'approved');
  assert.equal(status.comment, 'fine for OPS-7');
  assert.ok(status.grant_id && status.seconds_left > 800 && status.seconds_left <= 900);
  await changed;
  assert.deepEqual(await m.tools(), ['access_status', 'describe_database', 'list_grants', 'list_resources', 'query', 'request_access']);
  const query = (await m.client.listTools()).tools.find((t) => t.name === 'query')!;
  assert.equal(query.title, 'Run SQL');
  assert.deepEqual(Object.keys(query.inputSchema.properties ?? {}).sort(), ['database', 'resource', 'review_id', 'sql']);
  assert.deepEqual(query.inputSchema.required, ['resource', 'sql']);

  const grants = json(await m.call('list_grants', {}));
  assert.equal(grants.grants.length, 1);
  assert.equal(grants.grants[0].resource, 'shop');
  assert.match(grants.grants[0].expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
});

test('describe_database and query run through the gateway: columns, types, rows cut at max_rows, refusals with codes', async () => {
  const m = await connect(agent);
  const d = json(await m.call('describe_database', { resource: 'shop', schema: 'public' }));
  const orders = d.schemas[0].tables.find((t: { name: string }) => t.name === 'orders');
  assert.deepEqual(orders.columns, [
    { name: 'id', type: 'integer', nullable: false },
    { name: 'item', type: 'text', nullable: false },
    { name: 'price', type: 'numeric', nullable: true },
    { name: 'shipped', type: 'boolean', nullable: true },
  ]);

  const one = json(await m.call('query', { resource: 'shop', sql: "select id, item, price, shipped from orders where item = 'item-2'" }));
  assert.deepEqual(one.columns, [{ name: 'id', type: 'int4' }, { name: 'item', type: 'text' }, { name: 'price', type: 'numeric' }, { name: 'shipped', type: 'bool' }]);
  assert.deepEqual(one.rows, [{ id: 2, item: 'item-2', price: '3.00', shipped: true }]);
  assert.equal(one.truncated, false);

  const all = json(await m.call('query', { resource: 'shop', sql: 'select id from orders order by id' }));
  assert.deepEqual(all.rows, [{ id: 1 }, { id: 2 }, { id: 3 }]);
  assert.equal(all.truncated, true);
  assert.equal(all.truncated_by, 'max_rows');
  assert.match(all.note, /max_rows/);

  const write = await m.call('query', { resource: 'shop', sql: 'delete from orders' });
  assert.ok(write.isError);
  assert.match(text(write), /^AIRLOCK_STATEMENT_REFUSED: /);
  const noGrant = await m.call('query', { resource: 'billing', sql: 'select 1' });
  assert.equal(text(noGrant), 'AIRLOCK_NO_GRANT: no active grant for billing — request one with request_access');
  const broken = await m.call('query', { resource: 'shop', sql: 'select * from no_such_table' });
  assert.match(text(broken), /^SQLSTATE_42P01: /);

  // The gateway audited the statements as psql's are; the tool call's audit masks the literal.
  const calls = await auditOf('mcp.tool.call');
  const q = calls.find((e) => e.details.tool === 'query' && String((e.details.arguments as { sql: string }).sql).includes('where item ='));
  assert.ok(q);
  assert.doesNotMatch(String((q.details.arguments as { sql: string }).sql), /item-2/);
  assert.equal(q.details.outcome, 'ok');
  assert.equal(calls.find((e) => e.details.tool === 'query' && e.target === 'billing')?.details.outcome, 'AIRLOCK_NO_GRANT');
  const statements = await auditOf('statement');
  assert.ok(statements.some((e) => e.actor === 'agent-7' && e.details.decision === 'refused'), 'the refused delete is in the statement audit');
});

test("one MCP session's queries share one gateway session: SET persists, errors keep it, a transaction left open does not", async () => {
  const m = await connect(agent);
  const first = await backendPid(m, 'pool_a');
  assert.equal(json(await m.call('query', { resource: 'shop', sql: "set statement_timeout = '7s'" })).status, 'ok');
  assert.match(text(await m.call('query', { resource: 'shop', sql: 'select * from no_such_table' })), /^SQLSTATE_42P01: /);
  assert.match(text(await m.call('query', { resource: 'shop', sql: 'delete from orders' })), /^AIRLOCK_STATEMENT_REFUSED: /);
  assert.equal(await backendPid(m, 'pool_b'), first, 'the same backend after a result, an SQL error and a refusal');
  assert.equal(json(await m.call('query', { resource: 'shop', sql: 'show statement_timeout' })).rows[0].statement_timeout, '7s');
  const a1 = await statementTagged('pool_a');
  assert.equal((await statementTagged('pool_b')).session_id, a1.session_id, 'one audited gateway session');

  const other = await connect(agent);
  assert.notEqual(await backendPid(other, 'pool_c'), first, 'another MCP session has its own');
  assert.notEqual((await statementTagged('pool_c')).session_id, a1.session_id);

  // An open transaction is never handed to the next call: its connection is closed, which rolls it back.
  assert.equal(json(await m.call('query', { resource: 'shop', sql: 'begin' })).command, 'BEGIN');
  const afterBegin = await backendPid(m, 'pool_d');
  assert.notEqual(afterBegin, first);
  assert.equal(json(await m.call('query', { resource: 'shop', sql: 'show statement_timeout' })).rows[0].statement_timeout, '0', 'a new database session');

  // An admin's kill of the kept session: the next query runs on a new one.
  const d = await statementTagged('pool_d');
  await a.api(bob, 'POST', `/api/v1/sessions/${d.session_id}/kill`, { reason: 'pool test' });
  await until(async () => (await auditOf('session.end')).some((e) => e.details.session_id === d.session_id), 'the killed session to end');
  assert.notEqual(await backendPid(m, 'pool_e'), afterBegin);

  // A call of the same MCP session with another token of the same principal gets a gateway session logged in with it.
  const e = await statementTagged('pool_e');
  const other2 = await a.token('agent-7');
  const viaOther = await rawToolCall(m, other2, 'query', { resource: 'shop', sql: 'select pg_backend_pid() as pool_f' });
  assert.ok(!viaOther.isError, text(viaOther));
  const f = await statementTagged('pool_f');
  assert.notEqual(f.session_id, e.session_id);
  const starts = await auditOf('session.start');
  const tokenOf = (id: string) => starts.find((x) => x.details.session_id === id)?.details.token_id;
  assert.notEqual(tokenOf(f.session_id), tokenOf(e.session_id));

  // The MCP session's end ends its kept gateway session.
  await m.transport.terminateSession();
  await until(async () => (await auditOf('session.end')).some((x) => x.details.session_id === f.session_id), 'the kept gateway session to end with the MCP session');
});

test('a session belongs to its principal; a denial during access_status reaches the agent with the comment', async () => {
  const m = await connect(agent);
  const r = await fetch(`${a.server.apiUrl}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${bob}`, 'mcp-session-id': m.transport.sessionId!, 'mcp-protocol-version': m.transport.protocolVersion ?? '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
  });
  assert.equal(r.status, 403);

  const req = json(await m.call('request_access', { resource: 'shop', role: 'write', duration: '10m', reason: 'fix order 3' }));
  let denied: Promise<unknown> | null = null;
  const status = json(await m.call('access_status', { request_id: req.request_id }, () => {
    denied ??= a.api(bob, 'POST', `/api/v1/requests/${req.request_id}/deny`, { comment: 'no writes today, ask in #dba' });
  }));
  await denied;
  assert.equal(status.status, 'denied');
  assert.equal(status.comment, 'no writes today, ask in #dba');
});

test('revoking the grant takes query away (list_changed) and access_status says revoked, with the reason', async () => {
  const m = await connect(agent);
  const { grants } = json(await m.call('list_grants', {}));
  const g = grants.find((x: { resource: string }) => x.resource === 'shop');
  const changed = m.nextListChanged();
  await a.api(bob, 'POST', `/api/v1/grants/${g.grant_id}/revoke`, { reason: 'incident over' });
  await changed;
  assert.ok(!(await m.tools()).includes('query'));
  assert.match(text(await m.call('query', { resource: 'shop', sql: 'select 1' })), /^AIRLOCK_NO_GRANT: query needs an active grant on a postgres resource — /);
  const requests = await a.api<{ requests: { id: string; grant_id: string | null }[] }>(agent, 'GET', '/api/v1/requests');
  const req = requests.requests.find((x) => x.grant_id === g.grant_id)!;
  const s = json(await m.call('access_status', { request_id: req.id }));
  assert.equal(s.status, 'revoked');
  assert.equal(s.end_reason, 'incident over');
  await m.transport.terminateSession();
  const ends = await auditOf('mcp.session.end');
  assert.ok(ends.some((e) => e.actor === 'agent-7'));
});

test("a revoked grant's kept connection does not serve the query after a new grant", async () => {
  const m = await connect(agent);
  const grantOnce = async () => {
    const changed = m.nextListChanged();
    const req = json(await m.call('request_access', { resource: 'shop', role: 'read', duration: '10m', reason: 'OPS-12 pool check' }));
    await a.api(bob, 'POST', `/api/v1/requests/${req.request_id}/approve`, { comment: 'ok' });
    await changed;
    return json(await m.call('access_status', { request_id: req.request_id })).grant_id as string;
  };
  const g1 = await grantOnce();
  const before = await backendPid(m, 'regrant_a');
  const gone = m.nextListChanged();
  await a.api(bob, 'POST', `/api/v1/grants/${g1}/revoke`, { reason: 'rotate' });
  await gone;
  const g2 = await grantOnce();
  assert.notEqual(g2, g1);
  assert.notEqual(await backendPid(m, 'regrant_b'), before);
  const b = await statementTagged('regrant_b');
  assert.equal(b.grant_id, g2, 'the query ran under the new grant');
  assert.notEqual(b.session_id, (await statementTagged('regrant_a')).session_id);
  const { grants } = json(await m.call('list_grants', {}));
  await a.api(bob, 'POST', `/api/v1/grants/${grants.find((x: { resource: string }) => x.resource === 'shop').grant_id}/revoke`, { reason: 'test over' });
});

async function price(id: number): Promise<string> {
  const c = new pg.Client(db.url);
  await c.connect();
  try {
    return (await c.query<{ price: string }>('select price::text from orders where id = $1', [id])).rows[0]?.price ?? 'gone';
  } finally {
    await c.end();
  }
}

test('statement review: an UPDATE answers pending_review, review_status returns its result once a person approves, a replay is refused', async () => {
  const m = await connect(agent);
  const changed = m.nextListChanged();
  const req = json(await m.call('request_access', { resource: 'ledger', role: 'fix', duration: '10m', reason: 'reprice order 1' }));
  assert.equal(req.status, 'approved');
  assert.equal(req.approved_by_rule, true);
  await changed;
  assert.ok((await m.tools()).includes('review_status'), 'a role with statement review lists review_status');

  const sql = 'update orders set price = price + 100 where id = 1';
  // A kept connection first, so the held statement takes it: from then on it belongs to that statement.
  assert.equal(json(await m.call('query', { resource: 'ledger', sql: 'select 1 as review_before' })).status, 'ok');
  const held = json(await m.call('query', { resource: 'ledger', sql }));
  assert.equal(held.status, 'pending_review');
  assert.match(held.review_id, /^rev_/);
  assert.match(held.message, /review_status/);
  assert.equal(json(await m.call('query', { resource: 'ledger', sql })).review_id, held.review_id, 'the same statement again is the same review');
  assert.equal(await price(1), '1.50', 'nothing ran before the approval');

  const reviews = a.server.access.statementReviews;
  const bobCaller = { principal: a.server.access.policy().principal('bob')!, source: null, token_id: null };
  const progress: string[] = [];
  let approved: Promise<unknown> | null = null;
  const done = json(await m.call('review_status', { review_id: held.review_id, timeout_seconds: 60 }, (p) => {
    progress.push(p.message ?? '');
    approved ??= reviews.approve(bobCaller, held.review_id, 'one order, fine');
  }));
  await approved;
  assert.match(progress[0]!, /waits for review by group dba/);
  assert.equal(done.status, 'executed');
  assert.equal(done.command, 'UPDATE 1');
  assert.equal(await price(1), '101.50', 'the row changed once');
  const before = await statementTagged('review_before');
  const update = (await auditOf('statement')).filter((e) => e.details.review_id === held.review_id);
  assert.ok(update.length >= 1);
  assert.deepEqual([...new Set(update.map((e) => e.details.session_id))], [before.session_id], 'the held statement ran on the kept connection');
  assert.equal(json(await m.call('query', { resource: 'ledger', sql: 'select 1 as review_after' })).status, 'ok');
  assert.notEqual((await statementTagged('review_after')).session_id, before.session_id, 'a held statement\'s connection is not kept for later calls');

  const replay = await m.call('query', { resource: 'ledger', sql, review_id: held.review_id });
  assert.ok(replay.isError);
  assert.match(text(replay), /^AIRLOCK_REVIEW_USED: /);
  assert.equal(await price(1), '101.50', 'the replay did not run');
});

test('statement review: a denial reaches the agent with the comment; a revoke while a statement is held ends its wait', async () => {
  const m = await connect(agent);
  const held = json(await m.call('query', { resource: 'ledger', sql: 'delete from orders where id = 5' }));
  assert.equal(held.status, 'pending_review');
  const reviews = a.server.access.statementReviews;
  const bobCaller = { principal: a.server.access.policy().principal('bob')!, source: null, token_id: null };
  let denied: Promise<unknown> | null = null;
  const r = await m.call('review_status', { review_id: held.review_id }, () => {
    denied ??= reviews.deny(bobCaller, held.review_id, 'not on a Friday');
  });
  await denied;
  assert.ok(r.isError);
  assert.match(text(r), /^AIRLOCK_REVIEW_DENIED: .*not on a Friday/);
  assert.equal(await price(5), '7.50', 'the row is still there');

  const second = json(await m.call('query', { resource: 'ledger', sql: 'update orders set price = 0 where id = 4' }));
  const { grants } = json(await m.call('list_grants', {}));
  const g = grants.find((x: { resource: string }) => x.resource === 'ledger');
  let revoked: Promise<unknown> | null = null;
  const ended = await m.call('review_status', { review_id: second.review_id }, () => {
    revoked ??= a.api(bob, 'POST', `/api/v1/grants/${g.grant_id}/revoke`, { reason: 'change freeze' });
  });
  await revoked;
  assert.ok(ended.isError);
  assert.match(text(ended), /^AIRLOCK_[A-Z_]+: .*(revoked|change freeze)/);
  assert.equal(await price(4), '6.00');
});

test('an agent cannot approve a request, even one it can see', async () => {
  const carol = await a.token('carol');
  const req = await a.api<{ id: string }>(carol, 'POST', '/api/v1/requests', { resource: 'billing', role: 'read', duration: '10m', reason: 'OPS-9 invoices' });
  const r = await fetch(`${a.server.apiUrl}/api/v1/requests/${req.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 403);
  assert.equal(((await r.json()) as { code: string }).code, 'AIRLOCK_AGENT_CANNOT_APPROVE');
});

test('exec on an exec resource: listed with the grant, output and exit code, command rules refuse with their code', async () => {
  const m = await connect(agent);
  assert.ok(!(await m.tools()).includes('exec'));
  const changed = m.nextListChanged();
  assert.equal(json(await m.call('request_access', { resource: 'box', role: 'ops', duration: '5m', reason: 'look at the notes' })).status, 'approved');
  await changed;
  assert.ok((await m.tools()).includes('exec'));
  const echo = json(await m.call('exec', { resource: 'box', command: ['echo', 'hello', 'agent'] }));
  assert.equal(echo.stdout, 'hello agent\n');
  assert.equal(echo.exit_code, 0);
  const ls = json(await m.call('exec', { resource: 'box', command: 'ls' }));
  assert.equal(ls.stdout, 'notes.txt\n');
  const rm = await m.call('exec', { resource: 'box', command: ['rm', 'notes.txt'] });
  assert.ok(rm.isError);
  assert.match(text(rm), /^AIRLOCK_COMMAND_REFUSED: /);
  const sessions = await auditOf('session.start');
  assert.ok(sessions.some((e) => e.actor === 'agent-7' && e.target === 'box'), 'the exec front-end audited the session');
});

test('exec on an ssh resource goes through the SSH listener as principal%resource: output, exit code, refusals', async () => {
  const h = await startSshHarness();
  try {
    await h.grant('restricted');
    const m = await connect(await h.token('alice'), 'ssh-agent', h.airlock.server.apiUrl);
    assert.ok((await m.tools()).includes('exec'));
    const echo = json(await m.call('exec', { resource: 'bastion', command: ['echo', 'it is', "Bob's"] }));
    assert.equal(echo.stdout, "it is Bob's\n");
    assert.equal(echo.exit_code, 0);
    const refused = await m.call('exec', { resource: 'bastion', command: 'echo forbidden thing' });
    assert.ok(refused.isError, text(refused));
    assert.match(text(refused), /^AIRLOCK_COMMAND_REFUSED: the command was refused: the role refuses this command/);
    const starts = (await h.events('session.start')).filter((e) => e.actor === 'alice' && e.target === 'bastion');
    assert.ok(starts.length >= 1, 'the SSH gateway audited the session');
  } finally {
    await h.close();
  }
});
