// The SSH gateway against what a red team tried, with the real ssh, scp, sftp and rsync clients, an ssh2 client for
// what no real client sends, and a real sshd: file_transfer: false is not bypassed through wrappers or shell syntax,
// SFTP changes are all audited and a reused request id ends the channel, a flood of refused requests ends the
// connection with bounded audit, PTY sizes are clamped, and dangerous env variables are never relayed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import ssh2, { type ClientChannel } from 'ssh2';
import { startSshHarness, until, type SshHarness } from './ssh-gateway-harness.js';

let h: SshHarness;
before(async () => {
  h = await startSshHarness();
});
after(async () => {
  await h?.close();
});

const statements = (actor: string) => h.statements(actor);

/** ssh/sftp/scp options without -p/-l (sftp and scp spell the port -P, the user goes in the destination). */
const clientArgs = (user: string): string[] => h.sshArgs(user).filter((a, i, all) => !['-p', '-l'].includes(a) && !['-p', '-l'].includes(all[i - 1] ?? ''));

async function connect(principal: string): Promise<ssh2.Client> {
  const c = new ssh2.Client();
  const token = await h.token(principal);
  await new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('error', reject);
    c.connect({ host: h.gw.host, port: h.gw.port, username: `${principal}%bastion`, password: token, hostVerifier: () => true });
  });
  c.on('error', () => {});
  return c;
}

