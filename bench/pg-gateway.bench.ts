// PostgreSQL gateway benchmark: pgbench -S through Airlock, with and without TLS, against like-for-like references in
// one interleaved run on the same PostgreSQL — direct, PgBouncer (session mode) without and with client TLS, and the
// thinnest Node.js relay without and with client TLS (what any proxy on Node's socket API pays here, so its TPS is
// the ceiling for one) — and each proxy's CPU time per transaction; then the time from revoke to disconnect,
// idle-connection memory and memory during a 1 GB result. With --baseline-tree, Airlock from another checkout (the
// code before a change) runs as two more targets in the same rounds, and each Airlock cell gets a new ÷ before ratio.
// Run: node --import tsx bench/pg-gateway.bench.ts [--seconds 8] [--rounds 2] [--rows 1000000]
//   [--modes simple,extended,prepared] [--clients 1,8] [--warmup 2] [--baseline-tree DIR]
//   [--skip-throughput] [--skip-revoke] [--skip-memory]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { startServerProcess, apiJson as api, rssKb, ROOT } from '../test/support/server-process.js';
import { createTestDatabase, adminUrl } from '../test/support/pg.js';
import { freePort, startEmbeddedPostgres } from '../src/store/embedded-postgres.js';
import { cpuUs, flag, list, median, num, option, pgbench, stopChild } from './support.js';


const SECONDS = num('seconds', 8);
const ROUNDS = num('rounds', 2);
/** Rows of 1,000 bytes in the big-result measurement (1,000,000 ≈ 1 GB). */
const ROWS = num('rows', 1_000_000);
/** Seconds of unmeasured pgbench per target and mode before the rounds; 0 skips the warm-up. */
const WARMUP = num('warmup', 2);
const MODES = list('modes', 'simple,extended,prepared');
const CLIENTS = list('clients', '1,8').map(Number);
if (MODES.some((m) => !['simple', 'extended', 'prepared'].includes(m))) throw new Error(`--modes ${MODES.join(',')}: each one of simple, extended, prepared`);
if (CLIENTS.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--clients ${CLIENTS.join(',')}: positive integers`);
/** Another checkout of this repository (e.g. `git worktree add /tmp/airlock-before <commit>` with node_modules linked). */
const BASELINE_TREE = option('baseline-tree') === undefined ? undefined : resolve(option('baseline-tree')!);
if (BASELINE_TREE && !existsSync(join(BASELINE_TREE, 'bin', 'airlock.js'))) throw new Error(`--baseline-tree ${BASELINE_TREE}: no bin/airlock.js there; give the root of a checkout of this repository`);
if (BASELINE_TREE && !existsSync(join(BASELINE_TREE, 'node_modules'))) throw new Error(`--baseline-tree ${BASELINE_TREE}: no node_modules there; link this checkout's (ln -s ${join(ROOT, 'node_modules')} ${join(BASELINE_TREE, 'node_modules')})`);

/** The PostgreSQL every target ends at. */
interface Upstream {
  host: string;
  port: number;
  database: string;
  password: string;
  /** The server's `ssl` setting: with it on, the current build would encrypt its upstream link by default on loopback. */
  offersTls: boolean;
}

/**
 * The same policy for every build. `upstreamTlsOff` adds `tls: { mode: disable }`, a field builds before issue 11 refuse
 * (their resource schema is strict): the current build gets it only when the server offers TLS, so that it talks plain
 * TCP to PostgreSQL like PgBouncer (server_tls_sslmode defaults to disable), the Node pipes and the older builds.
 */
function policyFor(up: Upstream, upstreamTlsOff = false): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - name: bench
    kind: postgres
    address: "${up.host}:${up.port}"
    database: ${up.database}
    labels: { env: bench }
    credential: { username: postgres, password: { env: BENCH_PG_PASSWORD }, mode: injected }${upstreamTlsOff ? '\n    tls: { mode: disable }' : ''}
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

/**
 * Starts Airlock as its own process and gives alice an approved grant; returns her token and the gateway port. `root`
 * is another checkout to run (the baseline build), started with the same flags; none of them is new since b8addc7
 * (`--deployment-id` is, and is left out: the injected credential makes no per-grant roles, and each process has its
 * own store, where the current build settles an id at first start).
 */
async function airlockWithGrant(up: Upstream, extraArgs: string[] = [], root?: string) {
  const s = await startServerProcess({ policy: policyFor(up, !root && up.offersTls), env: { BENCH_PG_PASSWORD: up.password || 'unused-with-trust-auth' }, extraArgs, root });
  try {
    const alice = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '8h' })).token as string;
    const bob = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '8h' })).token as string;
    const req = await api(s, alice, 'POST', '/api/v1/requests', { resource: 'bench', role: 'read', duration: '8h', reason: 'benchmark' });
    const approved = await api(s, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
    const gw = await api<{ postgres: { port: number } }>(s, alice, 'GET', '/api/v1/gateways');
    return { s, alice, bob, admin: s.adminToken, grantId: approved.grant_id as string, gwPort: gw.postgres.port };
  } catch (e) {
    await s.stop();
    throw e;
  }
}


