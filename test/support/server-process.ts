// Runs the real `airlock server` as a child process and the real CLI against it, as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'airlock.js');

// Every `airlock` these tests start (and every process they spawn with process.env) runs src/ through tsx, never
// dist/: a build left from older sources cannot make a test pass or fail. test/e2e/package.test.ts runs the compiled
// build, from a tarball it packs itself. Set AIRLOCK_FROM_SOURCE=0 to run these tests against dist/ instead.
process.env.AIRLOCK_FROM_SOURCE ??= '1';

export interface ServerProcess {
  url: string;
  /** What `airlock server --json` printed at start. */
  info: Record<string, unknown>;
  adminToken: string;
  dir: string;
  config: string;
  child: ChildProcess;
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * `root` runs the server from another checkout of the repository (its own bin/airlock.js and src, with its directory as
 * the working directory so tsx reads its tsconfig): the benchmark compares a build before a change with this one.
 */
export async function startServerProcess(opts: { policy: string; dir?: string; adminToken?: string; storeUrl?: string; port?: number; extraArgs?: string[]; env?: Record<string, string>; nodeArgs?: string[]; root?: string }): Promise<ServerProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'airlock-e2e-'));
  const config = join(dir, 'airlock.yaml');
  writeFileSync(config, opts.policy);
  const adminToken = opts.adminToken ?? `alk_${randomBytes(32).toString('base64url')}`;
  const bin = opts.root ? join(resolve(opts.root), 'bin', 'airlock.js') : BIN;
  // A free port for the MySQL gateway too (its default 3307 would collide between servers), where the build has one:
  // a baseline checkout from before the MySQL gateway refuses the flag.
  const mysqlListen = !opts.root || readFileSync(join(resolve(opts.root), 'src', 'cli', 'server-commands.ts'), 'utf8').includes('--mysql-listen') ? ['--mysql-listen', '127.0.0.1:0'] : [];
  const sshListen = !opts.root || readFileSync(join(resolve(opts.root), 'src', 'cli', 'server-commands.ts'), 'utf8').includes('--ssh-listen') ? ['--ssh-listen', '127.0.0.1:0'] : [];
  const args = [...(opts.nodeArgs ?? []), bin, 'server', '--json', '--config', config, '--data', join(dir, 'data'), '--listen', `127.0.0.1:${opts.port ?? 0}`, '--pg-listen', '127.0.0.1:0', ...mysqlListen, ...sshListen, ...(opts.storeUrl ? ['--store', opts.storeUrl] : []), ...(opts.extraArgs ?? [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, AIRLOCK_BOOTSTRAP_TOKEN: adminToken, AIRLOCK_LOG_LEVEL: 'warn', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.root ? { cwd: resolve(opts.root) } : {}) });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  let out = '';
  const info = await new Promise<{ api: string } & Record<string, unknown>>((resolveInfo, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start in 60s:\n${stderr.join('\n')}`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      try {
        const parsed = JSON.parse(out) as { api: string } & Record<string, unknown>;
        clearTimeout(t);
        resolveInfo(parsed);
      } catch {
        // not the whole JSON yet
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code}:\n${stderr.join('\n')}`));
    });
  });
  return {
    url: info.api.replace(/\/api\/v1$/, ''),
    info,
    adminToken,
    dir,
    config,
    child,
    stderr,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      return new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r(child.exitCode);
        child.once('exit', (code) => r(code));
        child.kill(signal);
      });
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Runs `airlock ARGS…` with AIRLOCK_SERVER/AIRLOCK_TOKEN set. */
export function cli(server: { url: string }, token: string | undefined, args: string[], opts: { stdin?: string; env?: Record<string, string>; onStdout?: (chunk: string) => void } = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const env: Record<string, string | undefined> = { ...process.env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: token, AIRLOCK_CONFIG_DIR: join(tmpdir(), 'airlock-cli-test-none'), ...opts.env };
    if (token === undefined) delete env.AIRLOCK_TOKEN;
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
      opts.onStdout?.(String(c));
    });
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end(opts.stdin ?? '');
    child.on('exit', (code) =>
      resolveRun({
        code: code ?? -1,
        stdout,
        stderr,
        json: () => {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`not JSON (exit ${code}):\n${stdout}\n${stderr}`);
          }
        },
      }),
    );
  });
}

/** One API call as a client makes it; throws with the problem's text when the answer is not 2xx. */
export async function apiJson<T = any>(server: { url: string }, token: string, method: string, path: string, body?: unknown): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const send = () => fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  // A keep-alive socket left idle for long (a benchmark run) may have been closed by the server: try once more.
  const res = await send().catch(() => send());
  const j = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${JSON.stringify(j)}`);
  return j;
}

/** A process's resident memory (VmRSS) in KiB, from /proc (Linux). */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]);
}
