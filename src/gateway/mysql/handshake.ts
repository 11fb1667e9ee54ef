// The login packets of the MySQL protocol: the gateway's Handshake v10, the client's (SSL request and) handshake
// response, auth-switch requests, and the password proofs of mysql_native_password and caching_sha2_password.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { nativeVerifier } from '../../domain/mysql-native.js';
import { CAP, ProtocolError, readCString, readLenenc } from './packets.js';

/** What the gateway offers: no compression, no LOCAL INFILE, no session tracking or MariaDB extensions. */
export const GATEWAY_CAPABILITIES =
  CAP.LONG_PASSWORD | CAP.FOUND_ROWS | CAP.LONG_FLAG | CAP.CONNECT_WITH_DB | CAP.PROTOCOL_41 | CAP.INTERACTIVE | CAP.TRANSACTIONS | CAP.SECURE_CONNECTION |
  CAP.MULTI_STATEMENTS | CAP.MULTI_RESULTS | CAP.PS_MULTI_RESULTS | CAP.PLUGIN_AUTH | CAP.CONNECT_ATTRS | CAP.PLUGIN_AUTH_LENENC_DATA | CAP.DEPRECATE_EOF;

export const NATIVE = 'mysql_native_password';
export const CACHING_SHA2 = 'caching_sha2_password';
export const CLEAR = 'mysql_clear_password';

/** utf8mb4_general_ci: what the gateway announces; the client's own choice is passed upstream. */
const CHARSET_UTF8MB4 = 45;

/** 20 random bytes without NUL (clients read the scramble as a C string). */
export function newScramble(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) b[i] = 1 + (b[i]! % 127);
  return b;
}

export function handshakeV10(o: { version: string; connectionId: number; scramble: Buffer; tls: boolean }): Buffer {
  const caps = GATEWAY_CAPABILITIES | (o.tls ? CAP.SSL : 0);
  const head = Buffer.alloc(1);
  head[0] = 10;
  const ver = Buffer.from(`${o.version}\0`, 'latin1');
  const mid = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  let p = 0;
  mid.writeUInt32LE(o.connectionId, p);
  p += 4;
  o.scramble.copy(mid, p, 0, 8);
  p += 8;
  mid[p++] = 0;
  mid.writeUInt16LE(caps & 0xffff, p);
  p += 2;
  mid[p++] = CHARSET_UTF8MB4;
  mid.writeUInt16LE(0x0002, p); // SERVER_STATUS_AUTOCOMMIT
  p += 2;
  mid.writeUInt16LE(caps >>> 16, p);
  p += 2;
  mid[p++] = 21; // scramble length + NUL
  return Buffer.concat([head, ver, mid, o.scramble.subarray(8), Buffer.from([0]), Buffer.from(`${NATIVE}\0`, 'latin1')]);
}

export interface ClientHello {
  capabilities: number;
  maxPacket: number;
  charset: number;
  /** Only an SSL request: the TLS handshake follows, then the full response. */
  sslRequest: boolean;
  user: string;
  authResponse: Buffer;
  database: string | undefined;
  plugin: string | undefined;
  attributes: Record<string, string>;
}

