// The gateway contract (gateway-contract.ts) for the SSH front-end: an ssh2 Client logs in through the real server's
// SSH listener as <principal>%<resource> with the access token as its password (the gateway's host key checked against
// GET /api/v1/gateways), to a real OpenSSH sshd (test/support/sshd.ts) the resource pins by its host key. The gateway
// logs in there with an injected private key read from an environment variable: that key is the secret that must never
// show. One contract session is one SSH connection; each query is one exec channel (its output lines are the rows);
// idle is an interactive shell on a PTY. Refusals reach the client as USERAUTH_BANNER text; a cut as the line
// "airlock: session ended — <reason>" on the open channels.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import ssh2, { type ClientChannel } from 'ssh2';
import { startTestSshd, sshKeygen, type TestSshd } from '../support/sshd.js';
import { runGatewayContract, type ContractSession } from './gateway-contract.js';

/** What the client was told: a code (the SSH step that failed, or the exit status) and every text it was shown. */
class SshError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The base64 body of a PEM/OpenSSH private key file, without its armour lines and newlines. */
function keyBody(pem: string): string {
  return pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
}

interface Channel {
  ch: ClientChannel;
  out: string;
  err: string;
  status: { code: number | null; signal?: string };
  closed: Promise<void>;
  firstData: Promise<void>;
}

let sshd: TestSshd;
let keyDir: string;
const shells = new WeakMap<ContractSession, () => Promise<void>>();

