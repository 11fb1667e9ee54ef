// Statement review's cost on what it does not hold: pgbench -S (SELECTs) through the PostgreSQL gateway on a role with
// `review: { statements: writes }` against the same role without review, on one Airlock and one PostgreSQL, in
// interleaved rounds; prints the TPS of each, the gateway process's CPU time per transaction (steadier than TPS on a
// shared machine: the gateway runs in this process, which does nothing else meanwhile) and the ratios (target: ≤ 2 %
// overhead). Then the time one held UPDATE takes from approval to its result.
// Run: node --import tsx bench/statement-review.bench.ts [--seconds 8] [--rounds 3] [--modes simple,extended,prepared]
//   [--clients 1,4] [--warmup 2]
import { spawn, execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { startAirlock } from '../test/support/in-process-server.js';
import { adminUrl, createTestDatabase } from '../test/support/pg.js';
import { list, median, num } from './support.js';
import { initInspect, makeInspector } from '../src/inspect/index.js';
import { needsReview } from '../src/gateway/core/statement-hold.js';

const SECONDS = num('seconds', 8);
const ROUNDS = num('rounds', 3);
const WARMUP = num('warmup', 2);
const MODES = list('modes', 'simple,extended,prepared');
const CLIENTS = list('clients', '1,4').map(Number);

/** pgbench as a child process (asynchronous: the gateway runs in this process and must go on serving). */
function pgbench(port: number, dbname: string, token: string, mode: string, clients: number, seconds: number): Promise<{ tps: number; cpuUsPerTx: number }> {
  const cpu0 = process.cpuUsage();
  const args = ['-S', '-n', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-h', '127.0.0.1', '-p', String(port), '-U', 'alice', dbname];
  return new Promise((resolve, reject) => {
    const child = spawn('pgbench', args, { env: { PATH: process.env.PATH, HOME: tmpdir(), PGPASSWORD: token, PGSSLMODE: 'require' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const cpu = process.cpuUsage(cpu0);
      const tps = /tps = ([\d.]+)/.exec(out)?.[1];
      const tx = /number of transactions actually processed: (\d+)/.exec(out)?.[1];
      if (tps && tx) resolve({ tps: Number(tps), cpuUsPerTx: (cpu.user + cpu.system) / Number(tx) });
      else reject(new Error(`pgbench failed: ${out}`));
    });
  });
}

async function main(): Promise<void> {
  const db = await createTestDatabase('airlock_bench_review');
  const up = new URL(adminUrl());
  execFileSync('pgbench', ['-i', '-q', '-s', '1', db.url], { stdio: 'ignore' });
  const role = (name: string, resource: string, review: string) => `
  - name: ${name}
    resources: { names: [${resource}] }
    privileges: { sql: write }
    max_duration: 8h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }${review}`;
  const resource = (name: string) => `  - { name: ${name}, kind: postgres, address: "${up.hostname}:${up.port || 5432}", database: ${db.name}, credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: BENCH_REVIEW_PG_PASSWORD }, mode: injected } }`;
  const a = await startAirlock({
    env: { BENCH_REVIEW_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
${resource('plain')}
${resource('reviewed')}
roles:${role('plain', 'plain', '')}${role('reviewed', 'reviewed', '\n    review: { statements: writes, approver_groups: [dba], timeout: 15m }')}
`,
  });
  try {
    const alice = await a.token('alice');
    const bob = await a.token('bob');
    await a.grant(alice, bob, 'plain', 'plain', '8h');
    await a.grant(alice, bob, 'reviewed', 'reviewed', '8h');
    const port = a.gateway.port;
    const targets = ['plain', 'reviewed'];
    for (const mode of WARMUP > 0 ? MODES : []) for (const t of targets) await pgbench(port, t, alice, mode, Math.max(...CLIENTS), WARMUP);
    console.log(`# pgbench -S through the gateway (TLS), ${SECONDS}s per run, ${ROUNDS} interleaved round(s), medians; CPU = the gateway process's user+system µs per transaction`);
    console.log('| mode | clients | TPS without review | TPS review: writes | TPS with ÷ without | CPU without | CPU with | CPU with ÷ without |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const mode of MODES) {
      for (const clients of CLIENTS) {
        const runs: Record<string, { tps: number; cpuUsPerTx: number }[]> = { plain: [], reviewed: [] };
        for (let r = 0; r < ROUNDS; r++) {
          for (const t of r % 2 ? [...targets].reverse() : targets) runs[t]!.push(await pgbench(port, t, alice, mode, clients, SECONDS));
        }
        const tps = (t: string) => median(runs[t]!.map((x) => x.tps));
        const cpu = (t: string) => median(runs[t]!.map((x) => x.cpuUsPerTx));
        console.log(`| ${mode} | ${clients} | ${tps('plain').toFixed(0)} | ${tps('reviewed').toFixed(0)} | ${(tps('reviewed') / tps('plain')).toFixed(3)} | ${cpu('plain').toFixed(1)} | ${cpu('reviewed').toFixed(1)} | ${(cpu('reviewed') / cpu('plain')).toFixed(3)} |`);
      }
    }

    // What review adds to each statement it does not hold, measured alone (steady however loaded the machine is).
    await initInspect();
    const d = makeInspector({}).inspect('SELECT abalance FROM pgbench_accounts WHERE aid = 4711;');
    const n = 2_000_000;
    let held = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (needsReview('writes', d)) held++;
    const ns = Number(process.hrtime.bigint() - t0) / n;
    console.log(`\n# needsReview('writes', …) on that SELECT's decision, alone: ${ns.toFixed(1)} ns per statement (${held ? 'held' : 'not held'} without a catalog)`);

    // One held UPDATE: from the approval to its result, 10 times (the review service's round trip, not a person).
    const reviews = a.server.access.statementReviews;
    const approver = { principal: a.server.access.policy().principal('bob')!, source: null, token_id: null };
    const c = a.client(alice, 'alice', 'reviewed');
    const ms: number[] = [];
    let onHeld: ((id: string) => void) | null = null;
    c.on('notice', (m) => {
      const id = /rev_[a-z0-9]+/i.exec(m.message ?? '')?.[0];
      if (id && onHeld) onHeld(id);
    });
    await c.connect();
    for (let i = 0; i < 10; i++) {
      const id = new Promise<string>((resolve) => (onHeld = resolve));
      const q = c.query('update pgbench_accounts set abalance = abalance + 1 where aid = 1');
      const rid = await id;
      const t0 = performance.now();
      await reviews.approve(approver, rid, null);
      await q;
      ms.push(performance.now() - t0);
    }
    await c.end();
    console.log(`\n# held UPDATE, approve() call to the client's result: median ${median(ms).toFixed(1)} ms (10 runs)`);
  } finally {
    await a.stop();
    await db.drop();
  }
}

await main();
