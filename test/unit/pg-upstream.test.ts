// The gateway's login to the upstream server, against a scripted server: cleartext, MD5 and SCRAM (whose server
// signature must check out), errors without credentials in them, and bytes after ReadyForQuery kept for the relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { openUpstream, UpstreamLoginError } from '../../src/gateway/postgres/upstream.js';
import { MessageReader } from '../../src/gateway/postgres/framing.js';
import { AUTH_OK, B, authSasl, authSaslContinue, authSaslFinal, backendKeyData, errorResponse, readyForQuery, typedMessage } from '../../src/gateway/postgres/protocol.js';

const LOGIN = { host: '127.0.0.1', port: 0, database: 'orders', user: 'airlock_g_abc', password: 's3cret-pw' };

/** A one-connection server: reads the startup packet, then runs `script` with a reader for typed messages. */
async function fakeServer(script: (s: Socket, next: () => Promise<Buffer>, startup: Buffer) => Promise<void>): Promise<number> {
  const server = createServer((s) => {
    let startup: Buffer | null = null;
    let raw = Buffer.alloc(0);
    const reader = new MessageReader(1 << 16);
    const queue: Buffer[] = [];
    let wake: (() => void) | null = null;
    s.on('data', (d: Buffer) => {
      if (!startup) {
        raw = Buffer.concat([raw, d]);
        if (raw.length < 4 || raw.length < raw.readInt32BE(0)) return;
        startup = raw.subarray(0, raw.readInt32BE(0));
        void script(s, next, startup).finally(() => server.close());
        return;
      }
      reader.push(d, (m) => queue.push(Buffer.from(m)));
      wake?.();
    });
    async function next(): Promise<Buffer> {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      return queue.shift()!;
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

function greeting(s: Socket, extra: Buffer = Buffer.alloc(0)): void {
  s.write(Buffer.concat([AUTH_OK, typedMessage(B.ParameterStatus, Buffer.from('server_version\x0015.0\0')), backendKeyData(4242, 99), readyForQuery(0x49), extra]));
}

const password = (m: Buffer) => m.toString('utf8', 5, m.length - 1);

test('cleartext: the password is sent when the server asks; the greeting, key and status come back', async () => {
  const port = await fakeServer(async (s, next, startup) => {
    assert.match(startup.toString('latin1'), /user\0airlock_g_abc\0database\0orders\0application_name\0psql\0/);
    s.write(typedMessage(B.Authentication, Buffer.from([0, 0, 0, 3])));
    assert.equal(password(await next()), 's3cret-pw');
    greeting(s, typedMessage(B.NoticeResponse, Buffer.from('SNOTICE\0Mlate\0\0')));
  });
  const up = await openUpstream({ ...LOGIN, port }, { application_name: 'psql' });
  assert.equal(up.pid, 4242);
  assert.equal(up.secret, 99);
  assert.equal(up.txStatus, 0x49);
  assert.equal(up.greeting.length, 1);
  assert.equal(up.leftover[0], B.NoticeResponse, 'bytes after ReadyForQuery are kept for the relay');
  up.socket.destroy();
});

test('MD5: md5(md5(password + user) + salt)', async () => {
  const salt = randomBytes(4);
  const port = await fakeServer(async (s, next) => {
    s.write(typedMessage(B.Authentication, Buffer.concat([Buffer.from([0, 0, 0, 5]), salt])));
    const inner = createHash('md5').update('s3cret-pw' + 'airlock_g_abc').digest('hex');
    assert.equal(password(await next()), 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex'));
    greeting(s);
  });
  (await openUpstream({ ...LOGIN, port }, {})).socket.destroy();
});

/** A SCRAM server that knows `knownPassword`; `forgeSignature` makes it answer with a wrong ServerSignature. */
function scramScript(knownPassword: string, forgeSignature = false) {
  return async (s: Socket, next: () => Promise<Buffer>) => {
    s.write(authSasl(['SCRAM-SHA-256']));
    const first = await next();
    const clientFirst = first.toString('utf8', first.indexOf(0, 5) + 5);
    const bare = clientFirst.slice(3);
    const nonce = /r=([^,]+)/.exec(bare)![1] + 'server';
    const salt = randomBytes(16);
    const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=4096`;
    s.write(authSaslContinue(serverFirst));
    const final = (await next()).toString('utf8', 5);
    const withoutProof = final.slice(0, final.lastIndexOf(',p='));
    const salted = pbkdf2Sync(knownPassword, salt, 4096, 32, 'sha256');
    const serverKey = createHmac('sha256', salted).update('Server Key').digest();
    const sig = createHmac('sha256', serverKey).update(`${bare},${serverFirst},${withoutProof}`).digest();
    s.write(authSaslFinal(`v=${(forgeSignature ? randomBytes(32) : sig).toString('base64')}`));
    greeting(s);
  };
}

test('SCRAM-SHA-256: a server that proves it knows the password is accepted, one that does not is refused', async () => {
  (await openUpstream({ ...LOGIN, port: await fakeServer(scramScript('s3cret-pw')) }, {})).socket.destroy();
  await assert.rejects(openUpstream({ ...LOGIN, port: await fakeServer(scramScript('s3cret-pw', true)) }, {}), /server signature does not match/);
  await assert.rejects(openUpstream({ ...LOGIN, port: await fakeServer(scramScript('other')) }, {}), /server signature does not match/);
});

test('a login error reaches the caller without the upstream user or password in it', async () => {
  const port = await fakeServer(async (s) => {
    s.write(errorResponse({ airlock: 'AIRLOCK_INTERNAL', severity: 'FATAL', code: '28P01', message: 'password authentication failed for user "airlock_g_abc" (tried s3cret-pw)' }));
    s.end();
  });
  await assert.rejects(openUpstream({ ...LOGIN, port }, {}), (e: unknown) => {
    assert.ok(e instanceof UpstreamLoginError);
    assert.equal(e.sqlstate, '28P01');
    assert.equal(e.message, 'password authentication failed for user "<upstream user>" (tried ***)');
    return true;
  });
});

test('a server that does not answer, or closes, fails the login with a reason', async () => {
  const silent = await fakeServer(() => new Promise((r) => setTimeout(r, 1500)));
  await assert.rejects(openUpstream({ ...LOGIN, port: silent }, {}, 300), /no answer within 300 ms/);
  const closing = await fakeServer(async (s) => void s.destroy());
  await assert.rejects(openUpstream({ ...LOGIN, port: closing }, {}), /closed the connection during login/);
});
