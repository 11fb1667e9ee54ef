// A real OpenSSH server (Debian openssh-server) for tests: started on a free loopback port with a configuration, host
// key, TrustedUserCAKeys and authorized_keys of the test's own, in a temporary directory; nothing of the machine's sshd
// is read or changed. Sessions log in as the user running the tests (root in CI), so no Unix user is created.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from '../../src/store/embedded-postgres.js';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshdOptions {
  /** Public key lines sshd trusts as user CAs (TrustedUserCAKeys). */
  trustedUserCaKeys?: string[];
  /** Public key lines allowed to log in as the test user (its own AuthorizedKeysFile). */
  authorizedKeys?: string[];
  /** Extra sshd_config lines. */
  config?: string[];
}

export interface TestSshd {
  host: string;
  port: number;
  /** `host:port`, as a resource's address. */
  address: string;
  /** The Unix user sessions log in as (the one running the tests). */
  user: string;
  /** The host key's public line ("ssh-ed25519 AAAA…"), as a policy's host_key pins it. */
  hostKey: string;
  dir: string;
  /** Replaces TrustedUserCAKeys and reloads sshd (SIGHUP); resolves once it listens again. */
  setTrustedUserCaKeys(lines: string[]): Promise<void>;
  /** Replaces authorized_keys (read at each login, no reload needed). */
  setAuthorizedKeys(lines: string[]): void;
  /** Makes a new host key and restarts sshd with it on the same port; returns the new public line. */
  rotateHostKey(): Promise<string>;
  /** sshd's own log (LogLevel VERBOSE): why it refused a login. */
  log(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1: the store's own helper (embedded-postgres picks its port the same way). */
export { freePort };

/** Resolves once something accepts TCP connections on host:port (within `ms`). */
export async function waitForPort(host: string, port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect({ host, port }, () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An ed25519 key pair made by ssh-keygen: the private key file's path and its public line. */
export function sshKeygen(dir: string, name: string): { file: string; publicLine: string } {
  const file = join(dir, name);
  rmSync(file, { force: true });
  rmSync(`${file}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], { stdio: 'ignore' });
  return { file, publicLine: readFileSync(`${file}.pub`, 'utf8').trim() };
}

export async function startTestSshd(opts: TestSshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install Debian's openssh-server (apt-get install openssh-server), as .ci/run does`);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshd-'));
  chmodSync(dir, 0o755);
  // sshd run as root wants its privilege-separation directory.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const host = '127.0.0.1';
  const port = await freePort();
  const user = userInfo().username;
  let hostKey = sshKeygen(dir, 'host_key').publicLine;
  writeFileSync(join(dir, 'user_ca.pub'), (opts.trustedUserCaKeys ?? []).join('\n') + '\n');
  writeFileSync(join(dir, 'authorized_keys'), (opts.authorizedKeys ?? []).join('\n') + '\n', { mode: 0o600 });
  const logFile = join(dir, 'sshd.log');
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      `ListenAddress ${host}`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `TrustedUserCAKeys ${join(dir, 'user_ca.pub')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PrintMotd no',
      'PrintLastLog no',
      'AllowTcpForwarding yes',
      'AllowAgentForwarding yes',
      'X11Forwarding no',
      'AcceptEnv LANG LC_* TERM SSHTEST_*',
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      ...(opts.config ?? []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const c = spawn(SSHD, ['-D', '-f', join(dir, 'sshd_config'), '-E', logFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) => c.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${stderr}${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`))));
    exited.catch(() => {});
    await Promise.race([waitForPort(host, port), exited]);
    child = c;
  };
  const stopChild = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    host,
    port,
    address: `${host}:${port}`,
    user,
    get hostKey() {
      return hostKey;
    },
    dir,
    async setTrustedUserCaKeys(lines) {
      writeFileSync(join(dir, 'user_ca.pub'), lines.join('\n') + '\n');
      // A restart rather than SIGHUP: sshd -D re-executes itself on SIGHUP, and the port is free only in between.
      await stopChild();
      await start();
    },
    setAuthorizedKeys(lines) {
      writeFileSync(join(dir, 'authorized_keys'), lines.join('\n') + '\n', { mode: 0o600 });
    },
    async rotateHostKey() {
      await stopChild();
      hostKey = sshKeygen(dir, 'host_key').publicLine;
      await start();
      return hostKey;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async stop() {
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