/** A throwaway self-signed certificate; the key is made world-readable because pgbouncer reads it as postgres. */
function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = join(dir, 'server.key');
  const cert = join(dir, 'server.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  chmodSync(key, 0o644);
  return { key, cert };
}

/**
 * PgBouncer in session mode in front of the same server, with client TLS required when `tls` is given. As root it runs
 * as the postgres user (it refuses root) through `-u`, which switches user in place: without `-d` it does not fork,
 * so the spawned pid is pgbouncer itself (checked below), the process whose CPU time we read.
 */
async function startPgBouncer(dir: string, up: Upstream, tls?: { key: string; cert: string }) {
  const name = tls ? 'pgbouncer-tls' : 'pgbouncer';
  const port = await freePort();
  const log = join(dir, `${name}.log`);
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
  const settings = [
    '[databases]',
    `${up.database} = host=${up.host} port=${up.port} dbname=${up.database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = session',
    'max_client_conn = 2000',
    'default_pool_size = 50',
    `logfile = ${log}`,
    'unix_socket_dir =',
    ...(tls ? ['client_tls_sslmode = require', `client_tls_key_file = ${tls.key}`, `client_tls_cert_file = ${tls.cert}`] : []),
  ];
  writeFileSync(join(dir, `${name}.ini`), settings.join('\n') + '\n');
  const asRoot = process.getuid?.() === 0;
  const child = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, `${name}.ini`)], { stdio: 'ignore' });
  const logTail = () => {
    try {
      return readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  };
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${logTail()}`);
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: up.database, ssl: tls ? { rejectUnauthorized: false } : false });
    try {
      await c.connect();
      await c.end();
      const comm = readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim();
      if (comm !== 'pgbouncer') throw new Error(`${name}: pid ${child.pid} is ${comm}, not pgbouncer`);
      return { port, pid: child.pid!, stop: () => stopChild(child) };
    } catch (e) {
      await c.end().catch(() => {});
      if (e instanceof Error && e.message.includes('not pgbouncer')) throw e;
    }
  }
  await stopChild(child);
  throw new Error(`${name} did not start:\n${logTail()}`);
}

/**
 * The thinnest Node.js relay: bytes in, bytes out, no parsing, no backpressure handling. Given a certificate and key it
 * ends client TLS the way PostgreSQL starts it (an SSLRequest in the clear, answered 'S', then the handshake) and talks
 * plain TCP upstream, as Airlock does. Any proxy built on Node's socket and TLS APIs does at least this much work per
 * message, so its TPS is the ceiling for such a proxy on this machine.
 */