/** Parses a HandshakeResponse41 (or the 32-byte SSL request). Pre-4.1 clients are refused. */
export function parseClientHello(p: Buffer): ClientHello {
  if (p.length < 32) throw new ProtocolError('the handshake response is too short');
  const capabilities = p.readUInt32LE(0);
  if (!(capabilities & CAP.PROTOCOL_41)) throw new ProtocolError('this client speaks a protocol older than MySQL 4.1, which the gateway does not accept');
  const base = { capabilities, maxPacket: p.readUInt32LE(4), charset: p[8]!, attributes: {} as Record<string, string> };
  if (p.length === 32) return { ...base, sslRequest: true, user: '', authResponse: Buffer.alloc(0), database: undefined, plugin: undefined };
  let off = 32;
  const user = readCString(p, off);
  off = user.next;
  let authResponse: Buffer;
  if (capabilities & CAP.PLUGIN_AUTH_LENENC_DATA) {
    const l = readLenenc(p, off);
    if (l.next + l.value > p.length) throw new ProtocolError('the auth response runs past the packet');
    authResponse = p.subarray(l.next, l.next + l.value);
    off = l.next + l.value;
  } else if (capabilities & CAP.SECURE_CONNECTION) {
    const n = p[off] ?? 0;
    if (off + 1 + n > p.length) throw new ProtocolError('the auth response runs past the packet');
    authResponse = p.subarray(off + 1, off + 1 + n);
    off += 1 + n;
  } else {
    const s = readCString(p, off);
    authResponse = s.value;
    off = s.next;
  }
  let database: string | undefined;
  if (capabilities & CAP.CONNECT_WITH_DB && off < p.length) {
    const s = readCString(p, off);
    database = s.value.toString('utf8');
    off = s.next;
  }
  let plugin: string | undefined;
  if (capabilities & CAP.PLUGIN_AUTH && off < p.length) {
    const s = readCString(p, off);
    plugin = s.value.toString('latin1');
    off = s.next;
  }
  if (capabilities & CAP.CONNECT_ATTRS && off < p.length) {
    const total = readLenenc(p, off);
    const end = Math.min(p.length, total.next + total.value);
    let a = total.next;
    while (a < end) {
      const k = readLenenc(p, a);
      const key = p.subarray(k.next, k.next + k.value).toString('utf8');
      const v = readLenenc(p, k.next + k.value);
      base.attributes[key] = p.subarray(v.next, v.next + v.value).toString('utf8').slice(0, 200);
      a = v.next + v.value;
    }
  }
  return { ...base, sslRequest: false, user: user.value.toString('utf8'), authResponse: Buffer.from(authResponse), database: database || undefined, plugin };
}

export function authSwitchRequest(plugin: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${plugin}\0`, 'latin1'), data, Buffer.from([0])]);
}

const sha1 = (...parts: Buffer[]) => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};
const sha256 = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

export { nativeVerifier };

/** The client's proof: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))). */
export function nativeProof(password: string | Buffer, scramble: Buffer): Buffer {
  if (Buffer.byteLength(password) === 0) return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password));
  return xor(stage1, sha1(scramble, sha1(stage1)));
}

/** Whether `proof` shows knowledge of the password behind `verifier` for this scramble. */
export function checkNativeProof(proof: Buffer, scramble: Buffer, verifier: Buffer): boolean {
  if (proof.length !== 20 || verifier.length !== 20) return false;
  const stage1 = xor(proof, sha1(scramble, verifier));
  return timingSafeEqual(sha1(stage1), verifier);
}

/** caching_sha2_password's fast proof: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce). */
export function sha2Proof(password: string | Buffer, nonce: Buffer): Buffer {
  if (Buffer.byteLength(password) === 0) return Buffer.alloc(0);
  const h1 = sha256(Buffer.from(password));
  return xor(h1, sha256(sha256(h1), nonce));
}

/**
 * Collation ids (the one byte of a handshake) of the character sets whose every ASCII byte is that character:
 * utf8mb3, utf8mb4, latin1, ascii, binary. The statement check reads text as UTF-8; under gbk, big5, sjis, cp932 or
 * gb18030 a multi-byte character can end in the byte of a backslash or a quote, so the server would read it otherwise.
 */
const SAFE_COLLATIONS: ReadonlySet<number> = new Set([
  // latin1
  5, 8, 15, 31, 47, 48, 49, 94,
  // ascii
  11, 65,
  // binary
  63,
  // utf8mb3
  33, 83, ...range(192, 215), 223,
  // utf8mb4 (255: MySQL 8's utf8mb4_0900_ai_ci)
  45, 46, ...range(224, 247), 255,
]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export function isSafeCollation(id: number): boolean {
  return SAFE_COLLATIONS.has(id);
}
