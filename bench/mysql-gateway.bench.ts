// MySQL gateway benchmark: sysbench oltp_point_select and oltp_read_only (prepared statements, as sysbench sends them)
// against the machine's MariaDB in one interleaved run: direct, through the thinnest Node.js relay (bytes in, bytes out:
// the ceiling for any proxy on Node's socket API here), and through Airlock with guardrails and audit on, without and
// with TLS. Reports transactions a second, Airlock ÷ relay and Airlock ÷ direct, the latency Airlock adds per statement
// at 1 thread, each proxy's CPU time per transaction, the gateway's memory while a 1 GB result streams through it, and
// the time from revoke to the client's disconnect.
// Run: node --import tsx bench/mysql-gateway.bench.ts [--seconds 8] [--rounds 2] [--threads 1,8]
//   [--tests oltp_point_select,oltp_read_only] [--table-size 10000] [--rows 1000000] [--skip-memory] [--skip-revoke]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mysql from 'mysql2/promise';
import { startServerProcess, apiJson as api, rssKb, type ServerProcess } from '../test/support/server-process.js';
import { createTestMysql, type TestMysql } from '../test/support/mysql.js';
import { cpuUs, flag, list, median, num, stopChild } from './support.js';


const SECONDS = num('seconds', 8);
const ROUNDS = num('rounds', 2);
const THREADS = list('threads', '1,8').map(Number);
const TESTS = list('tests', 'oltp_point_select,oltp_read_only');
const TABLE_SIZE = num('table-size', 10_000);
/** Rows of 1,000 bytes in the big-result measurement (1,000,000 ≈ 1 GB). */
const ROWS = num('rows', 1_000_000);
if (TESTS.some((t) => !['oltp_point_select', 'oltp_read_only'].includes(t))) throw new Error(`--tests ${TESTS.join(',')}: oltp_point_select and/or oltp_read_only`);

/** The bench's own schema and admin user on the machine's MariaDB (test/support/mysql.ts); every target logs in as that admin. */
const my: TestMysql = await createTestMysql();
const [host, port] = my.address.split(':') as [string, string];
const MY = { host, port: Number(port), user: my.admin.user, password: my.admin.password };
const DB = my.schema;

function policy(): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - name: bench
    kind: mysql
    address: "${MY.host}:${MY.port}"
    database: ${DB}
    labels: { env: bench }
    credential: { username: ${MY.user}, password: { env: BENCH_MY_PASSWORD }, mode: injected }
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

interface Airlock {
  s: ServerProcess;
  alice: string;
  bob: string;
  admin: string;
  port: number;
  /** The gateway CA's PEM text. */
  ca: string;
}

/** Airlock as its own process, with alice holding an approved read grant; the MySQL gateway's port and CA. */
async function airlockWithGrant(): Promise<Airlock> {
  const s = await startServerProcess({ policy: policy(), env: { BENCH_MY_PASSWORD: MY.password }, extraArgs: ['--mysql-listen', '127.0.0.1:0', '--pg-allow-loopback-cleartext'] });
  try {
    const alice = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '8h' })).token as string;
    const bob = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '8h' })).token as string;
    const req = await api(s, alice, 'POST', '/api/v1/requests', { resource: 'bench', role: 'read', duration: '8h', reason: 'benchmark' });
    await api(s, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
    const gw = await api<{ mysql: { port: number; ca: string } }>(s, alice, 'GET', '/api/v1/gateways');
    return { s, alice, bob, admin: s.adminToken, port: gw.mysql.port, ca: gw.mysql.ca };
  } catch (e) {
    await s.stop();
    throw e;
  }
}


/** The thinnest Node.js relay: bytes in, bytes out, no parsing. MySQL's TLS starts inside its handshake, so a relay that is not MySQL-aware has no TLS variant. */
const NODE_PIPE = `import net from 'node:net';
const [host, port] = [process.argv[2], Number(process.argv[3])];
const server = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = net.connect({ host, port });
  upstream.setNoDelay(true);
  client.on('data', (b) => upstream.write(b));
  upstream.on('data', (b) => client.write(b));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => {});
  upstream.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

async function startNodePipe(dir: string): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const file = join(dir, 'node-pipe.mjs');
  writeFileSync(file, NODE_PIPE);
  const child = spawn(process.execPath, [file, MY.host, String(MY.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('node pipe did not start in 10 s')), 10_000);
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve(Number(l));
    });
    child.once('exit', (code) => reject(new Error(`node pipe exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => stopChild(child) };
}