const NODE_PIPE = `import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
const [host, port, certFile, keyFile] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
const context = certFile ? tls.createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) }) : null;
function relay(client) {
  const upstream = net.connect({ host, port });
  upstream.setNoDelay(true);
  client.on('data', (b) => upstream.write(b));
  upstream.on('data', (b) => client.write(b));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => {});
  upstream.on('error', () => {});
}
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  if (!context) return relay(socket);
  socket.once('data', (b) => {
    if (b.length !== 8 || b.readInt32BE(4) !== 80877103) return socket.destroy();
    socket.pause();
    socket.write('S');
    relay(new tls.TLSSocket(socket, { isServer: true, secureContext: context }));
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** Runs NODE_PIPE as its own process, so its CPU time is its own; resolves with the port it listens on. */
async function startNodePipe(dir: string, up: Upstream, tls?: { key: string; cert: string }) {
  const file = join(dir, 'node-pipe.mjs');
  writeFileSync(file, NODE_PIPE);
  const child = spawn(process.execPath, [file, up.host, String(up.port), ...(tls ? [tls.cert, tls.key] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('node pipe did not start in 10 s')), 10_000);
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve(Number(l));
    });
    child.once('exit', (code) => reject(new Error(`node pipe exited with ${code}`)));
  }).catch(async (e) => {
    await stopChild(child);
    throw e;
  });
  return { port, pid: child.pid!, stop: () => stopChild(child) };
}

interface Target {
  args: string[];
  env: Record<string, string>;
  /** The proxy process whose CPU time per transaction is reported; none for direct. */
  pid?: number;
}
/**
 * In round order. The baseline build's two targets sit between the current build's, so that in a round the TLS pair
 * runs new-then-before and the no-TLS pair before-then-new (reversed in the next round): whichever position is
 * favoured, the two pairs are favoured oppositely.
 */
const ALL_TARGETS = ['direct', 'pgbouncer', 'pgbouncer_tls', 'node_pipe', 'node_pipe_tls', 'airlock_tls', 'airlock_tls_before', 'airlock_plain_before', 'airlock_plain'] as const;
type TargetName = (typeof ALL_TARGETS)[number];
const BEFORE: readonly TargetName[] = ['airlock_tls_before', 'airlock_plain_before'];
const TARGETS = ALL_TARGETS.filter((t) => BASELINE_TREE || !BEFORE.includes(t));
const LABELS: Record<TargetName, string> = { direct: 'direct', pgbouncer: 'PgBouncer', pgbouncer_tls: 'PgBouncer TLS', node_pipe: 'Node pipe', node_pipe_tls: 'Node TLS pipe', airlock_tls: 'Airlock TLS', airlock_tls_before: 'Airlock TLS before', airlock_plain_before: 'Airlock no TLS before', airlock_plain: 'Airlock no TLS' };
const PROXIES = TARGETS.filter((t) => t !== 'direct');

/** The TLS protocol and cipher libpq (as in pgbench) negotiates with a target, as psql's \conninfo reports them. */
function negotiatedTls(t: Target): string {
  const r = spawnSync('psql', ['-X', '-c', '\\conninfo', ...t.args], { env: { ...process.env, ...t.env }, encoding: 'utf8' });
  const m = /protocol: ([^,]+), cipher: ([^,]+)/.exec(r.stdout);
  return m ? `${m[1]} ${m[2]}` : `unknown (${(r.stdout + r.stderr).trim()})`;
}

interface Sample {
  tps: number;
  latencyMs: number;
  userUsPerTx: number;
  sysUsPerTx: number;
}

function pgbenchS(t: Target, mode: string, clients: number, seconds: number) {
  return pgbench(['-S', '-n', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), ...t.args], t.env);
}

/**
 * ROUNDS rounds, each running every target once, so a slow moment of the machine hits all of them alike. Every other
 * round runs them in reverse order, so that no target always follows the same one: in some A/B pairs on this machine
 * the run that came first did 7-32 % better, whichever gateway it was.
 */
function measure(targets: Partial<Record<TargetName, Target>>, mode: string, clients: number): Record<TargetName, Sample[]> {
  const samples = Object.fromEntries(ALL_TARGETS.map((n) => [n, [] as Sample[]])) as Record<TargetName, Sample[]>;
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? TARGETS : [...TARGETS].reverse()) {
      const t = targets[name]!;
      const before = t.pid ? cpuUs(t.pid) : undefined;
      const r = pgbenchS(t, mode, clients, SECONDS);
      const after = t.pid ? cpuUs(t.pid) : undefined;
      const perTx = (k: 'user' | 'sys') => (before && after ? (after[k] - before[k]) / r.transactions : NaN);
      samples[name].push({ tps: r.tps, latencyMs: r.latencyMs, userUsPerTx: perTx('user'), sysUsPerTx: perTx('sys') });
    }
  }
  return samples;
}

function tpsRow(mode: string, clients: number, s: Record<TargetName, Sample[]>): string {
  const tps = (n: TargetName) => median(s[n].map((x) => x.tps));
  return `| ${[mode, clients, ...TARGETS.map((n) => tps(n).toFixed(0))].join(' | ')} |`;
}

/**
 * The targets' ratios: Airlock against PgBouncer (the issue's target, 0.8), the Node pipe against PgBouncer (the most
 * any proxy on Node's socket and TLS APIs can reach here), Airlock against the Node pipe, and the latency Airlock adds.
 */
function ratioRow(mode: string, clients: number, s: Record<TargetName, Sample[]>): string {
  const tps = (n: TargetName) => median(s[n].map((x) => x.tps));
  const lat = (n: TargetName) => median(s[n].map((x) => x.latencyMs));
  const ratio = (a: TargetName, b: TargetName) => (tps(a) / tps(b)).toFixed(2);
  const added = (a: TargetName, b: TargetName) => (clients === 1 ? ((lat(a) - lat(b)) * 1000).toFixed(0) : '–');
  const cells = [mode, clients, `**${ratio('airlock_tls', 'pgbouncer_tls')}**`, ratio('node_pipe_tls', 'pgbouncer_tls'), `**${ratio('airlock_plain', 'pgbouncer')}**`, ratio('node_pipe', 'pgbouncer'), ratio('airlock_tls', 'node_pipe_tls'), ratio('airlock_plain', 'node_pipe'), added('airlock_tls', 'pgbouncer_tls'), added('airlock_plain', 'pgbouncer')];
  if (BASELINE_TREE) {
    // Three decimals: the question asked of these columns is a few per cent.
    const change = (a: TargetName, b: TargetName) => `**${(tps(a) / tps(b)).toFixed(3)}**`;
    cells.push(ratio('airlock_tls_before', 'pgbouncer_tls'), ratio('airlock_plain_before', 'pgbouncer'), change('airlock_tls', 'airlock_tls_before'), change('airlock_plain', 'airlock_plain_before'));
  }
  return `| ${cells.join(' | ')} |`;
}

const RATIO_HEADER = ['mode', 'clients', '**Airlock TLS / PgBouncer TLS**', 'Node TLS pipe / PgBouncer TLS', '**Airlock no-TLS / PgBouncer**', 'Node pipe / PgBouncer', 'Airlock TLS / Node TLS pipe', 'Airlock no-TLS / Node pipe', 'added latency, TLS vs PgBouncer TLS', 'added latency, no TLS vs PgBouncer', ...(BASELINE_TREE ? ['Airlock TLS before / PgBouncer TLS', 'Airlock no-TLS before / PgBouncer', '**Airlock TLS new ÷ before**', '**Airlock no-TLS new ÷ before**'] : [])];

/** The current build ÷ the baseline in each round, paired within the round (the two ran seconds apart). */
function pairedRatios(s: Record<TargetName, Sample[]>): { tls: number[]; plain: number[] } {
  const per = (a: TargetName, b: TargetName) => s[a].map((x, i) => x.tps / s[b][i]!.tps);
  return { tls: per('airlock_tls', 'airlock_tls_before'), plain: per('airlock_plain', 'airlock_plain_before') };
}

const tpsOf = (s: Record<TargetName, Sample[]>, n: TargetName) => median(s[n].map((x) => x.tps));
const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);

function cpuRow(mode: string, clients: number, s: Record<TargetName, Sample[]>): string {
  const cell = (n: TargetName) => {
    const user = median(s[n].map((x) => x.userUsPerTx));
    const sys = median(s[n].map((x) => x.sysUsPerTx));
    return `${user.toFixed(1)} + ${sys.toFixed(1)} = ${(user + sys).toFixed(1)}`;
  };
  return `| ${[mode, clients, ...PROXIES.map(cell)].join(' | ')} |`;
}

async function throughput(up: Upstream) {
  if (spawnSync('which', ['pgbouncer']).status !== 0) {
    console.log('# pgbouncer is missing: installing the Debian package');
    execFileSync('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { stdio: 'inherit' });
  }
  execFileSync('pgbench', ['-i', '-q', '-s', '10', '-h', up.host, '-p', String(up.port), '-U', 'postgres', up.database], { stdio: 'ignore', env: { ...process.env, PGPASSWORD: up.password } });
  // Readable by the postgres user pgbouncer runs as.
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-gw-'));
  chmodSync(dir, 0o777);
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const bouncer = await startPgBouncer(dir, up);
    stops.push(bouncer.stop);
    const cert = selfSignedCert(dir);
    const bouncerTls = await startPgBouncer(dir, up, cert);
    stops.push(bouncerTls.stop);
    const pipe = await startNodePipe(dir, up);
    stops.push(pipe.stop);
    const pipeTls = await startNodePipe(dir, up, cert);
    stops.push(pipeTls.stop);
    const tls = await airlockWithGrant(up);
    stops.push(() => tls.s.stop());
    const plain = await airlockWithGrant(up, ['--pg-allow-loopback-cleartext']);
    stops.push(() => plain.s.stop());
    const tlsBefore = BASELINE_TREE ? await airlockWithGrant(up, [], BASELINE_TREE) : undefined;
    if (tlsBefore) stops.push(() => tlsBefore.s.stop());
    const plainBefore = BASELINE_TREE ? await airlockWithGrant(up, ['--pg-allow-loopback-cleartext'], BASELINE_TREE) : undefined;
    if (plainBefore) stops.push(() => plainBefore.s.stop());
    const local = (port: number, user: string, database: string) => ['-h', '127.0.0.1', '-p', String(port), '-U', user, database];
    const airlockTarget = (a: Awaited<ReturnType<typeof airlockWithGrant>>, sslmode: string): Target => ({ args: local(a.gwPort, 'alice', 'bench'), env: { PGPASSWORD: a.alice, PGSSLMODE: sslmode }, pid: a.s.child.pid });
    const targets: Partial<Record<TargetName, Target>> = {
      direct: { args: ['-h', up.host, '-p', String(up.port), '-U', 'postgres', up.database], env: { PGPASSWORD: up.password, PGSSLMODE: 'disable' } },
      pgbouncer: { args: local(bouncer.port, 'postgres', up.database), env: { PGSSLMODE: 'disable' }, pid: bouncer.pid },
      pgbouncer_tls: { args: local(bouncerTls.port, 'postgres', up.database), env: { PGSSLMODE: 'require' }, pid: bouncerTls.pid },
      node_pipe: { args: local(pipe.port, 'postgres', up.database), env: { PGPASSWORD: up.password, PGSSLMODE: 'disable' }, pid: pipe.pid },
      node_pipe_tls: { args: local(pipeTls.port, 'postgres', up.database), env: { PGPASSWORD: up.password, PGSSLMODE: 'require' }, pid: pipeTls.pid },
      airlock_tls: airlockTarget(tls, 'require'),
      airlock_plain: airlockTarget(plain, 'disable'),
      ...(tlsBefore && plainBefore ? { airlock_tls_before: airlockTarget(tlsBefore, 'require'), airlock_plain_before: airlockTarget(plainBefore, 'disable') } : {}),
    };
    console.log(`# TLS as libpq negotiates it: PgBouncer TLS ${negotiatedTls(targets.pgbouncer_tls!)}; Node TLS pipe ${negotiatedTls(targets.node_pipe_tls!)}; Airlock TLS ${negotiatedTls(targets.airlock_tls!)}${tlsBefore ? `; Airlock TLS before ${negotiatedTls(targets.airlock_tls_before!)}` : ''}`);
    // Node processes compile hot code and Airlock fills its statement caches on first use; without a warm-up the first
    // row would measure that instead of steady traffic.
    for (const mode of WARMUP > 0 ? MODES : []) for (const name of TARGETS) pgbenchS(targets[name]!, mode, Math.max(...CLIENTS), WARMUP);
    console.log(`# pgbench -S, ${SECONDS}s per run after ${WARMUP}s of warm-up per target and mode, ${ROUNDS} interleaved round(s) (every other one in reverse order), median TPS`);
    console.log(`| mode | clients | ${TARGETS.map((n) => LABELS[n]).join(' | ')} |`);
    console.log(`|${' --- |'.repeat(2 + TARGETS.length)}`);
    const ratioRows: string[] = [];
    const cpuRows: string[] = [];
    const pairedRows: string[] = [];
    const change = { tls: [] as number[], plain: [] as number[] };
    for (const mode of MODES) {
      for (const clients of CLIENTS) {
        const samples = measure(targets, mode, clients);
        console.log(tpsRow(mode, clients, samples));
        ratioRows.push(ratioRow(mode, clients, samples));
        cpuRows.push(cpuRow(mode, clients, samples));
        if (BASELINE_TREE) {
          change.tls.push(tpsOf(samples, 'airlock_tls') / tpsOf(samples, 'airlock_tls_before'));
          change.plain.push(tpsOf(samples, 'airlock_plain') / tpsOf(samples, 'airlock_plain_before'));
          const p = pairedRatios(samples);
          pairedRows.push(`| ${mode} | ${clients} | ${p.tls.map((x) => x.toFixed(3)).join(', ')} | ${p.plain.map((x) => x.toFixed(3)).join(', ')} |`);
        }
      }
    }
    console.log(`\n# TPS ratios of the medians above (target: Airlock ≥ 0.8 × PgBouncer); a Node pipe ÷ PgBouncer below 0.8 means no proxy on Node's socket API reaches 0.8 there; added latency in µs at 1 client`);
    console.log(`| ${RATIO_HEADER.join(' | ')} |`);
    console.log(`|${' --- |'.repeat(RATIO_HEADER.length)}`);
    for (const row of ratioRows) console.log(row);
    if (BASELINE_TREE) {
      const all = [...change.tls, ...change.plain];
      console.log(`\n# new ÷ before, geometric mean over the ${change.tls.length} cells: TLS ${geomean(change.tls).toFixed(3)}, no TLS ${geomean(change.plain).toFixed(3)}, all ${all.length} ${geomean(all).toFixed(3)} (range ${Math.min(...all).toFixed(3)}–${Math.max(...all).toFixed(3)})`);
      console.log(`# new ÷ before per round (each pair ran back to back in that round), rounds in order`);
      console.log('| mode | clients | Airlock TLS | Airlock no TLS |');
      console.log(`|${' --- |'.repeat(4)}`);
      for (const row of pairedRows) console.log(row);
    }
    console.log(`\n# proxy process CPU per transaction, µs user + system = total (/proc/PID/stat over each pgbench run, median)`);
    console.log(`| mode | clients | ${PROXIES.map((n) => LABELS[n]).join(' | ')} |`);
    console.log(`|${' --- |'.repeat(2 + PROXIES.length)}`);
    for (const row of cpuRows) console.log(row);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
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

