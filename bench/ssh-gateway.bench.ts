// SSH gateway benchmark, in one interleaved run against a real OpenSSH server of the bench's own (test/support/sshd.ts):
// - throughput of `cat` of a large file with the OpenSSH client: direct to sshd, through the thinnest SSH relay that
//   can be written on ssh2 (this file's bare relay: the same library as Airlock, no policy, no audit, no recording),
//   and through Airlock (certificate login upstream, recording on) — Airlock ÷ direct and Airlock ÷ relay;
// - the round trip of one keystroke (a byte written to `cat` and read back), direct and through Airlock: the time
//   Airlock adds;
// - recording: what recording costs is read from the relay ÷ Airlock throughput above (the relay records nothing) and
//   from the recording's size against the bytes relayed;
// - the gateway's memory per idle session with 200 interactive sessions open.
// Run: node --import tsx bench/ssh-gateway.bench.ts [--mb 200] [--rounds 3] [--keystrokes 400] [--sessions 200] [--binary]
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, writeSync, closeSync, rmSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import { startServerProcess, apiJson as api, rssKb, type ServerProcess } from '../test/support/server-process.js';
import { startTestSshd, sshKeygen, type TestSshd } from '../test/support/sshd.js';
import { flag, median, num } from './support.js';

const MB = num('mb', 200);
const ROUNDS = num('rounds', 3);
const KEYSTROKES = num('keystrokes', 400);
const SESSIONS = num('sessions', 200);
const BINARY = flag('binary');

const dir = mkdtempSync(join(tmpdir(), 'airlock-ssh-bench-'));
const clientKey = sshKeygen(dir, 'client');

/**
 * A file of `mb` MiB: a log (text lines, what people cat on a host), or with --binary random bytes (the recording's
 * worst case: asciicast is JSON text, so bytes that are not UTF-8 or are control characters grow when recorded).
 */
function bigFile(mb: number): string {
  const file = join(dir, 'big.log');
  const fd = openSync(file, 'w');
  let text = '';
  for (let i = 0; text.length < 1 << 20; i++) text += `2026-12-07T06:${String(i % 60).padStart(2, '0')}:00.${String(i % 1000).padStart(3, '0')}Z payments[${1000 + (i % 97)}]: charge accepted order=${100000 + i} amount=${(i * 7) % 10000}.${i % 100} card=****${String(i % 10000).padStart(4, '0')} ${randomBytes(6).toString('hex')}\n`;
  const chunk = BINARY ? randomBytes(1 << 20) : Buffer.from(text).subarray(0, 1 << 20);
  for (let i = 0; i < mb; i++) writeSync(fd, chunk);
  closeSync(fd);
  return file;
}

/** The OpenSSH client, non-interactive, host keys not checked (the bench's own loopback servers). */
function sshArgs(port: number, user: string): string[] {
  return ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-i', clientKey.file, '-p', String(port), `${user}@127.0.0.1`];
}

