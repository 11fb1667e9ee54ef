// `airlock server` configured only through environment variables, as a service manager or a container runs it:
// the store URL stays out of the process list, switches read strictly, a flag wins over its variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN, cli } from '../support/server-process.js';
import { E2E_POLICY } from '../support/policies.js';
import { createTestDatabase } from '../support/pg.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `airlock server ARGS` with ENV; resolves with its start-up JSON (then stops it with SIGTERM) or its exit. */
function serverWith(env: Record<string, string>, args: string[] = []): Promise<Run & { info?: Record<string, unknown>; cmdline?: string; signal?: NodeJS.Signals | null }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [BIN, 'server', '--json', ...args], { env: { ...process.env, AIRLOCK_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let info: Record<string, unknown> | undefined;
    let cmdline: string | undefined;
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.on('data', (c) => {
      stdout += c;
      if (info) return;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        return; // not the whole JSON yet
      }
      if (!('api' in parsed)) return; // an error: the process exits by itself
      info = parsed;
      cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      child.kill('SIGTERM');
    });
    child.on('exit', (code, signal) => resolveRun({ code, signal, stdout, stderr, info, cmdline }));
  });
}

function baseEnv(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-env-'));
  const config = join(dir, 'airlock.yaml');
  writeFileSync(config, E2E_POLICY);
  return { AIRLOCK_CONFIG: config, AIRLOCK_DATA_DIR: join(dir, 'data'), AIRLOCK_LISTEN: '127.0.0.1:0', AIRLOCK_PG_LISTEN: 'off', AIRLOCK_MYSQL_LISTEN: 'off', AIRLOCK_BOOTSTRAP_TOKEN: `alk_${randomBytes(32).toString('base64url')}` };
}

test('a server configured only by variables: store, data, policy and listener as given; the store URL is not in the process list', async () => {
  const db = await createTestDatabase('airlock_env');
  try {
    const env: Record<string, string> = { ...baseEnv(), AIRLOCK_STORE_URL: db.url, AIRLOCK_ALLOW_HTTP: 'false', AIRLOCK_PG_LISTEN: '127.0.0.1:0' };
    const r = await serverWith(env);
    assert.ok(r.info, `the server did not start:\n${r.stderr}`);
    assert.equal(r.info.store, 'postgres');
    assert.equal(r.info.data, env.AIRLOCK_DATA_DIR);
    assert.equal(r.info.policy, env.AIRLOCK_CONFIG);
    assert.match(String(r.info.api), /^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
    assert.match(String(r.info.gateway_postgres), /^127\.0\.0\.1:\d+ /);
    assert.ok(!r.cmdline!.includes(db.url) && !r.cmdline!.includes(db.name), `the process list shows the store: ${r.cmdline}`);
    assert.equal(r.code, 0, `SIGTERM right after the start-up JSON must stop it cleanly (exit 0), not end it by the signal (${r.signal ?? 'no signal'}):\n${r.stderr}`);

    // `airlock audit verify` reads the same variable: offline against that store, the URL again off the command line.
    const v = await cli({ url: 'http://127.0.0.1:9' }, undefined, ['audit', 'verify', '--json'], { env: { AIRLOCK_STORE_URL: db.url } });
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.json().ok, true);
    assert.ok(v.json().events >= 2, 'server.start and server.stop, read from the store');
  } finally {
    await db.drop();
  }
});

test('a switch read from its variable: yes/1/on turn it on, false/0/off leave it off, anything else is refused', async () => {
  // AIRLOCK_ALLOW_HTTP=on lets a non-loopback address serve plain HTTP; =off refuses it as if unset.
  const on = await serverWith({ ...baseEnv(), AIRLOCK_LISTEN: '0.0.0.0:0', AIRLOCK_ALLOW_HTTP: 'on' });
  assert.ok(on.info, `AIRLOCK_ALLOW_HTTP=on did not start the server:\n${on.stderr}`);
  const off = await serverWith({ ...baseEnv(), AIRLOCK_LISTEN: '0.0.0.0:0', AIRLOCK_ALLOW_HTTP: 'off' });
  assert.equal(off.info, undefined);
  assert.equal(JSON.parse(off.stdout).error.code, 'AIRLOCK_PLAIN_HTTP_REFUSED');
  for (const value of ['maybe', '2', 'enable']) {
    const bad = await serverWith({ ...baseEnv(), AIRLOCK_ALLOW_HTTP: value });
    assert.equal(bad.code, 2, bad.stderr);
    const err = JSON.parse(bad.stdout).error as { code: string; detail: string };
    assert.equal(err.code, 'AIRLOCK_USAGE');
    assert.match(err.detail, new RegExp(`AIRLOCK_ALLOW_HTTP must be 1, true, yes or on .*got "${value}"`));
  }
});

test('a bad value names the variable it came from; the flag wins over the variable', async () => {
  const bad = await serverWith({ ...baseEnv(), AIRLOCK_LISTEN: 'everywhere' });
  assert.equal(bad.code, 2);
  assert.match(JSON.parse(bad.stdout).error.detail, /AIRLOCK_LISTEN must be HOST:PORT, e\.g\. 127\.0\.0\.1:8080 \(got "everywhere"\)/);
  const flagWins = await serverWith({ ...baseEnv(), AIRLOCK_LISTEN: 'everywhere' }, ['--listen', '127.0.0.1:0']);
  assert.ok(flagWins.info, `--listen did not win over AIRLOCK_LISTEN:\n${flagWins.stderr}`);
  const badFlag = await serverWith(baseEnv(), ['--listen', 'nowhere']);
  assert.match(JSON.parse(badFlag.stdout).error.detail, /--listen must be HOST:PORT/);
});
