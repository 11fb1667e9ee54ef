// MCP query benchmark: the round trip of a one-row SELECT as an agent makes it — the MCP SDK's Client over Streamable
// HTTP to a real `airlock server` process, whose query tool runs it through the server's own PostgreSQL gateway (on
// the MCP session's kept gateway connection after the first call) — against pg straight to the same PostgreSQL in the
// same run, interleaved: on one kept connection (the floor) and on a new connection per query (what the MCP path paid
// per call before it kept its gateway connection).
// Run: node --import tsx bench/mcp-query.bench.ts [--queries 300] [--rounds 3] [--warmup 30]
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startServerProcess, apiJson as api } from '../test/support/server-process.js';
import { createTestDatabase, adminUrl } from '../test/support/pg.js';
import { num } from './support.js';

const QUERIES = num('queries', 300);
const ROUNDS = num('rounds', 3);
const WARMUP = num('warmup', 30);
const SQL = 'select 1 as one';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const ms = (x: number) => x.toFixed(2).padStart(8);

async function main(): Promise<void> {
  const db = await createTestDatabase('airlock_mcpbench');
  const up = new URL(adminUrl());
  const server = await startServerProcess({
    env: { MCP_BENCH_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth', AIRLOCK_LOG_LEVEL: 'error' },
    policy: `
version: 1
principals:
  - { name: bench-agent, kind: agent, groups: [agents] }
resources:
  - name: bench
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: MCP_BENCH_PG_PASSWORD }, mode: per_grant_role }
roles:
  - name: read
    resources: { names: [bench] }
    privileges: { sql: read }
    max_duration: 8h
    requestable_by: { groups: [agents] }
    approval: { approver_groups: [agents], auto_approve: [{ requester_groups: [agents] }] }
    justification: { required: false }
`,
  });
  const token = (await api<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'bench-agent', ttl: '8h' })).token;
  const mcp = new Client({ name: 'mcp-query-bench', version: '1' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  const asked = (await mcp.callTool({ name: 'request_access', arguments: { resource: 'bench', role: 'read', duration: '8h', reason: 'benchmark' } })) as CallToolResult;
  if (asked.isError) throw new Error(JSON.stringify(asked.content));
  const directUrl = new URL(db.url);
  const kept = new pg.Client({ connectionString: directUrl.toString() });
  await kept.connect();

  const targets: Record<string, () => Promise<void>> = {
    'pg direct, kept connection': async () => {
      await kept.query(SQL);
    },
    'pg direct, new connection': async () => {
      const c = new pg.Client({ connectionString: directUrl.toString() });
      await c.connect();
      await c.query(SQL);
      await c.end();
    },
    // The MCP round trip alone (HTTP, session, audit of the call), to tell it from the gateway connection's cost.
    'MCP list_grants (no SQL)': async () => {
      await mcp.callTool({ name: 'list_grants', arguments: {} });
    },
    'MCP query over HTTP': async () => {
      const r = (await mcp.callTool({ name: 'query', arguments: { resource: 'bench', sql: SQL } })) as CallToolResult;
      if (r.isError) throw new Error(JSON.stringify(r.content));
    },
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (const run of Object.values(targets)) for (let i = 0; i < WARMUP; i++) await run();
  // Interleaved: each round runs every target in turn, so drift on a shared machine hits all of them alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(targets)) {
      for (let i = 0; i < QUERIES / ROUNDS; i++) {
        const t = performance.now();
        await run();
        samples[name]!.push(performance.now() - t);
      }
    }
  }

  const p = (name: string, q: number) => pct(samples[name]!, q);
  console.log(`one-row SELECT round trips (${samples['MCP query over HTTP']!.length} each, ${ROUNDS} interleaved rounds, ${WARMUP} warm-up), ms`);
  console.log(`${'target'.padEnd(30)}      p50      p95      p99`);
  for (const name of Object.keys(targets)) console.log(`${name.padEnd(30)} ${ms(p(name, 50))} ${ms(p(name, 95))} ${ms(p(name, 99))}`);
  const mcpName = 'MCP query over HTTP';
  for (const base of ['pg direct, kept connection', 'pg direct, new connection']) {
    console.log(`added by MCP vs ${base}: p50 ${(p(mcpName, 50) - p(base, 50)).toFixed(2)} ms, p95 ${(p(mcpName, 95) - p(base, 95)).toFixed(2)} ms (ratio p50 ${(p(mcpName, 50) / p(base, 50)).toFixed(1)}×)`);
  }

  await kept.end();
  await mcp.close();
  await server.stop();
  await db.drop();
}

await main();
