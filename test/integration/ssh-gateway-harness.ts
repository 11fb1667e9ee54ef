// The SSH gateway tests' set-up: a real OpenSSH sshd (test/support/sshd.ts) trusting Airlock's user CA, the real
// Airlock server in this process with its SSH listener, and the real OpenSSH client `ssh` run through it with the
// principal's token given by SSH_ASKPASS (as `airlock ssh` does).
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestSshd, type TestSshd } from '../support/sshd.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';

export interface SshHarness {
  airlock: InProcessAirlock;
  sshd: TestSshd;
  dir: string;
  gw: { host: string; port: number; hostKey: string };
  /** ssh options that pin the gateway's host key and give `token` through SSH_ASKPASS. */
  sshArgs(user: string, extra?: string[]): string[];
  env(token: string): NodeJS.ProcessEnv;
  /** Runs `ssh` (or scp/sftp: `program`) to completion. */
  run(token: string, user: string, args: string[], o?: { program?: string; input?: string; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  token(principal?: string): Promise<string>;
  grant(role: string, principal?: string): Promise<string>;
  /** The audit events of one action (e.g. "statement"), oldest first. */
  events(action: string): Promise<{ actor: string; action: string; target: string | null; details: Record<string, unknown> }[]>;
  /** The `statement` events of one principal, oldest first. */
  statements(actor: string): Promise<{ actor: string; action: string; target: string | null; details: Record<string, unknown> }[]>;
  close(): Promise<void>;
}

export function sshPolicy(sshd: TestSshd, credential = `{ username: ${sshd.user} }`): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: carol, groups: [engineers] }
  - { name: dave, groups: [engineers] }
  - { name: bob, groups: [sre] }
admins: { groups: [sre] }
auditors: { groups: [sre] }
resources:
  - name: bastion
    kind: ssh
    address: "${sshd.address}"
    credential: ${credential}
    host_key: "${sshd.hostKey}"
    labels: { env: prod }
roles:
  - name: shell
    resources: { names: [bastion] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
    justification: { required: false }
    ssh: { env: [LANG, "LC_*", TERM, SSHTEST_OK, LD_PRELOAD, HTTPS_PROXY] }
  - name: ops
    resources: { names: [bastion] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
    justification: { required: false }
    ssh: { file_transfer: true, port_forwarding: true, record_input: true }
  - name: restricted
    resources: { names: [bastion] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
    justification: { required: false }
    ssh: { shell: false }
    commands: { allow: ["echo ...", "uname ..."], deny: ["echo forbidden ..."] }
`;
}

export async function startSshHarness(): Promise<SshHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshgw-'));
  const sshd = await startTestSshd();
  const airlock = await startAirlock({ policy: sshPolicy(sshd) });
  const gw = airlock.server.sshGateway!;
  // The hosts trust Airlock's user CA: the session certificates it signs.
  await sshd.setTrustedUserCaKeys([caLine(airlock)]);
  writeFileSync(join(dir, 'known_hosts'), `[${gw.host}]:${gw.port} ${gw.host_key}\n`);
  const askpass = join(dir, 'askpass');
  writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$AIRLOCK_TEST_TOKEN"\n');
  chmodSync(askpass, 0o700);
  const sshArgs = (user: string, extra: string[] = []) => [
    '-F', '/dev/null',
    '-p', String(gw.port),
    '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PubkeyAuthentication=no',
    '-o', 'PreferredAuthentications=password,keyboard-interactive',
    '-o', 'NumberOfPasswordPrompts=1',
    '-o', 'BatchMode=no',
    '-l', user,
    ...extra,
  ];
  const env = (token: string): NodeJS.ProcessEnv => ({ ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', AIRLOCK_TEST_TOKEN: token, SSH_AUTH_SOCK: '', SSHTEST_OK: 'yes', SSHTEST_NO: 'no' });
  const events: SshHarness['events'] = async (action) => {
    const r = await airlock.api<{ events: Awaited<ReturnType<SshHarness['events']>> }>(airlock.adminToken, 'GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=10000`);
    return r.events;
  };
  return {
    airlock,
    sshd,
    dir,
    gw: { host: gw.host, port: gw.port, hostKey: gw.host_key },
    sshArgs,
    env,
    run(token, user, args, o = {}) {
      const program = o.program ?? 'ssh';
      const full = program === 'ssh' ? [...sshArgs(user), gw.host, ...args] : args;
      const child = spawn(program, full, { env: env(token), stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
      child.stdin.end(o.input ?? '');
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
      return new Promise((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr }))));
    },
    token: (principal = 'alice') => airlock.token(principal),
    async grant(role, principal = 'alice') {
      const t = await airlock.token(principal);
      return airlock.grant(t, await airlock.token('bob'), 'bastion', role);
    },
    events,
    async statements(actor) {
      return (await events('statement')).filter((e) => e.actor === actor);
    },
    async close() {
      await airlock.stop();
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The user CA's public line, as `airlock ca --ssh-user-ca` prints it. */
function caLine(airlock: InProcessAirlock): string {
  return execFileSync('ssh-keygen', ['-y', '-f', join(airlock.dir, 'data', 'ssh', 'user_ca')], { encoding: 'utf8' }).trim();
}

/** Polls `check` until it is true (every 50 ms, up to `ms`). */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
