// `airlock mcp` as an agent's MCP client starts it: the SDK's StdioClientTransport spawns `node bin/airlock.js mcp`
// against a real server process; the agent lists its tools, asks for access, a person approves with the CLI, and the
// agent's query returns rows from a real PostgreSQL. And what the agent's log shows when the token or server is wrong.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { BIN, apiJson, cli, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';

let server: ServerProcess;
let db: TestDatabase;
let agentToken: string;
let bobToken: string;
const configDir = mkdtempSync(join(tmpdir(), 'airlock-mcp-stdio-'));

before(async () => {
  db = await createTestDatabase('airlock_mcpio');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query("create table tickets (id int primary key, title text); insert into tickets values (1, 'printer on fire'), (2, 'vpn slow')");
  await c.end();
  const up = new URL(adminUrl());
  server = await startServerProcess({
    env: { MCP_E2E_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' },
    policy: `
version: 1
principals:
  - { name: helper-bot, kind: agent, groups: [agents], sponsor: bob }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
resources:
  - name: helpdesk
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: MCP_E2E_PG_PASSWORD }, mode: per_grant_role }
roles:
  - name: read
    resources: { names: [helpdesk] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [agents] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
`,
  });
  agentToken = (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'helper-bot', ttl: '1h' })).token;
  bobToken = (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;
});

after(async () => {
  const { grants } = await apiJson<{ grants: { id: string }[] }>(server, server.adminToken, 'GET', '/api/v1/grants?active=true').catch(() => ({ grants: [] }));
  for (const g of grants) await apiJson(server, server.adminToken, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'test done' }).catch(() => {});
  await server?.stop();
  await db?.drop();
});

function text(r: CallToolResult): string {
  const c = r.content[0];
  return c && c.type === 'text' ? c.text : '';
}

/** `airlock mcp` run directly, as a misconfigured client would: its exit code, stdout and stderr. */
function runMcp(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'mcp'], { env: { ...process.env, AIRLOCK_CONFIG_DIR: configDir, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('list → request → approval with the CLI → query, all through `airlock mcp` on stdio', async () => {
  const stderr: string[] = [];
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], env: { ...process.env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: agentToken, AIRLOCK_CONFIG_DIR: configDir } as Record<string, string>, stderr: 'pipe' });
  transport.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const client = new Client({ name: 'stdio-agent', version: '0.1' });
  let changed: () => void = () => {};
  const listChanged = new Promise<void>((r) => (changed = r));
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => changed());
  await client.connect(transport);
  try {
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['access_status', 'list_grants', 'list_resources', 'request_access']);
    const early = (await client.callTool({ name: 'query', arguments: { resource: 'helpdesk', sql: 'select 1' } })) as CallToolResult;
    assert.equal(early.isError, true);
    assert.match(text(early), /^AIRLOCK_NO_GRANT: query needs an active grant on a postgres resource — list_resources shows what you may request; request one with request_access$/);
    const req = JSON.parse(text((await client.callTool({ name: 'request_access', arguments: { resource: 'helpdesk', role: 'read', duration: '15m', reason: 'look at open tickets' } })) as CallToolResult));
    assert.equal(req.status, 'pending');

    const progress: string[] = [];
    let approval: ReturnType<typeof cli> | null = null;
    const waited = (await client.callTool({ name: 'access_status', arguments: { request_id: req.request_id, timeout_seconds: 120 } }, undefined, {
      resetTimeoutOnProgress: true,
      onprogress: (p) => {
        progress.push(p.message ?? '');
        approval ??= cli(server, bobToken, ['approve', req.request_id, '--comment', 'ok for the helpdesk'], { env: { AIRLOCK_CONFIG_DIR: configDir } });
      },
    })) as CallToolResult;
    const approved = await approval!;
    assert.equal(approved.code, 0, approved.stderr);
    assert.ok(progress.length >= 1, 'progress notifications crossed the bridge');
    assert.equal(JSON.parse(text(waited)).status, 'approved');

    await listChanged;
    assert.ok((await client.listTools()).tools.some((t) => t.name === 'query'), 'list_changed crossed the bridge and query is listed');
    const rows = JSON.parse(text((await client.callTool({ name: 'query', arguments: { resource: 'helpdesk', sql: 'select id, title from tickets order by id' } })) as CallToolResult));
    assert.deepEqual(rows.rows, [{ id: 1, title: 'printer on fire' }, { id: 2, title: 'vpn slow' }]);
    assert.match(stderr.join(''), /serving MCP on stdio for helper-bot \(agent\)/);

    // The server forgets the session (as after a restart): the bridge opens a new one and the agent carries on.
    const started = await apiJson<{ events: { actor: string; details: { session_id: string } }[] }>(server, server.adminToken, 'GET', '/api/v1/audit/events?action=mcp.session.start');
    const sessionId = started.events.filter((e) => e.actor === 'helper-bot').at(-1)!.details.session_id;
    const gone = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${agentToken}`, 'mcp-session-id': sessionId } });
    assert.equal(gone.status, 200);
    const again = JSON.parse(text((await client.callTool({ name: 'list_grants', arguments: {} })) as CallToolResult));
    assert.equal(again.grants[0].resource, 'helpdesk');
    assert.match(stderr.join(''), /the server had ended the MCP session; a new one was opened/);
  } finally {
    await client.close();
  }
  const audit = await apiJson<{ events: { action: string; actor: string; details: Record<string, unknown> }[] }>(server, server.adminToken, 'GET', '/api/v1/audit/events?action=mcp.session.start');
  assert.ok(audit.events.some((e) => e.actor === 'helper-bot' && e.details.transport === 'stdio' && (e.details.client as { name: string }).name === 'stdio-agent'), JSON.stringify(audit.events));
});

test('a wrong token or an unreachable server: a clear line on stderr, nothing on stdout, a non-zero exit', async () => {
  const bad = await runMcp({ AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: 'alk_not-a-token' });
  assert.notEqual(bad.code, 0);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /airlock mcp: the token was refused by http:\/\/127\.0\.0\.1:\d+: .*\[AIRLOCK_TOKEN_INVALID\]/);

  const down = await runMcp({ AIRLOCK_SERVER: 'http://127.0.0.1:9', AIRLOCK_TOKEN: agentToken });
  assert.equal(down.code, 1);
  assert.equal(down.stdout, '');
  assert.match(down.stderr, /airlock mcp: Cannot reach Airlock at http:\/\/127\.0\.0\.1:9/);

  const none = await runMcp({ AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: '' });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no access token/);
});
