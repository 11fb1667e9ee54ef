// The whole agent flow exactly as docs/agents.md sets it up: its policy (pointed at a real test database), its token
// command, its Claude Desktop configuration (command `airlock mcp` with AIRLOCK_SERVER and AIRLOCK_TOKEN), and then
// what the page says the agent sees: four tools, a request the sponsor approves with the CLI, new tools, a query, an
// UPDATE held for the DBA's review of that exact statement, its result after `airlock approve rev_…`, a refused replay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { BIN, cli, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';

const DOC = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'agents.md'), 'utf8');
const configDir = mkdtempSync(join(tmpdir(), 'airlock-agents-doc-'));

let server: ServerProcess;
let db: TestDatabase;

/** The first fenced block of a language in docs/agents.md. */
function block(lang: string): string {
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(DOC);
  assert.ok(m, `docs/agents.md has a ${lang} block`);
  return m[1]!;
}

function text(r: CallToolResult): string {
  const c = r.content[0];
  return c && c.type === 'text' ? c.text : '';
}

async function orderStatus(id: number): Promise<string> {
  const c = new pg.Client(db.url);
  await c.connect();
  try {
    return (await c.query('select status from orders where id = $1', [id])).rows[0].status;
  } finally {
    await c.end();
  }
}

before(async () => {
  db = await createTestDatabase('airlock_agentdoc');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query("create table orders (id int primary key, status text not null); insert into orders values (4411, 'stuck'), (4412, 'shipped')");
  await c.end();

  // The page's policy, with its one resource pointed at the test database.
  const policy = parse(block('yaml')) as { resources: Record<string, unknown>[] };
  const up = new URL(adminUrl());
  const orders = policy.resources.find((r) => r.name === 'prod-orders')!;
  assert.ok(orders, 'the policy in docs/agents.md has the prod-orders resource the page talks about');
  Object.assign(orders, { address: `${up.hostname}:${up.port || 5432}`, database: db.name, credential: { username: decodeURIComponent(up.username) || 'postgres', password: { env: 'ORDERS_ADMIN_PASSWORD' } } });
  server = await startServerProcess({ policy: stringify(policy), env: { ORDERS_ADMIN_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' } });
});

after(async () => {
  await server?.stop();
  await db?.drop();
});

/** Runs one of the page's `airlock token create …` lines (with --json) as an admin, and returns the token. */
async function tokenFor(principal: string): Promise<string> {
  const line = /airlock token create --principal support-agent --ttl (\S+) --label "([^"]+)"/.exec(block('sh'));
  assert.ok(line, 'docs/agents.md shows how to make the agent a token');
  const r = await cli(server, server.adminToken, ['token', 'create', '--principal', principal, '--ttl', line[1]!, '--label', line[2]!, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

test('docs/agents.md: an agent set up as the page says requests, queries, and gets a reviewed UPDATE run once', async () => {
  const agentToken = await tokenFor('support-agent');
  const danaToken = await tokenFor('dana');

  // Claude Desktop's configuration from the page: the command and args it names, with its env.
  const desktop = JSON.parse(/```json\n([\s\S]*?)```/.exec(DOC)![1]!) as { mcpServers: { airlock: { command: string; args: string[]; env: Record<string, string> } } };
  const entry = desktop.mcpServers.airlock;
  assert.equal(entry.command, 'airlock');
  assert.deepEqual(entry.args, ['mcp']);
  assert.deepEqual(Object.keys(entry.env).sort(), ['AIRLOCK_SERVER', 'AIRLOCK_TOKEN']);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, ...entry.args],
    env: { ...process.env, AIRLOCK_CONFIG_DIR: configDir, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: agentToken } as Record<string, string>,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'claude-desktop-like', version: '1.0' });
  let changed: () => void = () => {};
  const listChanged = new Promise<void>((r) => (changed = r));
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => changed());
  await client.connect(transport);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  try {
    // 1. Start: the four tools the page lists.
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['access_status', 'list_grants', 'list_resources', 'request_access']);

    // 2. Looking around: both roles, the write role's statement review.
    const listed = text(await call('list_resources', {}));
    assert.match(listed, /orders-read/);
    assert.match(listed, /orders-fix/);

    // 3./4. Asking for the write role: pending with the sponsor named; dana approves with the CLI while the agent waits.
    const req = JSON.parse(text(await call('request_access', { resource: 'prod-orders', role: 'orders-fix', duration: '30m', reason: 'SUP-81 order 4411 is stuck in status stuck' })));
    assert.equal(req.status, 'pending');
    assert.match(JSON.stringify(req), /dana/, 'the sponsor is named to the agent');
    let approval: ReturnType<typeof cli> | null = null;
    const waited = (await client.callTool({ name: 'access_status', arguments: { request_id: req.request_id, timeout_seconds: 120 } }, undefined, {
      resetTimeoutOnProgress: true,
      onprogress: () => {
        approval ??= cli(server, danaToken, ['approve', req.request_id, '--comment', 'go ahead, statement by statement']);
      },
    })) as CallToolResult;
    const approved = await approval!;
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(JSON.parse(text(waited)).status, 'approved');

    // 5. New tools.
    await listChanged;
    const tools = (await client.listTools()).tools.map((t) => t.name);
    for (const t of ['query', 'describe_database', 'review_status']) assert.ok(tools.includes(t), `${t} is listed with the grant: ${tools.join(', ')}`);

    // 6. Working: reads run at once.
    const rows = JSON.parse(text(await call('query', { resource: 'prod-orders', sql: 'select id, status from orders order by id' })));
    assert.deepEqual(rows.rows, [{ id: 4411, status: 'stuck' }, { id: 4412, status: 'shipped' }]);

    // 7. A write is held for the DBA's review of that exact statement.
    const sql = "update orders set status = 'shipped' where id = 4411";
    const held = JSON.parse(text(await call('query', { resource: 'prod-orders', sql })));
    assert.equal(held.status, 'pending_review');
    assert.equal(await orderStatus(4411), 'stuck', 'nothing ran before the approval');
    const shown = await cli(server, danaToken, ['reviews', 'show', held.review_id, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    const review = JSON.parse(shown.stdout) as { statement: string; principal: string; sponsor: string | null };
    assert.equal(review.statement, sql, 'the reviewer reads the exact statement, literals and all');
    assert.equal(review.principal, 'support-agent');
    assert.equal(review.sponsor, 'dana');
    const self = await cli(server, agentToken, ['approve', held.review_id]);
    assert.notEqual(self.code, 0, 'the agent cannot approve its own statement');
    assert.match(self.stderr, /AIRLOCK_SELF_REVIEW|AIRLOCK_AGENT_CANNOT_APPROVE/);

    let ok: ReturnType<typeof cli> | null = null;
    const result = (await client.callTool({ name: 'review_status', arguments: { review_id: held.review_id, timeout_seconds: 120 } }, undefined, {
      resetTimeoutOnProgress: true,
      onprogress: () => {
        ok ??= cli(server, danaToken, ['approve', held.review_id, '--comment', 'one order, fine']);
      },
    })) as CallToolResult;
    const okRun = await ok!;
    assert.equal(okRun.code, 0, okRun.stderr);
    assert.ok(!result.isError, text(result));
    assert.equal(JSON.parse(text(result)).command, 'UPDATE 1', text(result));
    assert.equal(await orderStatus(4411), 'shipped');

    // A replay of the used approval is refused; the same statement asked again waits for a new review.
    const replay = await call('query', { resource: 'prod-orders', sql, review_id: held.review_id });
    assert.ok(replay.isError);
    assert.match(text(replay), /^AIRLOCK_REVIEW_USED/);
  } finally {
    await client.close();
  }

  // Everything above is in the audit log, and the chain verifies.
  const verify = await cli(server, server.adminToken, ['audit', 'verify', '--json']);
  assert.equal(verify.code, 0, verify.stderr);
  const events = await cli(server, server.adminToken, ['audit', 'export']);
  for (const action of ['mcp.session.start', 'mcp.tool.call', 'request.create', 'review.requested', 'review.approved', 'review.executed']) {
    assert.ok(events.stdout.includes(`"${action}"`), `audited: ${action}`);
  }
});
