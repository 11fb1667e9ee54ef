// PostgreSQL column masking benchmark (issue 17): what masking costs the gateway. One Airlock server process, one
// database with a table of 1,000 rows × 10 columns (ids, names, e-mails, phones, cities, amounts, timestamps) and
// three roles on the same resource — `plain` (no masking), `masked` (email: email, phone: partial) and
// `masked_hash` (email: email, phone: hash) — each held by its own principal through an auto-approved grant.
// pgbench runs `SELECT * FROM t` through the gateway for each role in interleaved rounds (every other round in
// reverse order), in the simple and the extended protocol; the gateway process's CPU time (/proc/PID/stat) over each
// run ÷ the rows delivered is its CPU per row. Then a ~1 GB result (1,000,000 rows of ~1 KB with a masked column) is
// read through the masked role, and through the plain one, while the gateway's RSS is sampled.
// Run: node --import tsx bench/pg-masking.bench.ts [--seconds 6] [--rounds 4] [--clients 4] [--warmup 3]
//   [--modes simple,extended] [--big-rows 1000000] [--tls] [--skip-memory]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { startServerProcess, apiJson as api, rssKb } from '../test/support/server-process.js';
import { createTestDatabase, adminUrl } from '../test/support/pg.js';
import { cpuUs, flag, list, median, num, pgbench } from './support.js';

const SECONDS = num('seconds', 6);
const ROUNDS = num('rounds', 4);
const CLIENTS = num('clients', 4);
const WARMUP = num('warmup', 3);
const MODES = list('modes', 'simple,extended');
/** Rows of ~1 KB in the big result (1,000,000 ≈ 1 GB). */
const BIG_ROWS = num('big-rows', 1_000_000);
/** Clients talk TLS to the gateway (default: plain TCP on loopback, so the figures are the gateway's own work). */
const TLS = flag('tls');
const TABLE_ROWS = 1000;
if (MODES.some((m) => !['simple', 'extended', 'prepared'].includes(m))) throw new Error(`--modes ${MODES.join(',')}: each one of simple, extended, prepared`);

/** Role, the principal holding a grant of it, and what it masks. */
const ROLES = [
  { role: 'plain', principal: 'carol', label: 'no masking' },
  { role: 'masked', principal: 'alice', label: 'email: email, phone: partial' },
  { role: 'masked_hash', principal: 'dave', label: 'email: email, phone: hash' },
] as const;
type Role = (typeof ROLES)[number]['role'];

function policy(host: string, port: number, database: string): string {
  const role = (name: string, masking: string) => `
  - name: ${name}
    resources: { names: [bench] }
    privileges: { sql: read }
    max_duration: 8h
    requestable_by: { groups: [${name}] }
    approval: { approver_groups: [${name}], auto_approve: [{ requester_groups: [${name}] }] }
    justification: { required: false }${masking}`;
  return `
version: 1
principals:
${ROLES.map((r) => `  - { name: ${r.principal}, groups: [${r.role}] }`).join('\n')}
resources:
  - name: bench
    kind: postgres
    address: "${host}:${port}"
    database: ${database}
    credential: { username: postgres, password: { env: BENCH_PG_PASSWORD }, mode: injected }
    tls: { mode: disable }
roles:${role('plain', '')}${role('masked', `
    masking:
      columns:
        - { column: t.email, method: email }
        - { column: t.phone, method: partial, keep: 4 }`)}${role('masked_hash', `
    masking:
      columns:
        - { column: t.email, method: email }
        - { column: t.phone, method: hash, key: { env: BENCH_MASK_KEY } }`)}
`;
}

const TABLE = `
create table t (
  id bigint primary key,
  customer_ref uuid not null,
  full_name text not null,
  email text not null,
  phone text not null,
  city text not null,
  country char(2) not null,
  balance numeric(12, 2) not null,
  created_at timestamptz not null,
  last_login timestamptz
);
insert into t
select g, md5(g::text)::uuid, (array['Jane', 'Max', 'Aiko', 'Olu', 'Marta'])[1 + g % 5] || ' ' || (array['Doe', 'Mustermann', 'Tanaka', 'Adeyemi', 'Nowak', 'Rossi'])[1 + g % 6],
  'customer.' || g || '@example' || (g % 7) || '.com', '+49 30 ' || lpad((g * 7919 % 10000000)::text, 7, '0'),
  (array['Berlin', 'Hamburg', 'München', 'Köln', 'Frankfurt am Main'])[1 + g % 5], (array['DE', 'AT', 'CH'])[1 + g % 3],
  (g * 7919 % 1000000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '17 minutes 3 seconds',
  case when g % 10 = 0 then null else timestamptz '2026-11-01 00:00:00+00' + g * interval '3 minutes 7 seconds' end
from generate_series(1, ${TABLE_ROWS}) g;
analyze t;
`;

