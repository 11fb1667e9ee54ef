// The gateway's login to the upstream server, against a scripted server: SCRAM (whose server signature must check
// out, and must come), MD5 and clear-text requests refused unless allowed, the SSLRequest answer checked, errors
// without credentials in them, and bytes after ReadyForQuery kept for the relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { openUpstream, UpstreamLoginError } from '../../src/gateway/postgres/upstream.js';
import { scramVerifier, serverSignature } from '../../src/domain/scram.js';
import type { PgUpstreamSecurity } from '../../src/credentials/pg-upstream-security.js';
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

test('trust: the greeting, key and status come back, and bytes after ReadyForQuery are kept', async () => {
  const port = await fakeServer(async (s, _next, startup) => {
    assert.match(startup.toString('latin1'), /user\0airlock_g_abc\0database\0orders\0application_name\0psql\0/);
    greeting(s, typedMessage(B.NoticeResponse, Buffer.from('SNOTICE\0Mlate\0\0')));
  });
  const up = await openUpstream({ ...LOGIN, port }, { application_name: 'psql' });
  assert.equal(up.pid, 4242);
  assert.equal(up.secret, 99);
  assert.equal(up.txStatus, 0x49);
  assert.equal(up.greeting.length, 1);
  assert.equal(up.auth, 'trust');
  assert.equal(up.leftover[0], B.NoticeResponse, 'bytes after ReadyForQuery are kept for the relay');
  up.socket.destroy();
});

/** Security settings as a resource at 10.0.0.1 would have them, with `over` changing some. */
function security(over: Partial<PgUpstreamSecurity> = {}): PgUpstreamSecurity {
  return { resource: 'orders', mode: 'disable', tls: null, allowMd5: false, allowCleartext: false, ...over };
}

/** Asks for a password with `request` and records whatever the client sends back before it closes. */
function askOnce(request: Buffer, sent: Buffer[]) {
  return async (s: Socket, next: () => Promise<Buffer>) => {
    s.write(request);
    const closed = new Promise<null>((r) => s.on('close', () => r(null)));
    void closed.then(() => sent.push(Buffer.from('closed')));
    // Ends (so the server closes) when the gateway answers or hangs up, whichever comes first.
    const answer = await Promise.race([next(), closed]);
    if (answer) sent.push(answer);
  };
}

/** Waits (with a deadline) until the scripted server has seen the gateway close the connection. */
async function closedBy(sent: Buffer[]): Promise<void> {
  const until = Date.now() + 5000;
  while (!sent.some((b) => String(b) === 'closed')) {
    if (Date.now() > until) throw new Error('the connection was not closed');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a clear-text password request is never answered on plain TCP, even when the resource allows it', async () => {
  for (const sec of [security(), security({ allowCleartext: true })]) {
    const sent: Buffer[] = [];
    const port = await fakeServer(askOnce(typedMessage(B.Authentication, Buffer.from([0, 0, 0, 3])), sent));
    await assert.rejects(openUpstream({ ...LOGIN, port, security: sec }, {}), (e: unknown) => {
      assert.ok(e instanceof UpstreamLoginError);
      assert.equal(e.airlockCode, 'AIRLOCK_UPSTREAM_AUTH');
      assert.match(e.message, /asks for the password in clear text on a connection without TLS, which Airlock never answers/);
      return true;
    });
    await closedBy(sent);
    assert.equal(sent.map(String).join(), 'closed', 'nothing was sent in answer');
  }
});

test('MD5: refused without auth.allow_md5, with the policy change in the message; with it, md5(md5(password + user) + salt)', async () => {
  const salt = randomBytes(4);
  const request = typedMessage(B.Authentication, Buffer.concat([Buffer.from([0, 0, 0, 5]), salt]));
  const sent: Buffer[] = [];
  const refusing = await fakeServer(askOnce(request, sent));
  await assert.rejects(openUpstream({ ...LOGIN, port: refusing, security: security() }, {}), (e: unknown) => {
    assert.ok(e instanceof UpstreamLoginError);
    assert.equal(e.airlockCode, 'AIRLOCK_UPSTREAM_AUTH');
    assert.match(e.message, /the database server of resource orders asks for an MD5 password.*auth: \{ allow_md5: true \}/);
    return true;
  });
  await closedBy(sent);
  assert.equal(sent.map(String).join(), 'closed', 'nothing was sent in answer');
  const port = await fakeServer(async (s, next) => {
    s.write(request);
    const inner = createHash('md5').update('s3cret-pw' + 'airlock_g_abc').digest('hex');
    assert.equal(password(await next()), 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex'));
    greeting(s);
  });
  const up = await openUpstream({ ...LOGIN, port, security: security({ allowMd5: true }) }, {});
  assert.equal(up.auth, 'md5');
  up.socket.destroy();
});

/** A server that answers the SSLRequest with `answer` and then waits. */
async function sslAnswering(answer: Buffer): Promise<number> {
  const server = createServer((s) => {
    s.once('data', () => s.write(answer));
    s.on('error', () => {});
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  return (server.address() as { port: number }).port;
}

test('SSLRequest: "N" is refused unless the mode allows plain TCP; extra bytes after the answer are refused', async () => {
  const tls = { rejectUnauthorized: false };
  await assert.rejects(openUpstream({ ...LOGIN, port: await sslAnswering(Buffer.from('N')), security: security({ mode: 'verify-full', tls }) }, {}), (e: unknown) => {
    assert.ok(e instanceof UpstreamLoginError);
    assert.equal(e.airlockCode, 'AIRLOCK_UPSTREAM_TLS');
    assert.match(e.message, /does not accept TLS \(it answered "N" to the SSLRequest\), and the resource's tls.mode is verify-full/);
    return true;
  });
  await assert.rejects(openUpstream({ ...LOGIN, port: await sslAnswering(Buffer.from('SE')), security: security({ mode: 'require', tls }) }, {}), /answered the SSLRequest with 2 bytes instead of one/);
  await assert.rejects(openUpstream({ ...LOGIN, port: await sslAnswering(Buffer.from('E')), security: security({ mode: 'require', tls }) }, {}), /with neither "S" nor "N"/);
});

/** A SCRAM server that knows `knownPassword`; `forgeSignature` makes it answer with a wrong ServerSignature, `skipFinal` with none. */
function scramScript(knownPassword: string, forgeSignature = false, skipFinal = false) {
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
    const sig = serverSignature(scramVerifier(knownPassword, salt).server_key, `${bare},${serverFirst},${withoutProof}`);
    if (!skipFinal) s.write(authSaslFinal(`v=${(forgeSignature ? randomBytes(32) : sig).toString('base64')}`));
    greeting(s);
  };
}

test('SCRAM-SHA-256: a server that proves it knows the password is accepted, one that does not is refused', async () => {
  (await openUpstream({ ...LOGIN, port: await fakeServer(scramScript('s3cret-pw')) }, {})).socket.destroy();
  await assert.rejects(openUpstream({ ...LOGIN, port: await fakeServer(scramScript('s3cret-pw', true)) }, {}), /server signature does not match/);
  await assert.rejects(openUpstream({ ...LOGIN, port: await fakeServer(scramScript('other')) }, {}), /server signature does not match/);
  await assert.rejects(openUpstream({ ...LOGIN, port: await fakeServer(scramScript('s3cret-pw', false, true)) }, {}), /ended the SCRAM exchange without proving it knows the password/);
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