/** Seconds `ssh … cat file` takes, its output thrown away (counted to be sure it all arrived). */
function catSeconds(port: number, user: string, file: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('ssh', [...sshArgs(port, user), `cat ${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let got = 0;
    let err = '';
    child.stdout.on('data', (b: Buffer) => void (got += b.length));
    child.stderr.on('data', (b: Buffer) => void (err += b.toString()));
    child.on('exit', (code) => {
      if (code !== 0 || got !== bytes) reject(new Error(`ssh cat through port ${port} ended with ${code} after ${got} of ${bytes} bytes: ${err}`));
      else resolve((performance.now() - t0) / 1000);
    });
  });
}

/** The thinnest SSH relay on ssh2: accepts anyone, logs in upstream with the bench's key, pipes exec and shell channels. */
function startBareRelay(sshd: TestSshd): Promise<{ port: number; close: () => void }> {
  const hostKey = readFileSync(sshKeygen(dir, 'relay_host').file);
  const privateKey = readFileSync(clientKey.file);
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('error', () => {});
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => {
      const up = new ssh2.Client();
      up.on('error', (e) => {
        console.error(`bare relay: upstream: ${e.message}`);
        client.end();
      });
      const ready = new Promise<void>((resolve) => up.once('ready', () => resolve()));
      up.connect({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey });
      client.on('session', (accept) => {
        const session = accept();
        let pty: ssh2.PseudoTtyOptions | undefined;
        session.on('pty', (acc, _rej, info) => {
          pty = info;
          acc?.();
        });
        const open = async (acceptCh: () => ssh2.ServerChannel, command: string | null) => {
          // Accepted at once: the client may send EOF right after its request (stdin at its end), and ssh2 no longer
          // accepts once the channel is ending. The channel buffers until the host's channel is open.
          const ch = acceptCh();
          await ready;
          const done = (err: Error | undefined, upCh: ssh2.ClientChannel) => {
            if (err) return ch.close();
            let code = 0;
            ch.pipe(upCh);
            upCh.pipe(ch, { end: false });
            upCh.stderr.pipe(ch.stderr, { end: false });
            upCh.on('exit', (c: number | null) => (code = c ?? 0));
            // ch.end() after what the pipes wrote (a close would drop what is still buffered for the client).
            upCh.on('close', () => {
              ch.exit(code);
              ch.end();
            });
          };
          if (command === null) up.shell(pty ? { term: pty.term, rows: pty.rows, cols: pty.cols } : false, done);
          else up.exec(command, pty ? { pty: { term: pty.term, rows: pty.rows, cols: pty.cols } } : {}, done);
        };
        session.on('exec', (acc, _rej, info) => void open(acc, info.command));
        session.on('shell', (acc) => void open(acc, null));
      });
      client.on('close', () => up.end());
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, close: () => server.close() })));
}

/** An ssh2 client session running `cat`: each keystroke's round trip in ms. */
async function keystrokes(o: { port: number; username: string; password?: string; privateKey?: Buffer }, n: number): Promise<number[]> {
  const c = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('error', reject);
    c.connect({ host: '127.0.0.1', port: o.port, username: o.username, password: o.password, privateKey: o.privateKey, hostVerifier: () => true });
  });
  const ch = await new Promise<ssh2.ClientChannel>((resolve, reject) => c.exec('cat', (err, s) => (err ? reject(err) : resolve(s))));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      ch.once('data', () => resolve());
      ch.write('k');
    });
    times.push(performance.now() - t0);
  }
  ch.end();
  c.end();
  return times;
}

function policy(sshd: TestSshd): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [sre] }
resources:
  - name: bench
    kind: ssh
    address: "${sshd.address}"
    host_key: "${sshd.hostKey}"
    credential: { username: ${sshd.user} }
roles:
  - name: shell
    resources: { names: [bench] }
    max_duration: 8h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
    justification: { required: false }
`;
}

interface Gw {
  s: ServerProcess;
  alice: string;
  port: number;
}

async function airlock(sshd: TestSshd): Promise<Gw> {
  const s = await startServerProcess({ policy: policy(sshd), extraArgs: ['--ssh-listen', '127.0.0.1:0', '--pg-listen', 'off', '--mysql-listen', 'off'] });
  const alice = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '8h' })).token as string;
  const bob = (await api(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '8h' })).token as string;
  const req = await api(s, alice, 'POST', '/api/v1/requests', { resource: 'bench', role: 'shell', duration: '8h', reason: 'benchmark' });
  await api(s, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
  await api(s, alice, 'POST', '/api/v1/ssh-keys', { key: clientKey.publicLine });
  const gw = await api<{ ssh: { port: number; user_ca: string } }>(s, alice, 'GET', '/api/v1/gateways');
  await sshd.setTrustedUserCaKeys([gw.ssh.user_ca]);
  return { s, alice, port: gw.ssh.port };
}

function du(path: string): number {
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  return total;
}

