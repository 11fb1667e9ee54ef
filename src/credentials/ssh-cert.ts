// OpenSSH keys and user certificates, our own encoder: ed25519 key pairs (public lines, SHA256 fingerprints, the
// unencrypted openssh-key-v1 private format) and ed25519 user certificates signed by a CA key (PROTOCOL.certkeys).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';

export const ED25519 = 'ssh-ed25519';
export const ED25519_CERT = 'ssh-ed25519-cert-v01@openssh.com';
/** PROTOCOL.certkeys: SSH2_CERT_TYPE_USER. */
const USER_CERT = 1;

/** An ed25519 key pair: the OpenSSH private key text (never logged) and the public line. */
export interface SshKeyPair {
  privateKey: string;
  publicLine: string;
}

/** A parsed public key line: "type base64-blob [comment]". */
export interface SshPublicKey {
  type: string;
  blob: Buffer;
  comment: string;
}

// ---- SSH wire encoding (RFC 4251 §5): string = uint32 length + bytes, uint64 big-endian ----

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(b.length), b]);
}

/** Reads SSH wire fields from a buffer, bounded by its end: a short or lying length throws instead of reading past it. */
export class SshReader {
  private p = 0;
  constructor(private readonly b: Buffer) {}
  get done(): boolean {
    return this.p === this.b.length;
  }
  u32(): number {
    if (this.p + 4 > this.b.length) throw bad('truncated');
    const n = this.b.readUInt32BE(this.p);
    this.p += 4;
    return n;
  }
  u64(): bigint {
    if (this.p + 8 > this.b.length) throw bad('truncated');
    const n = this.b.readBigUInt64BE(this.p);
    this.p += 8;
    return n;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.p + n > this.b.length) throw bad('a length runs past the end');
    const out = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
}

function bad(why: string): AirlockError {
  return new AirlockError('AIRLOCK_BAD_INPUT', `Not a valid OpenSSH key: ${why}.`);
}

// ---- public keys ----

/** Parses "ssh-ed25519 AAAA… comment"; the type named in the line must be the one inside the blob. */
export function parsePublicKeyLine(line: string): SshPublicKey {
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*?))?\s*$/.exec(line);
  if (!m) throw bad('expected "TYPE BASE64 [COMMENT]", as in a .pub file');
  const blob = Buffer.from(m[2]!, 'base64');
  let inner: string;
  try {
    inner = new SshReader(blob).text();
  } catch {
    throw bad('the base64 part is not a key');
  }
  if (inner !== m[1]) throw bad(`the line says ${m[1]} but the key inside is ${inner}`);
  return { type: m[1]!, blob, comment: m[3] ?? '' };
}

