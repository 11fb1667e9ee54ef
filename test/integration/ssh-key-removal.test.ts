// Removing a registered SSH key ends the sessions that logged in with it, within a second and with the reason on the
// user's terminal, as revoking an access token does: the real OpenSSH client (key login, and a token login beside it
// that must go on), the real server, a real sshd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pty from 'node-pty';
import { sshKeygen } from '../support/sshd.js';
import { startSshHarness, until, type SshHarness } from './ssh-gateway-harness.js';

let h: SshHarness;
before(async () => {
  h = await startSshHarness();
});
after(async () => {
  await h?.close();
});

/** ssh options for a login with `keyFile` only (no password, no agent), the gateway's host key pinned. */
function keyArgs(keyFile: string, user: string): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(h.gw.port),
    '-o', `UserKnownHostsFile=${join(h.dir, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PubkeyAuthentication=yes',
    '-o', 'PreferredAuthentications=publickey',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-i', keyFile,
    '-l', user,
  ];
}

/** An interactive ssh on a PTY: what its screen shows, and when it exited with what. */
function terminal(args: string[], env: NodeJS.ProcessEnv) {
  const term = pty.spawn('ssh', ['-tt', ...args, h.gw.host], { name: 'xterm', cols: 100, rows: 30, env: env as Record<string, string> });
  let screen = '';
  term.onData((d) => void (screen += d));
  const exited = new Promise<{ code: number; at: number }>((resolve) => term.onExit(({ exitCode }) => resolve({ code: exitCode, at: Date.now() })));
  return { term, screen: () => screen, exited };
}

test('removing a registered SSH key cuts its live sessions within 1 s with the reason; a token session goes on; the key logs in no more', async () => {
  const t = await h.token('alice');
  await h.grant('shell', 'alice');
  const key = sshKeygen(h.dir, 'alice_key');
  const added = await h.airlock.api<{ id: string; fingerprint: string }>(t, 'POST', '/api/v1/ssh-keys', { key: key.publicLine });
  const tokenId = `ssh-key:${added.id}`;
  const env = { ...process.env, SSH_AUTH_SOCK: '' };
  const startsBefore = (await h.events('session.start')).length;

  // A command running, logged in with the key (on a PTY, so the host hangs the command up when the channel goes).
  const running = spawn('ssh', ['-tt', ...keyArgs(key.file, 'alice%bastion'), h.gw.host, 'sleep', '41.5'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let runningOut = '';
  running.stdout.on('data', (d: Buffer) => void (runningOut += d.toString()));
  running.stderr.on('data', (d: Buffer) => void (runningOut += d.toString()));
  const runningExit = new Promise<{ code: number | null; at: number }>((resolve) => running.on('close', (code) => resolve({ code, at: Date.now() })));
  // An idle shell, logged in with the key.
  const idle = terminal(keyArgs(key.file, 'alice%bastion'), env);
  // An idle shell, logged in with the access token: not the key's session, it must go on.
  const other = terminal(h.sshArgs('alice%bastion'), h.env(t));
  try {
    idle.term.write('echo key-$((2+3))\r');
    other.term.write('echo token-$((2+4))\r');
    await until('the key shell', () => idle.screen().includes('key-5'));
    await until('the token shell', () => other.screen().includes('token-6'));
    await until('both key sessions started', async () => (await h.events('session.start')).slice(startsBefore).filter((e) => e.details.token_id === tokenId).length === 2);
    await until('the command running', async () => {
      const { sessions } = await h.airlock.api<{ sessions: { principal: string; statements_running?: number }[] }>(h.airlock.adminToken, 'GET', '/api/v1/sessions');
      return sessions.filter((s) => s.principal === 'alice' && (s.statements_running ?? 0) > 0).length === 3;
    });

    const t0 = Date.now();
    await h.airlock.api(t, 'DELETE', `/api/v1/ssh-keys/${added.id}`);
    const [r, i] = await Promise.race([
      Promise.all([runningExit, idle.exited]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the key\'s sessions were still open 5 s after its removal')), 5000)),
    ]);
    console.log(`# key removal: command cut ${r.at - t0} ms, idle shell cut ${i.at - t0} ms after the DELETE`);
    const reason = /airlock: session ended — your SSH key was removed by alice \(SHA256:[^)]+\); log in again with an access token or another registered key/;
    assert.ok(r.at - t0 < 1000, `the running command's ssh exited ${r.at - t0} ms after the removal`);
    assert.ok(i.at - t0 < 1000, `the idle shell's ssh exited ${i.at - t0} ms after the removal`);
    assert.equal(r.code, 255);
    assert.match(runningOut, reason);
    assert.match(idle.screen(), reason);

    // The token's session is not the key's: it still answers.
    other.term.write('echo still-$((1+1))\r');
    await until('the token shell answering after the removal', () => other.screen().includes('still-2'));

    const starts = (await h.events('session.start')).slice(startsBefore).filter((e) => e.details.token_id === tokenId);
    for (const s of starts) {
      await until('session.end of a key session', async () => (await h.events('session.end')).some((e) => e.details.session_id === s.details.session_id));
      const end = (await h.events('session.end')).find((e) => e.details.session_id === s.details.session_id)!;
      assert.match(String(end.details.reason), /^your SSH key was removed by alice/);
    }
    const removed = (await h.events('ssh_key.removed')).find((e) => e.details.id === added.id);
    assert.ok(removed, 'ssh_key.removed is in the log');
    assert.equal(removed.details.fingerprint, added.fingerprint);

    // The key logs in no more.
    const again = spawn('ssh', [...keyArgs(key.file, 'alice%bastion'), h.gw.host, 'true'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let againErr = '';
    again.stderr.on('data', (d: Buffer) => void (againErr += d.toString()));
    const code = await new Promise<number | null>((resolve) => again.on('close', resolve));
    assert.equal(code, 255);
    assert.match(againErr, /Permission denied/);
  } finally {
    running.kill();
    idle.term.kill();
    other.term.kill();
  }
});
