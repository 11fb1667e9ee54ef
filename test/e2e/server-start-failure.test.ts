// `airlock server` whose address is taken: it says which flag's address, exits non-zero at once, and leaves nothing
// behind (the gateway port it had opened is free again), instead of hanging with half its parts running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN } from '../support/server-process.js';

const policy = 'version: 1\nprincipals:\n  - { name: alice }\nresources: []\nroles: []\n';

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/** A port free right now (nothing else on this machine hands it out meanwhile in practice). */
async function freePort(): Promise<number> {
  const s = await listen();
  const port = portOf(s);
  await close(s);
  return port;
}

/** Runs `airlock server ARGS…` to its exit; fails the test if it is still running after 30 s (the old hang). */
function runServer(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-start-fail-'));
  writeFileSync(join(dir, 'airlock.yaml'), policy);
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'server', '--config', join(dir, 'airlock.yaml'), '--data', join(dir, 'data'), ...args], {
    env: { ...process.env, AIRLOCK_BOOTSTRAP_TOKEN: `alk_${randomBytes(32).toString('base64url')}`, AIRLOCK_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve, reject) => {
    const hung = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`airlock server did not exit within 30 s after its start failed:\n${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(hung);
      resolve({ code, stderr, ms: performance.now() - t0 });
    });
  });
}

test('--listen on a port another process holds: a clear message, exit 2, and the gateway port is released', async () => {
  const taken = await listen();
  try {
    const pgPort = await freePort();
    const r = await runServer(['--listen', `127.0.0.1:${portOf(taken)}`, '--pg-listen', `127.0.0.1:${pgPort}`, '--mysql-listen', 'off']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`airlock: 127\\.0\\.0\\.1:${portOf(taken)} \\(--listen\\) is already in use by another process; stop it or choose another address \\[AIRLOCK_CONFIG_INVALID\\]`));
    await close(await listen(pgPort)); // the gateway had listened there; it must be free again
  } finally {
    await close(taken);
  }
});

test('--metrics-listen on a port another process holds: the same, naming --metrics-listen', async () => {
  const taken = await listen();
  try {
    const pgPort = await freePort();
    const r = await runServer(['--listen', '127.0.0.1:0', '--pg-listen', `127.0.0.1:${pgPort}`, '--mysql-listen', 'off', '--metrics-listen', `127.0.0.1:${portOf(taken)}`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /\(--metrics-listen\) is already in use by another process/);
    await close(await listen(pgPort));
  } finally {
    await close(taken);
  }
});