interface Sample {
  rowsPerS: number;
  cpuUsPerRow: number;
}

async function main(): Promise<void> {
  if (spawnSync('which', ['pgbench']).status !== 0) throw new Error('pgbench is not on PATH (Debian: postgresql-client)');
  const db = await createTestDatabase('airlock_benchmask');
  const base = new URL(adminUrl());
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-mask-'));
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(TABLE);
  await admin.end();
  const server = await startServerProcess({
    policy: policy(base.hostname, Number(base.port || 5432), db.name),
    env: { BENCH_PG_PASSWORD: decodeURIComponent(base.password) || 'unused-with-trust-auth', BENCH_MASK_KEY: 'bench-mask-key-0123456789abcdef0123', AIRLOCK_LOG_LEVEL: 'error' },
    extraArgs: TLS ? [] : ['--pg-allow-loopback-cleartext'],
  });
  const pid = server.child.pid!;
  try {
    const gw = await api<{ postgres: { port: number } }>(server, server.adminToken, 'GET', '/api/v1/gateways');
    const tokens = {} as Record<Role, string>;
    for (const r of ROLES) {
      tokens[r.role] = (await api<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: r.principal, ttl: '8h' })).token;
      const req = await api<{ status: string }>(server, tokens[r.role], 'POST', '/api/v1/requests', { resource: 'bench', role: r.role, duration: '8h', reason: 'benchmark' });
      if (req.status !== 'approved') throw new Error(`the ${r.role} request was not auto-approved: ${JSON.stringify(req)}`);
    }
    const principal = (role: Role) => ROLES.find((r) => r.role === role)!.principal;
    const connArgs = (role: Role) => ['-h', '127.0.0.1', '-p', String(gw.postgres.port), '-U', principal(role), 'bench'];
    const env = (role: Role) => ({ PGPASSWORD: tokens[role], PGSSLMODE: TLS ? 'require' : 'disable' });

    // The bench checks what it measures: each role sees what it should of the same row.
    const seen = {} as Record<Role, string>;
    for (const r of ROLES) {
      const out = spawnSync('psql', ['-XAtq', '-c', 'select email, phone from t where id = 42', ...connArgs(r.role)], { env: { ...process.env, ...env(r.role) }, encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`psql as ${r.role}: ${out.stderr}`);
      seen[r.role] = out.stdout.trim();
    }
    const want = { plain: /^customer\.42@example0\.com\|\+49 30 \d{7}$/, masked: /^\*\*\*\*@example0\.com\|\*\*\*\*\d{4}$/, masked_hash: /^\*\*\*\*@example0\.com\|h:[0-9a-f]{24}$/ };
    for (const r of ROLES) if (!want[r.role].test(seen[r.role])) throw new Error(`${r.role} sees ${seen[r.role]}`);
    console.log(`# row 42 as each role sees it: ${ROLES.map((r) => `${r.role} ${seen[r.role]}`).join('; ')}`);

    const script = join(dir, 'select.sql');
    writeFileSync(script, 'SELECT * FROM t;\n');
    const run = (role: Role, mode: string, seconds: number) => pgbench(['-n', '-f', script, '-M', mode, '-c', String(CLIENTS), '-j', String(Math.min(CLIENTS, 2)), '-T', String(seconds), ...connArgs(role)], env(role));
    for (const mode of WARMUP > 0 ? MODES : []) for (const r of ROLES) run(r.role, mode, WARMUP);

    console.log(`# Node ${process.version}, ${cpus().length} CPU(s), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start; clients over ${TLS ? 'TLS' : 'plain TCP (loopback)'}`);
    console.log(`# pgbench -f (SELECT * FROM t: ${TABLE_ROWS} rows × 10 columns), ${CLIENTS} clients, ${SECONDS}s per run after ${WARMUP}s of warm-up, ${ROUNDS} interleaved rounds (every other one reversed), medians`);
    const rows: string[] = [];
    const paired: string[] = [];
    const summary: string[] = [];
    for (const mode of MODES) {
      const samples = Object.fromEntries(ROLES.map((r) => [r.role, [] as Sample[]])) as Record<Role, Sample[]>;
      for (let round = 0; round < ROUNDS; round++) {
        for (const r of round % 2 === 0 ? ROLES : [...ROLES].reverse()) {
          const before = cpuUs(pid);
          const t0 = performance.now();
          const res = run(r.role, mode, SECONDS);
          const seconds = (performance.now() - t0) / 1000;
          const after = cpuUs(pid);
          const delivered = res.transactions * TABLE_ROWS;
          samples[r.role].push({ rowsPerS: delivered / seconds, cpuUsPerRow: (after.user + after.sys - before.user - before.sys) / delivered });
        }
      }
      const cpu = (role: Role) => median(samples[role].map((s) => s.cpuUsPerRow));
      for (const r of ROLES) {
        const ratio = r.role === 'plain' ? '1' : `**${(cpu(r.role) / cpu('plain')).toFixed(2)}**`;
        rows.push(`| ${mode} | ${r.role} (${r.label}) | ${median(samples[r.role].map((s) => s.rowsPerS)).toFixed(0)} | ${cpu(r.role).toFixed(3)} | ${ratio} |`);
      }
      // Each masked run ÷ the plain run of the same round (seconds apart).
      const per = (role: Role) => samples[role].map((s, i) => s.cpuUsPerRow / samples.plain[i]!.cpuUsPerRow);
      for (const role of ['masked', 'masked_hash'] as const) {
        const rs = per(role);
        paired.push(`| ${mode} | ${role} | ${rs.map((x) => x.toFixed(2)).join(', ')} | ${median(rs).toFixed(2)} |`);
        summary.push(`${mode} ${role} +${((median(rs) - 1) * 100).toFixed(0)} %`);
      }
    }
    console.log('| protocol | role | rows/s | gateway CPU µs/row (user + sys) | CPU/row ÷ no masking |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(r);
    console.log('\n# gateway CPU per row, masked ÷ no masking, paired within each round (rounds in order)');
    console.log('| protocol | role | per round | median |');
    console.log('| --- | --- | --- | --- |');
    for (const r of paired) console.log(r);
    console.log(`\n# extra gateway CPU per row for masking (median of paired rounds; target ≤ 30 %): ${summary.join('; ')}`);

    if (!flag('skip-memory')) {
      console.log(`\n# a ${(BIG_ROWS / 1e6).toFixed(1)}M-row result of ~1 KB rows (t.email masked for masked) read by node-postgres (row events, nothing kept), gateway RSS sampled every 50 ms`);
      console.log('| role | rows | MB sent | seconds | RSS before | peak | after | growth (peak − before) |');
      console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const role of ['masked', 'plain'] as const) {
        const c = new pg.Client({ host: '127.0.0.1', port: gw.postgres.port, user: principal(role), password: tokens[role], database: 'bench', ssl: TLS ? { rejectUnauthorized: false } : false });
        await c.connect();
        try {
          await bigResult(c, 2000); // warm: the first large result of a session sets up its paths once
          const before = rssKb(pid);
          let peak = before;
          const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
          const t0 = performance.now();
          const r = await bigResult(c, BIG_ROWS);
          const seconds = (performance.now() - t0) / 1000;
          clearInterval(sampler);
          peak = Math.max(peak, rssKb(pid));
          const after = rssKb(pid);
          if (r.rows !== BIG_ROWS) throw new Error(`${role}: ${r.rows} rows of ${BIG_ROWS}`);
          if ((role === 'masked') !== r.firstEmail.startsWith('****@')) throw new Error(`${role}: first email ${r.firstEmail}`);
          const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
          console.log(`| ${role} | ${r.rows} | ${(r.bytes / 1e6).toFixed(0)} | ${seconds.toFixed(1)} | ${mb(before)} | ${mb(peak)} | ${mb(after)} | **${mb(peak - before)}** |`);
        } finally {
          await c.end();
        }
      }
    }
  } finally {
    await server.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `rows` rows of ~1 KB (t.email, then 1,000 bytes of padding) in one simple-protocol query, counted as they come. */
function bigResult(c: pg.Client, rows: number): Promise<{ rows: number; bytes: number; firstEmail: string }> {
  const per = Math.ceil(rows / TABLE_ROWS);
  const sql = `select t.id, t.email, repeat('x', 1000) as pad from t cross join generate_series(1, ${per}) g limit ${rows}`;
  return new Promise((resolve, reject) => {
    let n = 0;
    let bytes = 0;
    let firstEmail = '';
    const q = new pg.Query({ text: sql, rowMode: 'array' } as pg.QueryConfig);
    q.on('row', (r: string[]) => {
      if (n++ === 0) firstEmail = r[1]!;
      bytes += r[0]!.length + r[1]!.length + r[2]!.length + 4 * 3 + 7;
    });
    q.on('end', () => resolve({ rows: n, bytes, firstEmail }));
    q.on('error', reject);
    void c.query(q);
  });
}

await main();
