// The gateway's upstream link is encrypted and authenticated: through the real gateway, against a PostgreSQL 15 with
// TLS (a certificate for "localhost" from a test CA) and against the machine's server (TLS off): verify-full and
// verify-ca pass or fail as the certificate says, "N" to TLS is refused unless allowed, MD5 and clear-text password
// requests are refused unless the resource allows them, and no refusal a client reads carries the upstream password.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startRig, waitFor, type ResourceSetup, type Rig } from './pg-gateway-harness.js';
import { startTlsCluster, type TlsCluster } from '../support/pg-tls-cluster.js';
import { adminUrl } from '../support/pg.js';
import { openUpstream } from '../../src/gateway/postgres/upstream.js';
import { pgAdminConnection, pgUpstreamSecurity } from '../../src/credentials/pg-upstream-security.js';
import { makePgGrantRoles, type PgGrantRoles } from '../../src/credentials/pg-grant-roles.js';
import { cancelRequest } from '../../src/gateway/postgres/protocol.js';
import { resourceSchema } from '../../src/policy/schema.js';

let cluster: TlsCluster;
let rig: Rig;

before(async () => {
  cluster = await startTlsCluster();
  const on = (user: 'scram' | 'md5' | 'cleartext', host: string, tls?: unknown, auth?: unknown): ResourceSetup => ({ upstream: { url: cluster.url(user, host), tls, auth } });
  const ca = { file: cluster.caFile };
  rig = await startRig({
    extra: {
      'full-by-name': on('scram', 'localhost', { mode: 'verify-full', ca }),
      'full-by-ip': on('scram', '127.0.0.1', { mode: 'verify-full', ca }),
      'ca-by-ip': on('scram', '127.0.0.1', { mode: 'verify-ca', ca }),
      'wrong-ca': on('scram', 'localhost', { mode: 'verify-full', ca: { file: cluster.otherCaFile } }),
      'no-ca': on('scram', 'localhost', { mode: 'verify-ca' }),
      required: on('scram', '127.0.0.1', { mode: 'require' }),
      'loopback-default': on('scram', '127.0.0.1'),
      'md5-default': on('md5', 'localhost', { mode: 'verify-full', ca }),
      'md5-allowed': on('md5', 'localhost', { mode: 'verify-full', ca }, { allow_md5: true }),
      'clear-default': on('cleartext', 'localhost', { mode: 'verify-full', ca }),
      'clear-allowed': on('cleartext', 'localhost', { mode: 'verify-full', ca }, { allow_cleartext: true }),
      'clear-plain': on('cleartext', '127.0.0.1', { mode: 'disable' }),
      'scram-plain': on('scram', '127.0.0.1', { mode: 'disable' }),
      'wrong-password': { upstream: { url: cluster.url('scram', 'localhost').replace(encodeURIComponent(cluster.users.scram.password), 'not-the-password-x9'), tls: { mode: 'verify-full', ca } } },
      'machine-require': { upstream: { url: adminUrl(), tls: { mode: 'require' } } },
      'machine-default': { upstream: { url: adminUrl() } },
      'machine-disable': { upstream: { url: adminUrl(), tls: { mode: 'disable' } } },
    },
  });
});

after(async () => {
  await rig?.stop();
  await cluster?.stop();
});

/** Logs in through the gateway as alice and returns what the upstream session reports about its own TLS. */
async function sessionTls(resource: string): Promise<{ ssl: boolean; version: string | null }> {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: resource, ssl: { rejectUnauthorized: false } });
  await c.connect();
  try {
    const r = await c.query<{ ssl: boolean; version: string | null }>('select ssl, version from pg_stat_ssl where pid = pg_backend_pid()');
    return r.rows[0]!;
  } finally {
    await c.end();
  }
}

/** The FATAL the client reads when the gateway cannot open the upstream; message and hint. */
async function refusal(resource: string): Promise<{ message: string; hint: string; code: string }> {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: resource, ssl: { rejectUnauthorized: false } });
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (e) {
    const err = e as { message: string; hint?: string; code?: string };
    return { message: err.message, hint: err.hint ?? '', code: err.code ?? '' };
  } finally {
    await c.end().catch(() => {});
  }
  throw new Error(`the gateway opened ${resource}, which it should have refused`);
}

function assertNoSecrets(text: string): void {
  for (const u of Object.values(cluster.users)) assert.ok(!text.includes(u.password), `the upstream password is in: ${text}`);
  assert.ok(!text.includes(cluster.superPassword));
}

test('verify-full: a certificate that names the host and comes from the CA in tls.ca.file gives an encrypted session', async () => {
  assert.deepEqual(await sessionTls('full-by-name'), { ssl: true, version: 'TLSv1.3' });
});