interface Target {
  args: string[];
  /** Directory sysbench runs in: with --mysql-ssl=on it loads cacert.pem, client-cert.pem and client-key.pem from there. */
  cwd?: string;
  pid?: number;
}

/** User and system CPU time of a process so far, in µs. */
function cpuTotal(pid: number): number {
  const c = cpuUs(pid);
  return c.user + c.sys;
}

function sysbench(test: string, t: Target, threads: number, seconds: number): { tps: number; qps: number; latencyMs: number; transactions: number } {
  const r = spawnSync('sysbench', [test, `--threads=${threads}`, `--time=${seconds}`, `--table-size=${TABLE_SIZE}`, '--tables=1', '--report-interval=0', ...t.args, 'run'], { encoding: 'utf8', cwd: t.cwd });
  const tx = /transactions:\s+(\d+)\s+\(([\d.]+) per sec/.exec(r.stdout);
  const q = /queries:\s+(\d+)\s+\(([\d.]+) per sec/.exec(r.stdout);
  const lat = /avg:\s+([\d.]+)/.exec(r.stdout);
  if (!tx || !q) throw new Error(`sysbench ${test} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  return { transactions: Number(tx[1]), tps: Number(tx[2]), qps: Number(q[2]), latencyMs: lat ? Number(lat[1]) : NaN };
}

const NAMES = ['direct', 'node_pipe', 'airlock_plain', 'airlock_tls'] as const;
type Name = (typeof NAMES)[number];
const LABELS: Record<Name, string> = { direct: 'direct', node_pipe: 'Node relay', airlock_plain: 'Airlock no TLS', airlock_tls: 'Airlock TLS' };

interface Sample {
  tps: number;
  qps: number;
  latencyMs: number;
  cpuUsPerTx: number;
}

/** Rounds of every target once, every other round in reverse order, so no target always follows the same one. */
function measure(targets: Record<Name, Target>, test: string, threads: number): Record<Name, Sample[]> {
  const out = Object.fromEntries(NAMES.map((n) => [n, [] as Sample[]])) as Record<Name, Sample[]>;
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      const t = targets[name];
      const before = t.pid ? cpuTotal(t.pid) : 0;
      const r = sysbench(test, t, threads, SECONDS);
      const after = t.pid ? cpuTotal(t.pid) : 0;
      out[name].push({ tps: r.tps, qps: r.qps, latencyMs: r.latencyMs, cpuUsPerTx: t.pid ? (after - before) / r.transactions : NaN });
    }
  }
  return out;
}

/** A client certificate and key for sysbench's --mysql-ssl (it loads them from its working directory), and Airlock's CA as cacert.pem. */
function sslDir(dir: string, caPem: string): string {
  const d = join(dir, 'ssl');
  mkdirSync(d, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=sysbench', '-days', '1', '-keyout', join(d, 'client-key.pem'), '-out', join(d, 'client-cert.pem')], { stdio: 'ignore' });
  writeFileSync(join(d, 'cacert.pem'), caPem);
  return d;
}

/** Streams `rows` 1,000-byte rows through the gateway with the mariadb client into /dev/null, sampling the gateway's RSS. */
async function bigResult(pid: number, port: number, user: string, password: string, database: string, rows: number): Promise<{ growthMb: number; seconds: number }> {
  const base = rssKb(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  const t0 = performance.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn('mariadb', ['--quick', '--batch', '--skip-column-names', '-h', '127.0.0.1', '-P', String(port), '-u', user, database, '-e', `select repeat('x', 1000) from seq_1_to_${rows}`], { env: { ...process.env, MYSQL_PWD: password }, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  clearInterval(sampler);
  if (code !== 0) throw new Error(`mariadb failed with ${code}`);
  return { growthMb: (peak - base) / 1024, seconds: (performance.now() - t0) / 1000 };
}

async function revokeToDisconnect(a: Airlock): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: a.port, user: 'alice', password: a.alice, database: 'bench' });
    c.on('error', () => {});
    const ended = c.query('select sleep(30)').then(
      () => NaN,
      () => performance.now(),
    );
    await new Promise((r) => setTimeout(r, 300));
    const grantId = (await api<{ sessions: { grant_id: string }[] }>(a.s, a.admin, 'GET', '/api/v1/sessions')).sessions[0]!.grant_id;
    const t0 = performance.now();
    await api(a.s, a.admin, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'bench' });
    out.push((await ended) - t0);
    c.destroy();
    const req = await api(a.s, a.alice, 'POST', '/api/v1/requests', { resource: 'bench', role: 'read', duration: '1h', reason: 'revoke timing' });
    await api(a.s, a.bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
  }
  return out;
}

async function main(): Promise<void> {
  const admin = my.root;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-my-'));
  let airlock: Airlock | undefined;
  let pipe: Awaited<ReturnType<typeof startNodePipe>> | undefined;
  try {
    const direct = [`--mysql-host=${MY.host}`, `--mysql-port=${MY.port}`, `--mysql-user=${MY.user}`, `--mysql-password=${MY.password}`, `--mysql-db=${DB}`];
    const prep = spawnSync('sysbench', ['oltp_read_only', `--table-size=${TABLE_SIZE}`, '--tables=1', ...direct, 'prepare'], { encoding: 'utf8' });
    if (prep.status !== 0) throw new Error(`sysbench prepare failed: ${prep.stdout}\n${prep.stderr}`);
    airlock = await airlockWithGrant();
    pipe = await startNodePipe(dir);
    const viaAirlock = [`--mysql-host=127.0.0.1`, `--mysql-port=${airlock.port}`, '--mysql-user=alice', `--mysql-password=${airlock.alice}`, '--mysql-db=bench'];
    const pid = airlock.s.child.pid!;
    const targets: Record<Name, Target> = {
      direct: { args: direct },
      node_pipe: { args: [`--mysql-host=127.0.0.1`, `--mysql-port=${pipe.port}`, `--mysql-user=${MY.user}`, `--mysql-password=${MY.password}`, `--mysql-db=${DB}`], pid: pipe.pid },
      airlock_plain: { args: viaAirlock, pid },
      airlock_tls: { args: [...viaAirlock, '--mysql-ssl=on'], cwd: sslDir(dir, airlock.ca), pid },
    };
    const [versionRows] = await admin.query<mysql.RowDataPacket[]>('select version() as v');
    console.log(`# MariaDB ${String(versionRows[0]!.v)}; ${ROUNDS} rounds × ${SECONDS} s per cell, table size ${TABLE_SIZE}; ${new Date().toISOString()}`);
    for (const name of NAMES) sysbench(TESTS[0]!, targets[name], 1, 1); // warm-up: first connections, caches
    console.log(`\n| test | threads | ${NAMES.map((n) => LABELS[n]).join(' | ')} | Airlock ÷ relay | Airlock TLS ÷ relay | Airlock ÷ direct | added latency µs (1 thread) | CPU µs/tx relay | CPU µs/tx Airlock |`);
    console.log(`| --- | --- | ${NAMES.map(() => '---').join(' | ')} | --- | --- | --- | --- | --- | --- |`);
    for (const test of TESTS) {
      for (const threads of THREADS) {
        const s = measure(targets, test, threads);
        const tps = (n: Name) => median(s[n].map((x) => x.tps));
        const lat = (n: Name) => median(s[n].map((x) => x.latencyMs));
        const cpu = (n: Name) => median(s[n].map((x) => x.cpuUsPerTx));
        const statements = test === 'oltp_point_select' ? 1 : 16; // oltp_read_only: BEGIN, 14 SELECTs, COMMIT per transaction
        const added = threads === 1 ? (((lat('airlock_plain') - lat('node_pipe')) * 1000) / statements).toFixed(0) : '–';
        console.log(`| ${test} | ${threads} | ${NAMES.map((n) => tps(n).toFixed(0)).join(' | ')} | **${(tps('airlock_plain') / tps('node_pipe')).toFixed(2)}** | ${(tps('airlock_tls') / tps('node_pipe')).toFixed(2)} | ${(tps('airlock_plain') / tps('direct')).toFixed(2)} | ${added} | ${cpu('node_pipe').toFixed(0)} | ${cpu('airlock_plain').toFixed(0)} |`);
      }
    }
    if (!flag('skip-memory')) {
      await bigResult(pid, airlock.port, 'alice', airlock.alice, 'bench', 1000);
      const m = await bigResult(pid, airlock.port, 'alice', airlock.alice, 'bench', ROWS);
      const p = await bigResult(pipe.pid, pipe.port, MY.user, MY.password, DB, ROWS);
      console.log(`\n# ${ROWS / 1000} MB result: gateway RSS grew ${m.growthMb.toFixed(1)} MB in ${m.seconds.toFixed(1)} s (Node relay: ${p.growthMb.toFixed(1)} MB in ${p.seconds.toFixed(1)} s)`);
    }
    if (!flag('skip-revoke')) {
      const r = await revokeToDisconnect(airlock);
      console.log(`# revoke → client disconnected (ms): ${r.map((x) => x.toFixed(0)).join(', ')}`);
    }
  } finally {
    await pipe?.stop();
    await airlock?.s.stop();
    await my.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
