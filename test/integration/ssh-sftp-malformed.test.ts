// A packet the SFTP audit cannot read ends that sftp channel (said on its stderr, audited as refused) and nothing
// else: the connection, and new channels on it, go on. Through the real server to a real sshd's sftp subsystem.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ssh2, { type ClientChannel } from 'ssh2';
import { startSshHarness, until, type SshHarness } from './ssh-gateway-harness.js';

let h: SshHarness;
before(async () => {
  h = await startSshHarness();
});
after(async () => {
  await h?.close();
});

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

test('a malformed or oversized SFTP packet ends the sftp channel with the reason; the connection goes on', async () => {
  const t = await h.token('alice');
  await h.grant('ops', 'alice');
  const hostKey = Buffer.from(h.gw.hostKey.split(/\s+/)[1]!, 'base64');
  const c = new ssh2.Client();
  c.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    c.once('ready', resolve);
    c.once('error', reject);
    c.connect({ host: h.gw.host, port: h.gw.port, username: 'alice%bastion', password: t, tryKeyboard: false, hostVerifier: (k: Buffer) => k.equals(hostKey) });
  });
  try {
    const cases: [string, Buffer, RegExp][] = [
      ['oversized', Buffer.concat([u32(0xffffffff), Buffer.alloc(64)]), /airlock: the sftp session was ended: an SFTP packet of 4294967295 bytes, longer than the 262144 OpenSSH accepts \(AIRLOCK_SSH_REFUSED\)/],
      ['OPEN with a path past its end', Buffer.concat([u32(1 + 4 + 4 + 3), Buffer.from([3]), u32(1), u32(500), Buffer.from('/et')]), /airlock: the sftp session was ended: an SFTP request of type 3 whose fields do not fit in it .*\(AIRLOCK_SSH_REFUSED\)/],
    ];
    for (const [what, bytes, said] of cases) {
      const ch = await new Promise<ClientChannel>((resolve, reject) => c.subsys('sftp', (err, ch) => (err ? reject(err) : resolve(ch))));
      let err = '';
      ch.stderr.on('data', (d: Buffer) => void (err += d.toString()));
      const closed = new Promise<void>((resolve) => ch.once('close', () => resolve()));
      // SSH_FXP_INIT (version 3), answered by the host's VERSION (the sftp channel works), then the bad packet.
      const version = new Promise<Buffer>((resolve) => ch.once('data', resolve));
      ch.write(Buffer.concat([u32(5), Buffer.from([1]), u32(3)]));
      assert.equal((await version)[4], 2, `${what}: SSH_FXP_VERSION from the host`);
      ch.write(bytes);
      await Promise.race([closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: the sftp channel is still open after 5 s`)), 5000))]);
      assert.match(err, said, what);
    }
    // The connection is still there: a command runs on a new channel.
    const out = await new Promise<string>((resolve, reject) => c.exec('echo still-$((3+4))', (err, ch) => {
      if (err) return reject(err);
      let o = '';
      ch.on('data', (d: Buffer) => void (o += d.toString()));
      ch.once('close', () => resolve(o));
    }));
    assert.equal(out.trim(), 'still-7');
    await until('the refusals audited', async () => (await h.events('statement')).filter((e) => e.actor === 'alice' && e.details.rule === 'ssh.file_transfer' && e.details.decision === 'refused').length === 2);
  } finally {
    c.end();
  }
});