test('file_transfer: false: scp, sftp and rsync are refused behind exec, env, command, shell syntax and --rsync-path', async () => {
  const t = await h.token('alice');
  await h.grant('shell', 'alice');
  const src = join(h.dir, 'payload.txt');
  writeFileSync(src, 'payload\n');
  const d = h.sshd.dir;
  const scpUpload = 'C0644 4 f.txt\nabc\n\0';
  const cases: { name: string; file: string; run: () => ReturnType<SshHarness['run']> }[] = [
    { name: 'sftp -s exec', file: join(d, 'ft-sftp.txt'), run: () => h.run(t, 'alice%bastion', [...clientArgs('alice%bastion'), '-P', String(h.gw.port), '-s', 'exec /usr/lib/openssh/sftp-server', `alice%bastion@${h.gw.host}`], { program: 'sftp', input: `put ${src} ${join(d, 'ft-sftp.txt')}\n` }) },
    { name: 'true;s\\cp', file: join(d, 'ft-scp1.txt'), run: () => h.run(t, 'alice%bastion', [`true;s\\cp -t ${join(d, 'ft-scp1.txt')}`], { input: scpUpload }) },
    { name: 'env scp', file: join(d, 'ft-scp2.txt'), run: () => h.run(t, 'alice%bastion', [`env scp -t ${join(d, 'ft-scp2.txt')}`], { input: scpUpload }) },
    { name: "sh -c 's''cp'", file: join(d, 'ft-scp3.txt'), run: () => h.run(t, 'alice%bastion', [`sh -c "s''cp -t ${join(d, 'ft-scp3.txt')}"`], { input: scpUpload }) },
    { name: 'command rsync', file: join(d, 'ft-rsync1.txt'), run: () => h.run(t, 'alice%bastion', ['command', 'rsync', '--server', '.', join(d, 'ft-rsync1.txt')]) },
    {
      name: "rsync --rsync-path='exec rsync'",
      file: join(d, 'ft-rsync2.txt'),
      run: () => h.run(t, 'alice%bastion', ['-e', ['ssh', ...clientArgs('alice%bastion'), '-p', String(h.gw.port)].join(' '), '--rsync-path=exec rsync', src, `alice%bastion@${h.gw.host}:${join(d, 'ft-rsync2.txt')}`], { program: 'rsync' }),
    },
  ];
  for (const c of cases) {
    const r = await c.run();
    assert.notEqual(r.code, 0, `${c.name}: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /file transfer is not allowed for role shell .*\(AIRLOCK_SSH_REFUSED\)/, c.name);
    assert.equal(existsSync(c.file), false, `${c.name} wrote ${c.file}`);
  }
  // A command that only mentions none of them still runs.
  const ok = await h.run(t, 'alice%bastion', ['echo copied; cat /dev/null']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'copied\n');
  const refused = (await statements('alice')).filter((e) => e.details.rule === 'ssh.file_transfer' && e.details.decision === 'refused');
  assert.equal(refused.length, cases.length, refused.map((e) => e.details.text).join('\n'));
  assert.ok(refused.some((e) => e.details.text === 'exec /usr/lib/openssh/sftp-server'));
  assert.ok(refused.some((e) => String(e.details.text).startsWith('exec rsync --server')));
});

test('SFTP: rename, mkdir, rmdir, symlink and chmod by the real sftp client are each audited', async () => {
  const t = await h.token('carol');
  await h.grant('ops', 'carol');
  const d = h.sshd.dir;
  const src = join(h.dir, 'sftp-src.txt');
  writeFileSync(src, 'eight b\n');
  const batch = [`put ${src} ${d}/a.txt`, `rename ${d}/a.txt ${d}/moved.txt`, `mkdir ${d}/dd`, `rmdir ${d}/dd`, `ln -s /etc/hostname ${d}/link`, `chmod 600 ${d}/moved.txt`].join('\n') + '\n';
  const r = await h.run(t, 'carol%bastion', [...clientArgs('carol%bastion'), '-P', String(h.gw.port), `carol%bastion@${h.gw.host}`], { program: 'sftp', input: batch });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(lstatSync(`${d}/link`).isSymbolicLink());
  const want = [
    `sftp upload ${d}/a.txt (8 bytes)`,
    `sftp rename ${d}/a.txt ${d}/moved.txt`,
    `sftp mkdir ${d}/dd`,
    `sftp rmdir ${d}/dd`,
    `sftp symlink ${d}/link -> /etc/hostname`,
    `sftp setstat ${d}/moved.txt (mode 0600)`,
  ];
  await until('the sftp audit', async () => (await statements('carol')).filter((e) => String(e.details.text).startsWith('sftp ')).length >= want.length);
  const texts = (await statements('carol')).map((e) => String(e.details.text));
  for (const w of want) assert.ok(texts.includes(w), `${w} not in:\n${texts.join('\n')}`);
});

// Raw SFTP packets: uint32 length, byte type, uint32 id, strings as uint32 length + bytes.
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const sstr = (x: string): Buffer => Buffer.concat([u32(Buffer.byteLength(x)), Buffer.from(x)]);
const packet = (type: number, body: Buffer): Buffer => Buffer.concat([u32(body.length + 1), Buffer.from([type]), body]);

async function rawSftp(c: ssh2.Client): Promise<{ ch: ClientChannel; stderr: () => string; replies: Buffer[]; closed: Promise<void> }> {
  const ch = await new Promise<ClientChannel>((resolve, reject) => c.subsys('sftp', (e, ch) => (e ? reject(e) : resolve(ch))));
  let buf = Buffer.alloc(0);
  let err = '';
  const replies: Buffer[] = [];
  ch.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      replies.push(buf.subarray(4, 4 + buf.readUInt32BE(0)));
      buf = buf.subarray(4 + buf.readUInt32BE(0));
    }
  });
  ch.stderr.on('data', (d: Buffer) => void (err += d.toString()));
  const closed = new Promise<void>((resolve) => ch.once('close', () => resolve()));
  ch.write(packet(1, u32(3))); // INIT, version 3
  await until('the VERSION reply', () => replies.length >= 1);
  return { ch, stderr: () => err, replies, closed };
}

test('SFTP: a request id reused while outstanding and an unknown extension end the channel before the host sees them', async () => {
  const d = h.sshd.dir;
  writeFileSync(`${d}/real.txt`, 'original\n');
  writeFileSync(`${d}/decoy.txt`, 'harmless\n');
  const c = await connect('carol');
  try {
    const s = await rawSftp(c);
    // OPEN id 7 for writing (write|creat|trunc), then OPEN id 7 again for reading, in one chunk.
    s.ch.write(Buffer.concat([
      packet(3, Buffer.concat([u32(7), sstr(`${d}/real.txt`), u32(0x02 | 0x08 | 0x10), u32(0)])),
      packet(3, Buffer.concat([u32(7), sstr(`${d}/decoy.txt`), u32(0x01), u32(0)])),
    ]));
    await s.closed;
    assert.match(s.stderr(), /airlock: the sftp session was ended: request id 7 was sent again before the host answered it \(AIRLOCK_SSH_REFUSED\)/);
    assert.equal(s.replies.length, 1, 'no reply to either OPEN');
    assert.equal(readFileSync(`${d}/real.txt`, 'utf8'), 'original\n', 'the write-open never reached the host (it would have truncated)');

    const x = await rawSftp(c);
    x.ch.write(packet(200, Buffer.concat([u32(1), sstr('evil@example.com'), sstr('/etc/passwd')])));
    await x.closed;
    assert.match(x.stderr(), /the SFTP extension evil@example\.com, which the audit does not know/);
  } finally {
    c.end();
  }
  await until('the refusals in the audit', async () => (await statements('carol')).filter((e) => e.details.decision === 'refused' && String(e.details.text).startsWith('sftp ')).length >= 2);
  const texts = (await statements('carol')).filter((e) => e.details.decision === 'refused').map((e) => String(e.details.text));
  assert.ok(texts.includes('sftp request id 7 was sent again before the host answered it'), texts.join('\n'));
});

test('a flood of refused env requests with huge names ends the connection once over the cap; the audit stays small', async () => {
  await h.grant('shell', 'dave');
  const c = await connect('dave');
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  const env: Record<string, string> = {};
  for (let i = 0; i < 200; i++) env[`X${i}_${'A'.repeat(20_000)}`] = 'v';
  c.exec('sleep 30', { env }, () => {});
  await closed;
  await until('session.end', async () => (await h.events('session.end')).some((e) => e.actor === 'dave'));
  const s = await statements('dave');
  assert.ok(s.length <= 66, `${s.length} statements`);
  assert.ok(s.every((e) => JSON.stringify(e.details).length < 2000), 'every audit line is clipped');
  assert.match(String(s.find((e) => e.details.rule === 'ssh.env')?.details.text), /^env X0_A{197}…\(20003 bytes\)$/);
  assert.equal(s.filter((e) => e.details.text === 'too many refused requests').length, 1);
  const end = (await h.events('session.end')).find((e) => e.actor === 'dave')!;
  assert.match(String(end.details.reason), /more than 64 requests that were refused/);
});

test('dangerous env variables are never relayed, even when the role lists them', async () => {
  const t = await h.token('alice');
  const r = await h.run(t, 'alice%bastion', ['-o', 'SetEnv=LD_PRELOAD=/nonexistent/x.so HTTPS_PROXY=http://evil.example:8080', 'echo', 'ran']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ran\n');
  assert.match(r.stderr, /the environment variable LD_PRELOAD is never passed on through Airlock, whatever the role allows/);
  assert.match(r.stderr, /the environment variable HTTPS_PROXY is never passed on/);
  const s = await statements('alice');
  assert.ok(s.some((e) => e.details.text === 'env LD_PRELOAD' && e.details.decision === 'refused'));
});

test('PTY sizes are clamped to 1..1000 for the host and the recording', async () => {
  const c = await connect('alice');
  let out = '';
  try {
    const ch = await new Promise<ClientChannel>((resolve, reject) =>
      c.exec('stty size; read x; stty size', { pty: { cols: 4294967295, rows: 7, width: 4294967295, height: 0, term: 'xterm' } }, (e, ch) => (e ? reject(e) : resolve(ch))),
    );
    ch.on('data', (d: Buffer) => void (out += d.toString()));
    const closed = new Promise<void>((resolve) => ch.once('close', () => resolve()));
    await until('the first size', () => out.includes('7 1000'));
    ch.setWindow(4_000_000_000, 50, 4_000_000_000, 0);
    ch.write('\n');
    await until('the second size', () => out.includes('1000 50'));
    await closed;
  } finally {
    c.end();
  }
  await until('session.end', async () => (await h.events('session.end')).some((e) => e.actor === 'alice' && e.details.recording));
  const seal = (await h.events('session.end')).filter((e) => e.actor === 'alice' && e.details.recording).at(-1)!.details.recording as { file: string };
  const lines = readFileSync(join(h.airlock.dir, 'data', seal.file), 'utf8').trim().split('\n');
  const header = JSON.parse(lines[0]!) as { width: number; height: number };
  assert.deepEqual([header.width, header.height], [1000, 7]);
  assert.ok(lines.some((l) => l.includes('"r","50x1000"')), lines.join('\n'));
});