runGatewayContract({
  protocol: 'ssh',
  serverOptions: { sshListen: { host: '127.0.0.1', port: 0 } },
  texts: { one: 'echo one', answer: 'echo 42 answer', answerAudited: /^echo 42 answer$/, answerRows: null, redactsLiterals: false, missing: '/nonexistent/airlock-contract-missing' },
  sessionEndExtra: ['recording'],
  // An SSH login names a principal and a resource (<principal>%<resource>) and nothing else: there is no database or
  // target a client could ask for, so the case of one the resource does not cover cannot be put to this front-end.
  // The session's database is recorded as the empty string.
  noDatabase: { why: 'an SSH login names only <principal>%<resource>: there is no database or target to ask for', audited: '' },

  async prepare() {
    keyDir = mkdtempSync(join(tmpdir(), 'airlock-contract-ssh-'));
    const key = sshKeygen(keyDir, 'upstream_key');
    sshd = await startTestSshd({ authorizedKeys: [key.publicLine] });
    const pem = readFileSync(key.file, 'utf8');
    const body = keyBody(pem);
    return {
      resource: (name) => `  - name: ${name}
    kind: ssh
    address: "${sshd.address}"
    host_key: "${sshd.hostKey}"
    credential: { username: ${sshd.user}, mode: injected, private_key: { env: CONTRACT_SSH_PRIVATE_KEY } }`,
      env: { CONTRACT_SSH_PRIVATE_KEY: pem },
      // The whole base64 body, and each of its lines (a log may quote one line of a multi-line key).
      secrets: [body, ...pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))],
      drop: async () => {
        await sshd?.stop();
        rmSync(keyDir, { recursive: true, force: true });
      },
    };
  },

  sleepSql: (seconds) => `sleep ${seconds}`,

  async connect(server, login): Promise<ContractSession> {
    const gateways = (await (await fetch(`${server.apiUrl}/api/v1/gateways`)).json()) as { ssh: { host: string; port: number; host_key: string } | null };
    const gw = gateways.ssh;
    if (!gw) throw new Error('GET /api/v1/gateways has no ssh entry: the SSH listener is off');
    const hostKey = Buffer.from(gw.host_key.split(/\s+/)[1]!, 'base64');
    const c = new ssh2.Client();
    const banners: string[] = [];
    // Everything the gateway wrote to this connection's channels (stdout and stderr), where a cut's reason lands.
    let transcript = '';
    let lastError: Error | null = null;
    let hostKeyOk = false;
    c.on('banner', (m: string) => void banners.push(m));
    c.on('error', (e: Error) => void (lastError = e));
    const told = (): SshError | null => {
      const cut = transcript.split(/\r?\n/).filter((l) => l.includes('airlock: session ended'));
      if (cut.length) return new SshError('exit 255', cut.join('\n'));
      if (banners.length) return new SshError('SSH_MSG_USERAUTH_FAILURE', banners.join(''));
      return null;
    };
    const ended = new Promise<{ at: number; error: unknown }>((resolve) => c.once('close', () => resolve({ at: Date.now(), error: told() })));
    try {
      await new Promise<void>((resolve, reject) => {
        c.once('ready', resolve);
        c.once('error', reject);
        c.once('close', () => reject(new Error('the connection closed before login')));
        c.connect({
          host: gw.host,
          port: gw.port,
          username: `${login.principal}%${login.resource}`,
          password: login.token,
          tryKeyboard: false,
          readyTimeout: 20_000,
          hostVerifier: (key: Buffer) => (hostKeyOk = key.equals(hostKey)),
        });
      });
    } catch (e) {
      c.end();
      await ended;
      if (!hostKeyOk) throw new Error('the gateway showed a host key other than GET /api/v1/gateways ssh.host_key');
      throw told() ?? new SshError('CLOSED', `the login failed and the gateway said nothing: ${(e as Error).message}`);
    }

    /**
     * Opens a channel and collects what it says: its listeners are set as it opens, since the gateway may send
     * everything up to its close in the same TCP read as the open confirmation.
     */
    const open = (kind: 'exec' | 'shell', command?: string): Promise<Channel> =>
      new Promise((resolve, reject) => {
        const done = (err: Error | undefined, ch: ClientChannel): void => {
          if (err) return reject(told() ?? new SshError('CHANNEL_OPEN_FAILURE', err.message));
          const r: Channel = { ch, out: '', err: '', status: { code: null }, closed: null as unknown as Promise<void>, firstData: null as unknown as Promise<void> };
          r.firstData = new Promise((res) => ch.once('data', () => res()));
          r.closed = new Promise((res) => ch.once('close', () => res()));
          ch.on('data', (d: Buffer) => void ((r.out += d.toString('utf8')), (transcript += d.toString('utf8'))));
          ch.stderr.on('data', (d: Buffer) => void ((r.err += d.toString('utf8')), (transcript += d.toString('utf8'))));
          ch.on('exit', (code: number | null, signal?: string) => void (r.status = { code, signal }));
          resolve(r);
        };
        try {
          if (kind === 'exec') c.exec(command!, done);
          else c.shell({ term: 'xterm', cols: 80, rows: 24 }, done);
        } catch (e) {
          reject(told() ?? new SshError('CLOSED', (e as Error).message));
        }
      });

    const s: ContractSession = {
      async query(line) {
        const r = await open('exec', line);
        await r.closed;
        const { code, signal } = r.status;
        if (code !== 0) throw new SshError(code === null ? `signal ${signal ?? 'none'}` : `exit ${code}`, r.err || r.out || (lastError as Error | null)?.message || 'the channel closed without an exit status');
        return r.out.split(/\r?\n/).filter((l) => l.length > 0);
      },
      garbage(bytes) {
        // Under the SSH transport, straight to the TCP socket, as a broken or hostile client would.
        (c as unknown as { _sock: Socket })._sock.write(bytes);
      },
      ended,
      async close() {
        c.end();
        await ended;
      },
    };
    shells.set(s, async () => {
      // The shell is idle once it has printed its prompt (anything at all).
      await (await open('shell')).firstData;
    });
    return s;
  },

  async idle(s) {
    // An interactive shell on a PTY, waiting for input: a session that holds a channel and does nothing.
    await shells.get(s)!();
  },

  describe(err) {
    const e = err as SshError;
    return { code: String(e.code ?? ''), text: `${e.code ?? ''}: ${e.message ?? String(err)}` };
  },
});