// 200 sessions arrive ten at a time: sshd's default MaxStartups (10:30:100) would start dropping some.
const sshd = await startTestSshd({ authorizedKeys: [clientKey.publicLine], config: ['MaxStartups 100:30:300'] });
const relay = await startBareRelay(sshd);
const gw = await airlock(sshd);
try {
  const file = bigFile(MB);
  const bytes = MB << 20;
  const user = sshd.user;
  const targets = {
    direct: { port: sshd.port, user },
    relay: { port: relay.port, user },
    airlock: { port: gw.port, user: 'alice%bench' },
  } as const;
  type T = keyof typeof targets;
  const names = Object.keys(targets) as T[];
  // Warm-up: the first connection of each pays for key loading and JIT.
  for (const n of names) await catSeconds(targets[n].port, targets[n].user, file, bytes).catch((e: unknown) => {
    throw new Error(`${n}: ${(e as Error).message}`);
  });
  const secs: Record<T, number[]> = { direct: [], relay: [], airlock: [] };
  for (let r = 0; r < ROUNDS; r++) for (const n of r % 2 ? [...names].reverse() : names) secs[n].push(await catSeconds(targets[n].port, targets[n].user, file, bytes));
  const mbps = (n: T) => MB / median(secs[n]);
  console.log(`\ncat of a ${MB} MiB ${BINARY ? 'file of random bytes' : 'log file'} over ssh (median of ${ROUNDS}):`);
  for (const n of names) console.log(`  ${n.padEnd(8)} ${mbps(n).toFixed(1).padStart(7)} MiB/s`);
  console.log(`  Airlock ÷ direct ${(mbps('airlock') / mbps('direct')).toFixed(2)}, Airlock ÷ bare relay ${(mbps('airlock') / mbps('relay')).toFixed(2)}, bare relay ÷ direct ${(mbps('relay') / mbps('direct')).toFixed(2)}`);

  const direct = await keystrokes({ port: sshd.port, username: user, privateKey: readFileSync(clientKey.file) }, KEYSTROKES);
  const through = await keystrokes({ port: gw.port, username: 'alice%bench', password: gw.alice }, KEYSTROKES);
  const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
  console.log(`\nkeystroke round trip (${KEYSTROKES} bytes to cat and back): direct median ${median(direct).toFixed(3)} ms (p95 ${p(direct, 0.95).toFixed(3)}), Airlock median ${median(through).toFixed(3)} ms (p95 ${p(through, 0.95).toFixed(3)}); added ${(median(through) - median(direct)).toFixed(3)} ms`);

  const recDir = join(gw.s.dir, 'data', 'recordings');
  console.log(`\nrecordings: ${(du(recDir) / 2 ** 20).toFixed(1)} MiB on disk after ${ROUNDS + 1} Airlock cat sessions of ${MB} MiB each and the keystroke session (asciicast stores output as JSON text)`);

  // 200 idle interactive sessions through Airlock: the gateway's memory per session.
  const before = rssKb(gw.s.child.pid!);
  const clients: ssh2.Client[] = [];
  for (let i = 0; i < SESSIONS; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, SESSIONS - i) }, async () => {
        const c = new ssh2.Client();
        await new Promise<void>((resolve, reject) => {
          c.once('ready', () => resolve());
          c.once('error', reject);
          c.connect({ host: '127.0.0.1', port: gw.port, username: 'alice%bench', password: gw.alice, hostVerifier: () => true, readyTimeout: 60_000 });
        });
        await new Promise<void>((resolve, reject) => c.shell({ term: 'xterm', rows: 24, cols: 80 }, (err) => (err ? reject(err) : resolve())));
        clients.push(c);
      }),
    );
  }
  const after = rssKb(gw.s.child.pid!);
  console.log(`\n${SESSIONS} idle shell sessions through Airlock: gateway RSS ${(before / 1024).toFixed(0)} → ${(after / 1024).toFixed(0)} MiB, ${((after - before) / SESSIONS).toFixed(0)} KiB per session`);
  for (const c of clients) c.end();
} finally {
  relay.close();
  await gw.s.stop();
  await sshd.stop();
  rmSync(dir, { recursive: true, force: true });
}
