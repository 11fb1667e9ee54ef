// SSH upstream credentials against a real OpenSSH sshd: certificates from Airlock's SSH user CA are accepted through
// TrustedUserCAKeys and refused by the host on its own once valid-before passes; wrong principals are refused; host
// keys are pinned or trusted on first use (audited); an injected key logs in; no private key shows anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'ssh2';
import { makeHarness, auditEvents, STORE_KINDS, type Harness } from '../support/harness.js';
import { startTestSshd, sshKeygen, type TestSshd } from '../support/sshd.js';
import { makeSshCredentials, type SshCredentials } from '../../src/gateway/ssh-credentials.js';
import { checkSsh2Internals, connectUpstream, makeSshKnownHosts, type SshLogin } from '../../src/gateway/ssh/upstream.js';
import { ED25519_CERT, fingerprint, formatPublicKeyLine, generateSshKeyPair, signUserCertificate } from '../../src/credentials/ssh-cert.js';
import { isAirlockError } from '../../src/domain/errors.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Log } from '../../src/domain/log.js';
import type { Grant } from '../../src/domain/model.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-sshcred-'));
const logLines: string[] = [];
const log: Log = {
  info: (f, m) => void logLines.push(JSON.stringify({ ...f, m })),
  warn: (f, m) => void logLines.push(JSON.stringify({ ...f, m })),
  error: (f, m) => void logLines.push(JSON.stringify({ ...f, m })),
};
/** Every error message and details the tests saw, checked for private keys at the end. */
const errorsSeen: string[] = [];
/** Every private key handed out, to prove none of them leaks. */
const privateKeys: string[] = [];

let sshd: TestSshd;
let h: Harness;
let creds: SshCredentials;
let injected: { file: string; publicLine: string };
let firstHostKey: string;

function policy(s: TestSshd, keyFile: string): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [ops] }
resources:
  - { name: box, kind: ssh, address: "${s.address}" }
  - { name: box-pinned, kind: ssh, address: "${s.address}", host_key: "${s.hostKey}" }
  - { name: box-key, kind: ssh, address: "${s.address}", credential: { username: ${s.user}, mode: injected, private_key: { file: "${keyFile}" } } }
roles:
  - name: shell
    resources: { names: [box, box-pinned, box-key] }
    ssh: { login: ${s.user} }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [ops] }
  - name: forward
    resources: { names: [box] }
    ssh: { login: ${s.user}, port_forwarding: true }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [ops] }