/** "TYPE BASE64[ COMMENT]". */
export function formatPublicKeyLine(type: string, blob: Buffer, comment = ''): string {
  return `${type} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** The fingerprint ssh-keygen -l prints: "SHA256:" + base64 of the blob's SHA-256, without padding. */
export function fingerprint(keyOrLine: Buffer | string): string {
  const blob = typeof keyOrLine === 'string' ? parsePublicKeyLine(keyOrLine).blob : keyOrLine;
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The wire blob of an ed25519 public key: string "ssh-ed25519", string key(32). */
function ed25519Blob(raw: Buffer): Buffer {
  return Buffer.concat([str(ED25519), str(raw)]);
}

function rawEd25519(key: KeyObject): { pub: Buffer; seed: Buffer | null } {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new AirlockError('AIRLOCK_INTERNAL', 'An SSH key here must be ed25519.');
  return { pub: Buffer.from(jwk.x, 'base64url'), seed: jwk.d ? Buffer.from(jwk.d, 'base64url') : null };
}

/** The public line of an ed25519 key (private or public KeyObject). */
export function publicLineOf(key: KeyObject, comment = ''): string {
  return formatPublicKeyLine(ED25519, ed25519Blob(rawEd25519(key).pub), comment);
}

// ---- private keys (openssh-key-v1, unencrypted; the format ssh-keygen writes and ssh2 reads) ----

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const PEM_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PEM_END = '-----END OPENSSH PRIVATE KEY-----';

/** Writes an ed25519 private key as ssh-keygen does (cipher none): what ssh, ssh-keygen and ssh2 load. */
export function formatPrivateKey(key: KeyObject, comment = ''): string {
  const { pub, seed } = rawEd25519(key);
  if (!seed) throw new AirlockError('AIRLOCK_INTERNAL', 'formatPrivateKey needs a private key.');
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, str(ED25519), str(pub), str(Buffer.concat([seed, pub])), str(comment)]);
  // Padded with 1, 2, 3, … to the cipher block size (8 for "none").
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([MAGIC, str('none'), str('none'), str(''), u32(1), str(ed25519Blob(pub)), str(priv)]);
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return `${PEM_BEGIN}\n${b64}${PEM_END}\n`;
}

/** Reads an unencrypted openssh-key-v1 ed25519 private key into a KeyObject. Errors never quote the key. */
export function parsePrivateKey(text: string): KeyObject {
  const s = text.trim();
  if (!s.startsWith(PEM_BEGIN) || !s.endsWith(PEM_END)) throw bad(`expected an OpenSSH private key (${PEM_BEGIN})`);
  const body = Buffer.from(s.slice(PEM_BEGIN.length, -PEM_END.length).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('not openssh-key-v1');
  const r = new SshReader(body.subarray(MAGIC.length));
  if (r.text() !== 'none' || r.text() !== 'none') throw bad('the private key is encrypted; give one without a passphrase');
  r.bytes();
  if (r.u32() !== 1) throw bad('expected exactly one key');
  r.bytes();
  const p = new SshReader(r.bytes());
  if (p.u32() !== p.u32()) throw bad('the check numbers differ');
  const type = p.text();
  if (type !== ED25519) throw bad(`only ssh-ed25519 private keys are read here, not ${type}`);
  const pub = p.bytes();
  const both = p.bytes();
  if (pub.length !== 32 || both.length !== 64 || !both.subarray(32).equals(pub)) throw bad('malformed ed25519 key');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: both.subarray(0, 32).toString('base64url'), x: pub.toString('base64url') }, format: 'jwk' });
}

/** A fresh ed25519 key pair in OpenSSH formats. */
export function generateSshKeyPair(comment = ''): SshKeyPair & { key: KeyObject } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { key: privateKey, privateKey: formatPrivateKey(privateKey, comment), publicLine: publicLineOf(privateKey, comment) };
}

/** The public half of a private key, as a KeyObject. */
export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

// ---- user certificates ----

/** What the role allows the session; permit-pty is always on, permit-user-rc never. */
export interface CertPermissions {
  port_forwarding: boolean;
  agent_forwarding: boolean;
  x11: boolean;
}

export interface UserCertificateInput {
  /** The ed25519 public key the certificate is for (its public line or wire blob). */
  publicKey: string | Buffer;
  /** The CA's ed25519 private key. */
  caKey: KeyObject;
  serial: bigint;
  /** Shown in sshd's log for each login, e.g. "airlock:alice:grt_…:ses_…". */
  keyId: string;
  /** The Unix users it may log in as. */
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  /** CIDR list for the source-address critical option; none = any address. */
  sourceAddresses?: string[];
  permissions: CertPermissions;
}

/** The extensions a certificate carries for these permissions, sorted as PROTOCOL.certkeys requires. */
export function certificateExtensions(p: CertPermissions): string[] {
  const ext = ['permit-pty'];
  if (p.port_forwarding) ext.push('permit-port-forwarding');
  if (p.agent_forwarding) ext.push('permit-agent-forwarding');
  if (p.x11) ext.push('permit-X11-forwarding');
  return ext.sort();
}

const seconds = (d: Date): bigint => BigInt(Math.floor(d.getTime() / 1000));

/** Signs an ssh-ed25519-cert-v01@openssh.com user certificate; returns its wire blob (formatPublicKeyLine shows it). */
export function signUserCertificate(i: UserCertificateInput): Buffer {
  const subject = typeof i.publicKey === 'string' ? parsePublicKeyLine(i.publicKey) : { type: new SshReader(i.publicKey).text(), blob: i.publicKey };
  if (subject.type !== ED25519) throw new AirlockError('AIRLOCK_INTERNAL', `Certificates are made for ssh-ed25519 keys only, not ${subject.type}.`);
  const r = new SshReader(subject.blob);
  r.text();
  const pk = r.bytes();
  if (i.principals.length === 0) throw new AirlockError('AIRLOCK_INTERNAL', 'A certificate needs at least one principal (login user).');
  if (i.validBefore <= i.validAfter) throw new AirlockError('AIRLOCK_INTERNAL', 'A certificate must end after it starts.');
  // Critical options and extensions: name + data, each data a string holding the value (empty for flags), sorted by name.
  const critical = i.sourceAddresses?.length ? Buffer.concat([str('source-address'), str(str(i.sourceAddresses.join(',')))]) : Buffer.alloc(0);
  const extensions = Buffer.concat(certificateExtensions(i.permissions).flatMap((e) => [str(e), str('')]));
  const tbs = Buffer.concat([
    str(ED25519_CERT),
    str(randomBytes(32)),
    str(pk),
    u64(i.serial),
    u32(USER_CERT),
    str(i.keyId),
    str(Buffer.concat(i.principals.map((p) => str(p)))),
    u64(seconds(i.validAfter)),
    u64(seconds(i.validBefore)),
    str(critical),
    str(extensions),
    str(''),
    str(ed25519Blob(rawEd25519(i.caKey).pub)),
  ]);
  const signature = sign(null, tbs, i.caKey);
  return Buffer.concat([tbs, str(Buffer.concat([str(ED25519), str(signature)]))]);
}
