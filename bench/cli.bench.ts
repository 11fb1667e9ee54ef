// CLI start-up: `airlock --help` and `airlock whoami` (against a running server) from the compiled build, against
// `node -e 0` on the same machine, in interleaved rounds. The goal (issue 12): within 3× of `node -e 0`.
// Run: node --import tsx bench/cli.bench.ts [--rounds 30] [--baseline-tree DIR] [--no-build]
//   --baseline-tree DIR: also times DIR/bin/airlock.js (a checkout of an earlier commit, e.g. the one before the
//   compiled build), in the same rounds.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServerProcess, ROOT } from '../test/support/server-process.js';
import { E2E_POLICY } from '../test/support/policies.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const ROUNDS = Number(arg('rounds') ?? 30);
const BASELINE_TREE = arg('baseline-tree') ? resolve(arg('baseline-tree')!) : undefined;
if (BASELINE_TREE && !existsSync(join(BASELINE_TREE, 'bin', 'airlock.js'))) throw new Error(`--baseline-tree ${BASELINE_TREE}: no bin/airlock.js there`);

if (!process.argv.includes('--no-build')) {
  console.log('# building dist/ (npm run build:server) so the figures are for the current sources');
  execFileSync('npm', ['run', '--silent', 'build:server'], { cwd: ROOT, stdio: 'inherit' });
}

// The server runs from the compiled build too; its speed only matters for whoami's one round trip.
const server = await startServerProcess({ policy: E2E_POLICY, extraArgs: ['--pg-listen', 'off', '--mysql-listen', 'off'], env: { AIRLOCK_FROM_SOURCE: '0' } });
const env: Record<string, string | undefined> = { ...process.env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: server.adminToken, AIRLOCK_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'airlock-cli-bench-')) };
delete env.AIRLOCK_FROM_SOURCE; // as a user runs it: the compiled build

interface Target {
  name: string;
  args: string[];
  cwd?: string;
  times: number[];
}
const bin = join(ROOT, 'bin', 'airlock.js');
const targets: Target[] = [
  { name: 'node -e 0', args: ['-e', '0'], times: [] },
  { name: 'airlock --help', args: [bin, '--help'], times: [] },
  { name: 'airlock whoami', args: [bin, 'whoami'], times: [] },
];
if (BASELINE_TREE) {
  const before = join(BASELINE_TREE, 'bin', 'airlock.js');
  targets.push({ name: 'before: airlock --help', args: [before, '--help'], cwd: BASELINE_TREE, times: [] }, { name: 'before: airlock whoami', args: [before, 'whoami'], cwd: BASELINE_TREE, times: [] });
}

function once(t: Target): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, t.args, { env, cwd: t.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${t.name} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return ms;
}

try {
  for (const t of targets) once(t); // warm-up: file cache, the server's first request
  for (let round = 0; round < ROUNDS; round++) {
    // Each round runs every target once, starting at a different one, so a slow spell on the machine spreads evenly.
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(round + k) % targets.length]!;
      t.times.push(once(t));
    }
  }
} finally {
  await server.stop();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;
const base = targets[0]!;
// Paired: each round's time over the same round's `node -e 0`, then the geometric mean over the rounds.
const paired = (t: Target) => Math.exp(t.times.reduce((s, x, i) => s + Math.log(x / base.times[i]!), 0) / t.times.length);

console.log(`\nNode ${process.version}, ${ROUNDS} interleaved rounds (wall time from spawn to exit, ms):\n`);
console.log(`${'command'.padEnd(24)} ${'median'.padStart(8)} ${'p90'.padStart(8)}   ÷ node -e 0 (medians)   ÷ node -e 0 (paired, geo. mean)`);
for (const t of targets) {
  const r = t === base ? '' : `${(median(t.times) / median(base.times)).toFixed(2)}×`;
  const rp = t === base ? '' : `${paired(t).toFixed(2)}×`;
  console.log(`${t.name.padEnd(24)} ${median(t.times).toFixed(0).padStart(8)} ${p90(t.times).toFixed(0).padStart(8)}   ${r.padStart(21)}   ${rp.padStart(31)}`);
}
