// Airlock's TLS material in <dataDir>/tls/: a private CA and a server certificate it signs, made on first start, used by
// the gateways and (with --tls auto) the API, so clients can verify them from the very first connection.
import { X509Certificate, createPrivateKey, randomBytes, webcrypto, KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  key: string;
  cert: string;
  ca: string;
  caPath: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
/** A server certificate this close to its end is renewed at start. */
const RENEW_BEFORE = 30 * DAY;

/**
 * Reuses dataDir/tls/{ca.crt,ca.key,server.crt,server.key} when they are there and the server certificate still
 * covers localhost, 127.0.0.1, ::1 and `hostnames` for more than 30 days; otherwise issues a new server certificate
 * (with the existing CA when there is one, so clients keep trusting it). Keys are written with mode 0600.
 */
export async function loadOrCreateTls(dataDir: string, opts: { hostnames?: string[] } = {}): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  const paths = { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  const names = [...new Set(['localhost', '127.0.0.1', '::1', ...(opts.hostnames ?? [])])];
  await mkdir(dir, { recursive: true, mode: 0o700 });

  let ca: { cert: string; key: string } | null = null;
  if (existsSync(paths.caCert) && existsSync(paths.caKey)) {
    await tightenMode(paths.caKey);
    ca = { cert: await readFile(paths.caCert, 'utf8'), key: await readFile(paths.caKey, 'utf8') };
  }
  if (ca && existsSync(paths.cert) && existsSync(paths.key)) {
    await tightenMode(paths.key);
    const server = { cert: await readFile(paths.cert, 'utf8'), key: await readFile(paths.key, 'utf8') };
    if (serverCertStillGood(server, ca.cert, names)) return { key: server.key, cert: server.cert, ca: ca.cert, caPath: paths.caCert };
  }

  const x509 = await loadX509();
  if (!ca) {
    const made = await createCa(x509);
    await writeFile(paths.caKey, made.key, { mode: 0o600 });
    await writeFile(paths.caCert, made.cert, { mode: 0o644 });
    ca = made;
  }
  const server = await createServerCert(x509, ca, names);
  await writeFile(paths.key, server.key, { mode: 0o600 });
  await writeFile(paths.cert, server.cert, { mode: 0o644 });
  return { key: server.key, cert: server.cert, ca: ca.cert, caPath: paths.caCert };
}

function serverCertStillGood(server: { cert: string; key: string }, caPem: string, names: string[]): boolean {
  try {
    const cert = new X509Certificate(server.cert);
    const ca = new X509Certificate(caPem);
    if (!cert.verify(ca.publicKey) || !cert.checkPrivateKey(createPrivateKey(server.key))) return false;
    if (new Date(cert.validTo).getTime() - Date.now() < RENEW_BEFORE) return false;
    return names.every((n) => (isIP(n) ? cert.checkIP(n) : cert.checkHost(n)) !== undefined);
  } catch {
    return false;
  }
}

/** A key file readable by others is a key others may have: make it 0600 before using it. */
async function tightenMode(path: string): Promise<void> {
  const s = await stat(path);
  if ((s.mode & 0o077) !== 0) await chmod(path, 0o600);
}

type X509 = typeof import('@peculiar/x509');

/** Loaded only when something must be issued: the library installs a global Reflect polyfill. */
async function loadX509(): Promise<X509> {
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  return x509;
}

function serial(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // a positive INTEGER
  return b.toString('hex');
}

function pemKey(key: CryptoKey): string {
  return KeyObject.from(key as unknown as webcrypto.CryptoKey).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function createCa(x509: X509): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Airlock gateway CA (${osHostname().replace(/[,=+<>#;"\\]/g, '')})`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 3650 * DAY),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: pemKey(keys.privateKey) };
}

async function createServerCert(x509: X509, ca: { cert: string; key: string }, names: string[]): Promise<{ cert: string; key: string }> {
  let caKey: CryptoKey;
  try {
    const der = createPrivateKey(ca.key).export({ type: 'pkcs8', format: 'der' });
    caKey = (await webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign'])) as unknown as CryptoKey;
  } catch {
    throw new Error('tls/ca.key is not an ECDSA P-256 key, so the gateway cannot issue its server certificate with it; provide server.crt and server.key signed by that CA, or remove the tls/ folder to start a new CA');
  }
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.find((n) => !isIP(n)) ?? 'localhost'}`,
    issuer: caCert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 397 * DAY),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) ? ('ip' as const) : ('dns' as const), value: n }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: pemKey(keys.privateKey) };
}
