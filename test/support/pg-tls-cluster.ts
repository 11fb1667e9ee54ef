// A throw-away PostgreSQL 15 cluster (the machine's binaries, initdb in a temp dir) with TLS on, a certificate for
// "localhost" signed by a test CA, and roles that log in with SCRAM, MD5 or a clear-text password.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from '../../src/store/embedded-postgres.js';

const BIN = '/usr/lib/postgresql/15/bin';

export interface TlsCluster {
  port: number;
  /** The CA that signed the server's certificate, and one that did not. */
  caFile: string;
  otherCaFile: string;
  superPassword: string;
  /** Roles whose pg_hba.conf line asks for MD5 and for a clear-text password; `scram` has a SCRAM verifier. */
  users: Record<'scram' | 'md5' | 'cleartext', { name: string; password: string }>;
  url(user: keyof TlsCluster['users'] | 'postgres', host?: string, database?: string): string;
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

function asPostgres(cmd: string, args: string[]): void {
  const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
}

function giveToPostgres(path: string, mode: number): void {
  chmodSync(path, mode);
  if (!asRoot) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(path, uid, gid);
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-days', '2', '-keyout', key, '-out', cert]);
  return { cert, key };
}

export async function startTlsCluster(): Promise<TlsCluster> {
  const parent = mkdtempSync(join(tmpdir(), 'airlock-tlspg-'));
  chmodSync(parent, 0o711);
  const ca = makeCa(parent, 'airlock-test-ca');
  const other = makeCa(parent, 'some-other-ca');
  const key = join(parent, 'server.key');
  const cert = join(parent, 'server.crt');
  const csr = join(parent, 'server.csr');
  const ext = join(parent, 'server.ext');
  // The certificate names localhost only, not 127.0.0.1: verify-full by IP address must then fail.
  writeFileSync(ext, 'subjectAltName=DNS:localhost\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  giveToPostgres(key, 0o600);
  giveToPostgres(cert, 0o644);

  const data = join(parent, 'data');
  const superPassword = randomBytes(18).toString('base64url');
  const pwFile = join(parent, 'pw');
  writeFileSync(pwFile, superPassword);
  giveToPostgres(pwFile, 0o600);
  mkdirSync(data);
  giveToPostgres(data, 0o700);
  asPostgres(join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const conf = [
    `port = ${port}`,
    "listen_addresses = 'localhost'",
    "unix_socket_directories = ''",
    'ssl = on',
    `ssl_cert_file = '${cert}'`,
    `ssl_key_file = '${key}'`,
    'max_connections = 30',
    'fsync = off',
  ];
  writeFileSync(join(data, 'postgresql.conf'), `${readFileSync(join(data, 'postgresql.conf'), 'utf8')}\n${conf.join('\n')}\n`);
  const users = {
    scram: { name: `airlock_scram_${randomBytes(3).toString('hex')}`, password: randomBytes(12).toString('hex') },
    md5: { name: `airlock_md5_${randomBytes(3).toString('hex')}`, password: randomBytes(12).toString('hex') },
    cleartext: { name: `airlock_clear_${randomBytes(3).toString('hex')}`, password: randomBytes(12).toString('hex') },
  };
  const hba = [`host all ${users.md5.name} samenet md5`, `host all ${users.cleartext.name} samenet password`, 'host all all samenet scram-sha-256'];
  writeFileSync(join(data, 'pg_hba.conf'), `${hba.join('\n')}\n`);
  asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-l', join(data, 'server.log'), '-w', '-t', '30', 'start']);

  const url = (user: keyof TlsCluster['users'] | 'postgres', host = '127.0.0.1', database = 'postgres') => {
    const u = user === 'postgres' ? { name: 'postgres', password: superPassword } : users[user];
    return `postgres://${u.name}:${encodeURIComponent(u.password)}@${host}:${port}/${database}`;
  };
  const admin = new pg.Client({ connectionString: url('postgres'), ssl: { rejectUnauthorized: false } });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${users.scram.name} LOGIN PASSWORD '${users.scram.password}'`);
    await admin.query(`CREATE ROLE ${users.cleartext.name} LOGIN PASSWORD '${users.cleartext.password}'`);
    // An MD5 verifier: with it, the md5 line in pg_hba.conf really asks for MD5 (a SCRAM verifier would make it SCRAM).
    await admin.query("SET password_encryption = 'md5'");
    await admin.query(`CREATE ROLE ${users.md5.name} LOGIN PASSWORD '${users.md5.password}'`);
  } finally {
    await admin.end();
  }
  return {
    port,
    caFile: ca.cert,
    otherCaFile: other.cert,
    superPassword,
    users,
    url,
    async stop() {
      if (existsSync(join(data, 'postmaster.pid'))) asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