`;
}

async function grantFor(resource: string, role = 'shell', seconds = 1800): Promise<Grant> {
  const held = await h.access.grants.activeFor('alice', resource);
  if (held) await h.access.grants.revoke(h.caller('alice'), held.id, 'the next test asks again');
  const req = await h.access.requests.create(h.caller('alice'), { resource, role, duration_seconds: seconds, reason: 'ssh credentials test' });
  await h.access.reviews.approve(h.caller('bob'), req.id, 'ok');
  const g = await h.access.grants.activeFor('alice', resource);
  assert.ok(g, `alice holds a grant on ${resource}`);
  return g;
}

async function loginFor(resource: string, role = 'shell', seconds = 1800): Promise<{ grant: Grant; login: SshLogin }> {
  const grant = await grantFor(resource, role, seconds);
  const login = (await creds.upstreamFor(grant, h.policy.resource(resource)!, undefined)) as SshLogin;
  privateKeys.push(login.ssh.privateKey);
  return { grant, login };
}

function connect(resource: string, login: SshLogin): Promise<Client> {
  return connectUpstream(login, { log, timeoutMs: 10_000, onHostKey: (line) => creds.knownHosts.check(resource, h.policy.resource(resource)!.address!, line) });
}

async function refused(p: Promise<unknown>, code: string): Promise<{ message: string; details: Record<string, unknown> }> {
  try {
    const c = await p;
    (c as Client).end();
  } catch (e) {
    assert.ok(isAirlockError(e), String(e));
    errorsSeen.push(e.message, JSON.stringify(e.details ?? {}));
    assert.equal(e.code, code, e.message);
    return { message: e.message, details: e.details ?? {} };
  }
  assert.fail('the connection was accepted');
}

function run(c: Client, command: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      let code: number | null = null;
      stream.on('data', (d: Buffer) => void (out += d.toString()));
      stream.stderr.on('data', () => {});
      stream.on('exit', (c: number | null) => void (code = c));
      stream.on('close', () => resolve({ out, code }));
    });
  });
}

/** The certificate and key as files, for ssh-keygen -L and the real ssh client. */
function writeLoginFiles(name: string, login: SshLogin): { key: string; cert: string } {
  const key = join(dir, name);
  writeFileSync(key, login.ssh.privateKey, { mode: 0o600 });
  writeFileSync(`${key}-cert.pub`, formatPublicKeyLine(ED25519_CERT, login.ssh.certificate!) + '\n');
  return { key, cert: `${key}-cert.pub` };
}

/** OpenSSH's own client, no Airlock in the path: resolves to its exit code and stderr. */
function opensshLogin(files: { key: string; cert: string }): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile('ssh', ['-F', '/dev/null', '-i', files.key, '-o', `CertificateFile=${files.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=/dev/null`, '-p', String(sshd.port), `${sshd.user}@${sshd.host}`, 'echo', 'signed-in'], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 255) : 0, stdout, stderr });
    });
  });
}

const keygenList = (file: string): string => execFileSync('ssh-keygen', ['-L', '-f', file], { encoding: 'utf8' });

before(async () => {
  injected = sshKeygen(dir, 'injected_key');
  privateKeys.push(readFileSync(injected.file, 'utf8'));
  // The CA exists before the host is set up, as an operator would do it: `airlock ca --ssh-user-ca` into TrustedUserCAKeys.
  const dataDir = join(dir, 'data');
  const caLine = makeSshCredentials({ access: {} as never, dataDir, log }).keys.userCa.publicLine;
  sshd = await startTestSshd({ trustedUserCaKeys: [caLine], authorizedKeys: [injected.publicLine] });
  firstHostKey = sshd.hostKey;
  h = await makeHarness('sqlite', { policy: policy(sshd, injected.file), clock: systemClock });
  creds = makeSshCredentials({ access: h.access, dataDir, log });
  assert.equal(creds.keys.userCa.publicLine, caLine, 'the CA is kept across restarts');
});

after(async () => {
  await sshd?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a certificate login is accepted by sshd through TrustedUserCAKeys, as the role\'s login user', async () => {
  const { grant, login } = await loginFor('box');
  assert.ok(login.ssh.certificate, 'certificate mode is the default');
  assert.deepEqual(login.ssh.hostKey, { tofu: true });
  const c = await connect('box', login);
  try {
    const r = await run(c, 'id -un; echo done');
    assert.equal(r.out, `${sshd.user}\ndone\n`);
    assert.equal(r.code, 0);
  } finally {
    c.end();
  }
  assert.match(sshd.log(), new RegExp(`Accepted publickey for ${sshd.user} .*ED25519-CERT .*ID airlock:alice:${grant.id}:`));
  // The issuance is audited with what ties sshd's log line to the grant.
  const issued = (await auditEvents(h.access.audit)).filter((e) => e.action === 'ssh.certificate.issued' && e.details.grant_id === grant.id);
  assert.equal(issued.length, 1);
  assert.equal(issued[0]!.details.login, sshd.user);
  assert.equal(issued[0]!.details.ca, creds.keys.userCa.fingerprint);
});

test('ssh-keygen -L shows the principal, valid-before = the grant\'s end, source-address and only the allowed extensions', async () => {
  for (const [role, extensions] of [['shell', ['permit-pty']], ['forward', ['permit-port-forwarding', 'permit-pty']]] as const) {
    const { grant, login } = await loginFor('box', role);
    const out = keygenList(writeLoginFiles(`cert-${role}`, login).cert);
    assert.match(out, new RegExp(`Signing CA: ED25519 ${fingerprint(creds.keys.userCa.publicLine).replace(/[+/]/g, '\\$&')}`));
    assert.match(out, new RegExp(`Key ID: "airlock:alice:${grant.id}:[0-9a-f]+"`));
    assert.match(out, new RegExp(`Principals: \\n\\s+${sshd.user}\\n\\s+Critical Options: \\n\\s+source-address 127\\.0\\.0\\.1\\n`));
    const ext = /Extensions: \n((?:\s{16}\S.*\n?)*)/.exec(out)![1]!.split('\n').map((l) => l.trim()).filter(Boolean);
    assert.deepEqual(ext, extensions);
    const to = /Valid: from (\S+) to (\S+)/.exec(out)!;
    const local = (iso: string): string => {
      const d = new Date(iso);
      const p = (n: number): string => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    };
    assert.equal(to[2], local(grant.expires_at));
  }
});

test('the host refuses a certificate after its valid-before, on its own (OpenSSH client, no Airlock in the path)', async () => {
  const { grant, login } = await loginFor('box-pinned', 'shell', 3);
  const files = writeLoginFiles('short', login);
  const first = await opensshLogin(files);
  assert.equal(first.stdout.trim(), 'signed-in', `accepted while the grant runs: ${first.stderr}`);
  // Waits for time itself to pass the certificate's end (the condition is the clock), then one second for rounding.
  const end = Date.parse(grant.expires_at) + 1000;
  while (Date.now() < end) await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
  const late = await opensshLogin(files);
  assert.notEqual(late.code, 0);
  assert.match(late.stderr, /Permission denied/);
  assert.match(sshd.log(), /Certificate invalid: expired/);
});

test('a certificate for another principal is refused by sshd', async () => {
  const pair = generateSshKeyPair('wrong');
  privateKeys.push(pair.privateKey);
  const certificate = signUserCertificate({
    publicKey: pair.publicLine, caKey: creds.keys.userCa.key, serial: 7n, keyId: 'airlock:test:wrong-principal', principals: [`not-${sshd.user}`],
    validAfter: new Date(Date.now() - 60_000), validBefore: new Date(Date.now() + 600_000), permissions: { port_forwarding: false, agent_forwarding: false, x11: false },
  });
  const login: SshLogin = { host: sshd.host, port: sshd.port, database: '', user: sshd.user, password: '', ssh: { privateKey: pair.privateKey, certificate, hostKey: { pinned: sshd.hostKey } } };
  const r = await refused(connectUpstream(login, { log }), 'AIRLOCK_UPSTREAM_UNAVAILABLE');
  assert.match(r.message, /refused the gateway's login as .* TrustedUserCAKeys/);
  assert.match(sshd.log(), /not a listed principal|name is not a listed principal/);
});

test('an injected private key logs in without a certificate', async () => {
  const { login } = await loginFor('box-key');
  assert.equal(login.ssh.certificate, undefined);
  const c = await connect('box-key', login);
  try {
    assert.equal((await run(c, 'echo injected')).out, 'injected\n');
  } finally {
    c.end();
  }
});

test('host keys: the pinned key must match; trust on first use stores the key, then refuses a changed one; both audited', async () => {
  const pinned = await loginFor('box-pinned');
  assert.deepEqual(pinned.login.ssh.hostKey, { pinned: firstHostKey });
  (await connect('box-pinned', pinned.login)).end();
  const tofu = (await loginFor('box', 'forward')).login;
  (await connect('box', tofu)).end();
  const row = await h.store.db.selectFrom('ssh_known_hosts').selectAll().where('resource', '=', 'box').executeTakeFirstOrThrow();
  assert.equal(row.fingerprint, fingerprint(firstHostKey));
  assert.equal(row.address, sshd.address);

  const newKey = await sshd.rotateHostKey();
  let r = await refused(connect('box-pinned', pinned.login), 'AIRLOCK_SSH_HOST_KEY_CHANGED');
  assert.ok(r.message.includes(fingerprint(newKey)) && r.message.includes(fingerprint(firstHostKey)), r.message);
  r = await refused(connect('box', tofu), 'AIRLOCK_SSH_HOST_KEY_CHANGED');
  assert.ok(r.message.includes(fingerprint(newKey)) && r.message.includes(fingerprint(firstHostKey)), r.message);
  // Still refused on the next try: the first key stays the trusted one.
  await refused(connect('box', tofu), 'AIRLOCK_SSH_HOST_KEY_CHANGED');

  const events = await auditEvents(h.access.audit);
  const trusted = events.filter((e) => e.action === 'ssh.host_key.trusted' && e.target === 'box');
  assert.equal(trusted.length, 1, 'trusted once, at first use');
  assert.equal(trusted[0]!.details.fingerprint, fingerprint(firstHostKey));
  const mismatch = events.filter((e) => e.action === 'ssh.host_key.mismatch' && e.target === 'box');
  assert.equal(mismatch.length, 2);
  assert.deepEqual([mismatch[0]!.details.expected, mismatch[0]!.details.seen], [fingerprint(firstHostKey), fingerprint(newKey)]);
});

for (const kind of STORE_KINDS) {
  test(`trust on first use in the ${kind} store: two first sessions at once store one key, audited once; another key is refused`, async () => {
    const hk = await makeHarness(kind);
    try {
      const known = makeSshKnownHosts({ access: hk.access });
      const a = generateSshKeyPair('a').publicLine;
      const b = generateSshKeyPair('b').publicLine;
      await Promise.all([known.check('web', '10.0.0.5:22', a), known.check('web', '10.0.0.5:22', a)]);
      await known.check('web', '10.0.0.5:22', `${a.split(' ').slice(0, 2).join(' ')} another-comment`);
      await assert.rejects(known.check('web', '10.0.0.5:22', b), (e: unknown) => isAirlockError(e) && e.code === 'AIRLOCK_SSH_HOST_KEY_CHANGED' && e.message.includes(fingerprint(a)) && e.message.includes(fingerprint(b)));
      // The same key at another address, or for another resource, is a first use of its own.
      await known.check('web', '10.0.0.6:22', b);
      await known.check('db-host', '10.0.0.5:22', b);
      await hk.access.audit.flush();
      const events = await auditEvents(hk.access.audit);
      assert.deepEqual(events.filter((e) => e.action === 'ssh.host_key.trusted').map((e) => [e.target, e.details.address, e.details.fingerprint]), [
        ['web', '10.0.0.5:22', fingerprint(a)], ['web', '10.0.0.6:22', fingerprint(b)], ['db-host', '10.0.0.5:22', fingerprint(b)],
      ]);
      assert.equal(events.filter((e) => e.action === 'ssh.host_key.mismatch').length, 1);
    } finally {
      await hk.close();
    }
  });
}

test('the certificate login refuses clearly when ssh2\'s internals are not the ones it was written for', () => {
  assert.throws(() => checkSsh2Internals({ authPK() {} }, () => {}), (e: unknown) => isAirlockError(e) && /ssh2 .*1\.17/.test(e.message));
  assert.throws(() => checkSsh2Internals(undefined, undefined), (e: unknown) => isAirlockError(e) && e.code === 'AIRLOCK_INTERNAL');
});

test('no private key appears in logs, errors or the audit log', async () => {
  const events = JSON.stringify(await auditEvents(h.access.audit));
  const seen = [...logLines, ...errorsSeen, events].join('\n');
  assert.ok(privateKeys.length >= 5);
  for (const k of privateKeys) {
    // Any line of the key's base64 body (the first carries only the format's header, the rest the key).
    for (const line of k.split('\n').filter((l) => l && !l.startsWith('-----')).slice(1)) assert.ok(!seen.includes(line), 'a private key line leaked');
  }
  assert.ok(!seen.includes('PRIVATE KEY'));
});