test('verify-full refuses a certificate that does not name the host of the address; verify-ca accepts it', async () => {
  const r = await refusal('full-by-ip');
  assert.equal(r.code, '08001');
  assert.match(r.message, /TLS to the database server of resource full-by-ip failed \(tls\.mode verify-full\)/);
  assert.match(r.message, /does not name the host in the resource's address: use a name the certificate lists in address, or tls\.mode verify-ca/);
  assert.match(r.hint, /AIRLOCK_UPSTREAM_TLS/);
  assert.deepEqual(await sessionTls('ca-by-ip'), { ssl: true, version: 'TLSv1.3' });
});

test('a certificate from another CA is refused, and so is one Node\'s bundled CAs do not know', async () => {
  for (const name of ['wrong-ca', 'no-ca']) {
    const r = await refusal(name);
    assert.match(r.message, new RegExp(`TLS to the database server of resource ${name} failed`));
    assert.match(r.message, /not signed by a CA the gateway trusts: set tls\.ca\.file on the resource to the CA certificate that signed it/);
    assert.match(r.hint, /AIRLOCK_UPSTREAM_TLS/);
  }
});

test('require encrypts without checking the certificate; a loopback address with no tls settings uses TLS when the server offers it', async () => {
  assert.equal((await sessionTls('required')).ssl, true);
  assert.equal((await sessionTls('loopback-default')).ssl, true);
  assert.equal((await sessionTls('scram-plain')).ssl, false, 'mode disable sends no SSLRequest');
});

test('a server without TLS (the machine\'s) is refused when the mode asks for TLS, with what to change; the loopback default and disable go on in plain TCP', async () => {
  const r = await refusal('machine-require');
  assert.match(r.message, /does not accept TLS \(it answered "N" to the SSLRequest\), and the resource's tls\.mode is require; turn TLS on in the server/);
  assert.match(r.message, /set tls: \{ mode: disable \} on the resource/);
  assert.match(r.hint, /AIRLOCK_UPSTREAM_TLS/);
  assert.equal((await sessionTls('machine-default')).ssl, false);
  assert.equal((await sessionTls('machine-disable')).ssl, false);
});

test('MD5: refused by default with the policy change that allows it; accepted with auth.allow_md5', async () => {
  const r = await refusal('md5-default');
  assert.match(r.message, /asks for an MD5 password, which Airlock does not answer by default/);
  assert.match(r.message, /or accept MD5 for this resource in the policy: auth: \{ allow_md5: true \}/);
  assert.match(r.hint, /AIRLOCK_UPSTREAM_AUTH/);
  assertNoSecrets(`${r.message} ${r.hint}`);
  assert.deepEqual(await sessionTls('md5-allowed'), { ssl: true, version: 'TLSv1.3' });
});

test('a clear-text password: refused by default, sent over TLS with auth.allow_cleartext, never on plain TCP', async () => {
  const r = await refusal('clear-default');
  assert.match(r.message, /asks for the password in clear text, which Airlock does not send by default; .* auth: \{ allow_cleartext: true \}/);
  assert.match(r.hint, /AIRLOCK_UPSTREAM_AUTH/);
  assert.equal((await sessionTls('clear-allowed')).ssl, true);
  const plain = await refusal('clear-plain');
  assert.match(plain.message, /in clear text on a connection without TLS, which Airlock never answers/);
  assertNoSecrets(`${plain.message} ${plain.hint}`);
});

test('a failed upstream login shows the server\'s words without the upstream user or password', async () => {
  const r = await refusal('wrong-password');
  assert.match(r.message, /could not open the upstream database for wrong-password: password authentication failed for user "<upstream user>"/);
  assert.ok(!r.message.includes(cluster.users.scram.name));
  assert.ok(!r.message.includes('not-the-password-x9'));
});

test('with TLS the upstream login is SCRAM-SHA-256-PLUS, bound to the server certificate; without TLS plain SCRAM-SHA-256', async () => {
  const def = resourceSchema.parse({ name: 'direct', kind: 'postgres', address: `localhost:${cluster.port}`, tls: { mode: 'verify-full', ca: { file: cluster.caFile } } });
  const login = { host: 'localhost', port: cluster.port, database: 'postgres', user: cluster.users.scram.name, password: cluster.users.scram.password };
  const tls = await openUpstream({ ...login, security: pgUpstreamSecurity(def, 'localhost') }, {});
  assert.equal(tls.auth, 'SCRAM-SHA-256-PLUS');
  assert.equal(tls.tls, 'TLSv1.3');
  tls.socket.destroy();
  const plainDef = resourceSchema.parse({ ...def, tls: { mode: 'disable' } });
  const plain = await openUpstream({ ...login, host: '127.0.0.1', security: pgUpstreamSecurity(plainDef, '127.0.0.1') }, {});
  assert.equal(plain.auth, 'SCRAM-SHA-256');
  assert.equal(plain.tls, null);
  plain.socket.destroy();
});

/** The per-grant-role admin for a resource on the TLS cluster, connected as `user` by `host`, with the resource's tls/auth. */
function adminFor(user: 'postgres' | 'md5' | 'cleartext', host: string, tls?: unknown, auth?: unknown, url = cluster.url(user, host)): PgGrantRoles {
  const u = new URL(url);
  const def = resourceSchema.parse({ name: 'admin-target', kind: 'postgres', address: `${host}:${u.port}`, tls, auth });
  return makePgGrantRoles({ adminUrl: url, markerRole: `airlock_managed_tls_${randomBytes(3).toString('hex')}`, connect: pgAdminConnection(pgUpstreamSecurity(def, host), host, Number(u.port)) });
}

test('the per-grant-role admin connection uses the same TLS: a role is made and dropped over verify-full; a wrong CA or host name is refused', async () => {
  const roles = adminFor('postgres', 'localhost', { mode: 'verify-full', ca: { file: cluster.caFile } });
  try {
    const made = await roles.create({ grantId: `grt_tls${randomBytes(4).toString('hex')}`, principal: 'alice', expiresAt: new Date(Date.now() + 3600_000), database: 'postgres', privileges: { read_only: true, member_of: [], grants: ['USAGE ON SCHEMA public'] } });
    const probe = new pg.Client({ connectionString: cluster.url('postgres'), ssl: { rejectUnauthorized: false } });
    await probe.connect();
    try {
      const r = await probe.query<{ ssl: boolean }>("select s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid) where a.application_name = 'airlock-credentials'");
      assert.ok(r.rows.length > 0 && r.rows.every((x) => x.ssl), 'every admin connection is encrypted');
    } finally {
      await probe.end();
    }
    const { grantId } = (await roles.list()).find((x) => x.name === made.username)!;
    await roles.drop(grantId!, 'alice', 'test over');
  } finally {
    await roles.close();
  }
  for (const [host, tls, why] of [
    ['localhost', { mode: 'verify-full', ca: { file: cluster.otherCaFile } }, /not signed by a CA the gateway trusts/],
    ['127.0.0.1', { mode: 'verify-full', ca: { file: cluster.caFile } }, /does not name the host in the resource's address/],
  ] as const) {
    const bad = adminFor('postgres', host, tls);
    await assert.rejects(bad.list(), why);
    await bad.close();
  }
});

test('the admin connection answers MD5 only with auth.allow_md5 and refuses "N" when TLS is asked for; a loopback default goes plain on a server without TLS', async () => {
  const refused = adminFor('md5', 'localhost', { mode: 'verify-full', ca: { file: cluster.caFile } });
  await assert.rejects(refused.list(), (e: unknown) => {
    assert.match((e as Error).message, /asks for an MD5 password.*auth: \{ allow_md5: true \}/);
    assert.ok(!(e as Error).message.includes(cluster.users.md5.password));
    return true;
  });
  await refused.close();
  const allowed = adminFor('md5', 'localhost', { mode: 'verify-full', ca: { file: cluster.caFile } }, { allow_md5: true });
  assert.deepEqual(await allowed.list(), []);
  await allowed.close();
  const machine = new URL(adminUrl());
  const noTls = adminFor('postgres', machine.hostname, { mode: 'require' }, undefined, adminUrl());
  await assert.rejects(noTls.list(), /does not accept TLS \(it answered "N" to the SSLRequest\), and the resource's tls\.mode is require/);
  await noTls.close();
  const plain = adminFor('postgres', machine.hostname, undefined, undefined, adminUrl());
  assert.deepEqual(await plain.list(), []);
  await plain.close();
});

test('a cancel request to a TLS upstream goes inside TLS and stops the running statement', async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'full-by-name', ssl: { rejectUnauthorized: false } });
  await c.connect();
  const probe = new pg.Client({ connectionString: cluster.url('postgres'), ssl: { rejectUnauthorized: false } });
  await probe.connect();
  try {
    const running = c.query('select pg_sleep(30)').then(() => null, (e: Error & { code?: string }) => e);
    await waitFor(async () => (await probe.query("select 1 from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'")).rowCount === 1, 5000, 'the statement to run upstream');
    const gateway = c as unknown as { processID: number; secretKey: number };
    await new Promise<void>((resolve) => {
      const s = connect(rig.port, '127.0.0.1', () => s.end(cancelRequest(gateway.processID, gateway.secretKey)));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const err = await running;
    assert.equal(err?.code, '57014', 'canceling statement due to user request');
  } finally {
    await probe.end();
    await c.end();
  }
});
