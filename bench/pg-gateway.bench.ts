// PostgreSQL gateway benchmark: pgbench -S through Airlock vs PgBouncer (session mode) vs direct, interleaved in
// one run against the same PostgreSQL; plus idle-connection memory, memory during a 1 GB result, and the time
// from revoke to disconnect. Run: node --import tsx bench/pg-gateway.bench.ts [--seconds 8] [--rounds 2] [--skip-throughput]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startServerProcess, apiJson as api } from '../test/support/server-process.js';
import { createTestDatabase, adminUrl } from '../test/support/pg.js';
import { freePort, startEmbeddedPostgres } from '../src/store/embedded-postgres.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 8);
const ROUNDS = arg('rounds', 2);
/** Rows of 1,000 bytes in the big-result measurement (1,000,000 ≈ 1 GB). */
const ROWS = arg('rows', 1_000_000);

function policyFor(host: string, port: number, database: string): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - name: bench
    kind: postgres
    address: "${host}:${port}"
    database: ${database}
    labels: { env: bench }
    credential: { username: postgres, password: { env: BENCH_PG_PASSWORD }, mode: injected }
roles:
  - name: read
    resources: { names: [bench] }
    privileges: { sql: read }
    max_duration: 8h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
`;
}


/** Starts Airlock as its own process and gives alice an approved grant; returns her token and the gateway port. */
async function airlockWithGrant(host: string, port: number, database: string, password: string, extraArgs: string[] = []) {
  const s = await startServerProcess({ policy: policyFor(host, port, database), env: { BENCH_PG_PASSWORD: password }, extraArgs });
  const alice = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '8h' })).token as string;
  const bob = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '8h' })).token as string;
  const req = await api(s, alice, 'POST', '/api/v1/requests', { resource: 'bench', role: 'read', duration: '8h', reason: 'benchmark' });
  const approved = await api(s, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
  const gw = await api<{ postgres: { port: number } }>(s, alice, 'GET', '/api/v1/gateways');
  return { s, alice, bob, admin: s.adminToken, grantId: approved.grant_id as string, gwPort: gw.postgres.port };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function pgbench(args: string[], env: Record<string, string>): { tps: number; latencyMs: number } {
  const r = spawnSync('pgbench', args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  if (!tps) throw new Error(`pgbench failed: ${r.stdout}\n${r.stderr}`);
  return { tps: Number(tps[1]), latencyMs: lat ? Number(lat[1]) : NaN };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** PgBouncer in session mode in front of the same server; runs as the postgres user (it refuses root). */
async function startPgBouncer(target: { host: string; port: number; database: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]\n${target.database} = host=${target.host} port=${target.port} dbname=${target.database}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\nauth_type = trust\nauth_file = ${join(dir, 'users.txt')}\npool_mode = session\nmax_client_conn = 2000\ndefault_pool_size = 50\nlogfile = ${join(dir, 'pgbouncer.log')}\nunix_socket_dir =\n`,
  );
  const asRoot = process.getuid?.() === 0;
  const child = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: target.database });
    try {
      await c.connect();
      await c.end();
      return { port, stop: () => child.kill('SIGINT') };
    } catch {
      await c.end().catch(() => {});
    }
  }
  throw new Error('pgbouncer did not start');
}

async function throughput(db: { name: string }, pgPort: number) {
  if (spawnSync('which', ['pgbouncer']).status !== 0) {
    console.log('# pgbouncer is missing: installing the Debian package');
    execFileSync('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { stdio: 'inherit' });
  }
  const base = new URL(adminUrl());
  execFileSync('pgbench', ['-i', '-q', '-s', '10', '-h', base.hostname, '-p', String(pgPort), '-U', 'postgres', db.name], { stdio: 'ignore' });
  const bouncer = await startPgBouncer({ host: base.hostname, port: pgPort, database: db.name });
  const tls = await airlockWithGrant(base.hostname, pgPort, db.name, decodeURIComponent(base.password) || 'unused-with-trust-auth');
  const plain = await airlockWithGrant(base.hostname, pgPort, db.name, decodeURIComponent(base.password) || 'unused-with-trust-auth', ['--pg-allow-loopback-cleartext']);
  const targets = {
    direct: { args: ['-h', base.hostname, '-p', String(pgPort), '-U', 'postgres', db.name], env: { PGPASSWORD: decodeURIComponent(base.password), PGSSLMODE: 'disable' } },
    pgbouncer: { args: ['-h', '127.0.0.1', '-p', String(bouncer.port), '-U', 'postgres', db.name], env: { PGSSLMODE: 'disable' } },
    airlock_tls: { args: ['-h', '127.0.0.1', '-p', String(tls.gwPort), '-U', 'alice', 'bench'], env: { PGPASSWORD: tls.alice, PGSSLMODE: 'require' } },
    airlock_plain: { args: ['-h', '127.0.0.1', '-p', String(plain.gwPort), '-U', 'alice', 'bench'], env: { PGPASSWORD: plain.alice, PGSSLMODE: 'disable' } },
  };
  const rows: string[] = [];
  try {
    for (const mode of ['simple', 'extended', 'prepared']) {
      for (const clients of [1, 8]) {
        const res: Record<string, { tps: number[]; lat: number[] }> = {};
        for (let round = 0; round < ROUNDS; round++) {
          for (const [name, t] of Object.entries(targets)) {
            const r = pgbench(['-S', '-n', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(SECONDS), ...t.args], t.env);
            (res[name] ??= { tps: [], lat: [] }).tps.push(r.tps);
            res[name].lat.push(r.latencyMs);
          }
        }
        const m = (n: string) => median(res[n]!.tps);
        const l = (n: string) => median(res[n]!.lat);
        rows.push(`| ${mode} | ${clients} | ${m('direct').toFixed(0)} | ${m('pgbouncer').toFixed(0)} | ${m('airlock_tls').toFixed(0)} | ${m('airlock_plain').toFixed(0)} | ${(m('airlock_tls') / m('direct')).toFixed(2)} | ${(m('airlock_tls') / m('pgbouncer')).toFixed(2)} | ${(m('airlock_plain') / m('pgbouncer')).toFixed(2)} | ${clients === 1 ? ((l('airlock_tls') - l('direct')) * 1000).toFixed(0) : '–'} |`);
        console.log(rows[rows.length - 1]);
      }
    }
  } finally {
    bouncer.stop();
  }
  return { rows, tls, plain };
}

async function revokeToDisconnect(a: Awaited<ReturnType<typeof airlockWithGrant>>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = new pg.Client({ host: '127.0.0.1', port: a.gwPort, user: 'alice', database: 'bench', password: a.alice, ssl: { rejectUnauthorized: false } });
    await c.connect();
    c.on('error', () => {});
    const ended = c.query('select pg_sleep(30)').then(
      () => NaN,
      () => performance.now(),
    );
    await new Promise((r) => setTimeout(r, 300));
    // The grant this session runs under (the newest active one), then a fresh one for the next round.
    const grantId = (await api<{ sessions: { grant_id: string }[] }>(a.s, a.admin, 'GET', '/api/v1/sessions')).sessions[0]!.grant_id;
    const t0 = performance.now();
    await api(a.s, a.admin, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'bench' });
    out.push((await ended) - t0);
    await c.end().catch(() => {});
    const req = await api(a.s, a.alice, 'POST', '/api/v1/requests', { resource: 'bench', role: 'read', duration: '1h', reason: 'revoke timing' });
    await api(a.s, a.bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
  }
  return out;
}

