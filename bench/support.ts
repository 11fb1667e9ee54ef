// What the gateway benchmarks share: their command-line options, the CPU time a process used, medians, running
// pgbench, and stopping the helper processes they start.
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** `--name value` from the command line. */
export const option = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
export const num = (name: string, def: number) => Number(option(name) ?? def);
export const list = (name: string, def: string) => (option(name) ?? def).split(',').map((s) => s.trim()).filter(Boolean);
export const flag = (name: string) => process.argv.includes(`--${name}`);

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time a process (all its threads) has used so far, in µs: /proc/PID/stat utime and stime, in clock ticks. */
export function cpuUs(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count from the last ')'. Field 3 comes first, so utime (14) is [11].
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(f[11]) * 1e6) / CLK_TCK, sys: (Number(f[12]) * 1e6) / CLK_TCK };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** SIGTERM, then SIGKILL if the process is still there after 5 s; resolves once it has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Runs pgbench to the end (env: PGPASSWORD, PGSSLMODE…) and reads its summary. */
export function pgbench(args: string[], env: Record<string, string>): { tps: number; latencyMs: number; transactions: number } {
  const r = spawnSync('pgbench', args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  const tx = /number of transactions actually processed: (\d+)/.exec(r.stdout);
  if (!tps || !tx) throw new Error(`pgbench failed: ${r.stdout}\n${r.stderr}`);
  return { tps: Number(tps[1]), latencyMs: lat ? Number(lat[1]) : NaN, transactions: Number(tx[1]) };
}