/** Runs `copy … to stdout` of `rows` 1,000-byte rows through a port with psql into /dev/null; samples `pid`'s RSS meanwhile. */
async function copyThrough(pid: number, port: number, user: string, database: string, env: Record<string, string>, rows: number): Promise<{ growthMb: number; seconds: number }> {
  const base = rssKb(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  const t0 = performance.now();
  // Asynchronous, so the sampler above keeps running while psql reads.
  const code = await new Promise<number>((resolve) => {
    const child = spawn('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', database, '-c', `copy (select repeat('x', 1000) from generate_series(1, ${rows})) to stdout`], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  clearInterval(sampler);
  if (code !== 0) throw new Error(`psql failed with ${code}`);
  return { growthMb: (peak - base) / 1024, seconds: (performance.now() - t0) / 1000 };
}

interface MemoryFigures {
  idleKbPerConn: number;
  conns: number;
  bigResultMb: number;
  airlock: { growthMb: number; seconds: number };
  pipe: { growthMb: number; seconds: number };
}

async function memory(): Promise<MemoryFigures> {
  // 1,000 upstream connections need a server that allows them: an embedded PostgreSQL with max_connections raised.
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-pg-'));
  chmodSync(dir, 0o711);
  const emb = await startEmbeddedPostgres({ dir: join(dir, 'pg'), maxConnections: 1100 });
  try {
    const u = new URL(emb.url);
    const shape = { host: '127.0.0.1', port: emb.port, database: 'postgres', password: decodeURIComponent(u.password) };
    const up: Upstream = { ...shape, offersTls: await serverOffersTls(shape) };
    const a = await airlockWithGrant(up);
    const pid = a.s.child.pid!;
    const pipe = await startNodePipe(dir, up);
    try {
      // A big result on a warm gateway (one small COPY first: the first session of a process sets up its TLS,
      // upstream and audit paths once, which is not what this measures), read by psql into /dev/null. The same
      // through a bare Node pipe is the baseline: what V8 and libuv themselves take to stream that much.
      const airlockEnv = { PGPASSWORD: a.alice, PGSSLMODE: 'require' };
      const pipeEnv = { PGPASSWORD: up.password, PGSSLMODE: 'disable' };
      await copyThrough(pid, a.gwPort, 'alice', 'bench', airlockEnv, 1000);
      await copyThrough(pipe.pid, pipe.port, u.username || 'postgres', up.database, pipeEnv, 1000);
      const airlock = await copyThrough(pid, a.gwPort, 'alice', 'bench', airlockEnv, ROWS);
      const pipeRun = await copyThrough(pipe.pid, pipe.port, u.username || 'postgres', up.database, pipeEnv, ROWS);
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
      return { idleKbPerConn: (after - before) / N, conns: N, bigResultMb: ROWS / 1000, airlock, pipe: pipeRun };
    } finally {
      await pipe.stop();
      await a.s.stop();
    }
  } finally {
    await emb.stop();
  }
}

async function serverOffersTls(up: Omit<Upstream, 'offersTls'>): Promise<boolean> {
  const c = new pg.Client({ host: up.host, port: up.port, user: 'postgres', password: up.password, database: up.database, ssl: false });
  await c.connect();
  try {
    return (await c.query<{ ssl: string }>('show ssl')).rows[0]!.ssl === 'on';
  } finally {
    await c.end();
  }
}

/** The commit a checkout is at, and whether its code differs from it (uncommitted edits in src/ or bin/). */
function describeTree(dir: string): string {
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();
  const dirty = git('status', '--porcelain', '--', 'src', 'bin').split('\n').filter(Boolean).length;
  return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ` + ${dirty} uncommitted file(s) in src/ and bin/` : ''} (${dir})`;
}

async function main() {
  const db = await createTestDatabase('airlock_bench');
  const base = new URL(adminUrl());
  const shape = { host: base.hostname, port: Number(base.port || 5432), database: db.name, password: decodeURIComponent(base.password) };
  const up: Upstream = { ...shape, offersTls: await serverOffersTls(shape) };
  if (BASELINE_TREE) console.log(`# new build: ${describeTree(ROOT)}; before: ${describeTree(BASELINE_TREE)}`);
  console.log(`# the upstream server's ssl is ${up.offersTls ? 'on: the current build\'s policy says tls: { mode: disable }, so every target talks plain TCP to it' : 'off: every target talks plain TCP to it'}`);
  try {
    if (!flag('skip-throughput')) await throughput(up);
    if (!flag('skip-revoke')) {
      for (const [label, root] of [['', undefined], ...(BASELINE_TREE ? [[' (before)', BASELINE_TREE]] : [])] as [string, string | undefined][]) {
        const a = await airlockWithGrant(up, [], root);
        try {
          const revoke = await revokeToDisconnect(a);
          console.log(`# revoke → client disconnected (ms)${label}: ${revoke.map((x) => x.toFixed(0)).join(', ')}`);
        } finally {
          await a.s.stop();
        }
      }
    }
    if (!flag('skip-memory')) {
      const mem = await memory();
      console.log(`# gateway memory per idle connection (${mem.conns} connections, TLS): ${mem.idleKbPerConn.toFixed(1)} KiB`);
      console.log(`# RSS growth during a ${mem.bigResultMb} MB COPY result: Airlock (TLS) ${mem.airlock.growthMb.toFixed(1)} MB in ${mem.airlock.seconds.toFixed(1)} s; bare Node pipe (no TLS) ${mem.pipe.growthMb.toFixed(1)} MB in ${mem.pipe.seconds.toFixed(1)} s`);
    }
  } finally {
    await db.drop();
  }
}

await main();