async function memory(): Promise<{ idleKbPerConn: number; conns: number; bigResultPeakMb: number; bigResultMb: number }> {
  // 1,000 upstream connections need a server that allows them: an embedded PostgreSQL with max_connections raised.
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-pg-'));
  chmodSync(dir, 0o711);
  const emb = await startEmbeddedPostgres({ dir: join(dir, 'pg'), maxConnections: 1100 });
  try {
    const u = new URL(emb.url);
    const a = await airlockWithGrant('127.0.0.1', emb.port, 'postgres', decodeURIComponent(u.password));
    const pid = a.s.child.pid!;
    try {
      // A big result first, on a fresh gateway, read by psql into /dev/null; sample the gateway's RSS meanwhile.
      const base = rssKb(pid);
      let peak = base;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
      const t0 = performance.now();
      // Asynchronous, so the sampler above keeps running while psql reads.
      const code = await new Promise<number>((resolve) => {
        const child = spawn('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(a.gwPort), '-U', 'alice', '-d', 'bench', '-c', `copy (select repeat('x', 1000) from generate_series(1, ${ROWS})) to stdout`], { env: { ...process.env, PGPASSWORD: a.alice, PGSSLMODE: 'require' }, stdio: ['ignore', 'ignore', 'inherit'] });
        child.on('exit', (c) => resolve(c ?? 1));
      });
      clearInterval(sampler);
      if (code !== 0) throw new Error(`psql failed with ${code}`);
      console.log(`# ${ROWS / 1000} MB COPY through the gateway took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const before = rssKb(pid);
      const clients: pg.Client[] = [];
      const N = 1000;
      for (let i = 0; i < N; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            const c = new pg.Client({ host: '127.0.0.1', port: a.gwPort, user: 'alice', database: 'bench', password: a.alice, ssl: { rejectUnauthorized: false } });
            c.on('error', () => {});
            await c.connect();
            clients.push(c);
          }),
        );
      }
      await new Promise((r) => setTimeout(r, 1000));
      const after = rssKb(pid);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      return { idleKbPerConn: (after - before) / N, conns: N, bigResultPeakMb: (peak - base) / 1024, bigResultMb: ROWS / 1000 };
    } finally {
      await a.s.stop();
    }
  } finally {
    await emb.stop();
  }
}

async function main() {
  const db = await createTestDatabase('airlock_bench');
  const pgPort = Number(new URL(adminUrl()).port || 5432);
  try {
    console.log(`# pgbench -S, ${SECONDS}s per run, ${ROUNDS} interleaved rounds, median TPS`);
    console.log('| mode | clients | direct | PgBouncer | Airlock (TLS) | Airlock (no TLS) | Airlock TLS / direct | Airlock TLS / PgBouncer | Airlock no-TLS / PgBouncer | added latency µs (1 client, TLS) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    if (!process.argv.includes('--skip-throughput')) {
      const t = await throughput(db, pgPort);
      await t.tls.s.stop();
      await t.plain.s.stop();
    }
    const base = new URL(adminUrl());
    const a = await airlockWithGrant(base.hostname, pgPort, db.name, decodeURIComponent(base.password) || 'unused-with-trust-auth');
    try {
      const revoke = await revokeToDisconnect(a);
      console.log(`# revoke → client disconnected (ms): ${revoke.map((x) => x.toFixed(0)).join(', ')}`);
    } finally {
      await a.s.stop();
    }
    const mem = await memory();
    console.log(`# gateway memory per idle connection (${mem.conns} connections, TLS): ${mem.idleKbPerConn.toFixed(1)} KiB`);
    console.log(`# gateway RSS growth during a ${mem.bigResultMb} MB result: ${mem.bigResultPeakMb.toFixed(1)} MB`);
  } finally {
    await db.drop();
  }
}

await main();
