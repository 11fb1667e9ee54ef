// The server side of SCRAM-SHA-256 (RFC 5802/7677), with tls-server-end-point channel binding (RFC 5929) over TLS:
// the client proves it holds one of the principal's access tokens without the gateway storing any token.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import type { ScramCredentials } from '../types.js';
import { SCRAM_ITERATIONS, principalSalt, proofMatches, serverSignature } from '../../domain/scram.js';
import { ProtocolError, authSasl, authSaslContinue, authSaslFinal, readCString } from './protocol.js';

export const SCRAM = 'SCRAM-SHA-256';
export const SCRAM_PLUS = 'SCRAM-SHA-256-PLUS';

/** The exchange's transport: authentication messages out, and the bodies of the client's 'p' messages in. */
export interface SaslIO {
  send(msg: Buffer): void;
  receive(): Promise<Buffer>;
}

export type ScramOutcome = { ok: true; token_id: string } | { ok: false };

/**
 * Runs one exchange. For a principal with no valid token (or none at all) the exchange runs to the end with the
 * same salt and iteration count a real one would use, and fails at the proof, so the reply never reveals whether
 * the name exists. Malformed messages throw ProtocolError.
 */
export async function scramServerExchange(io: SaslIO, user: string, creds: ScramCredentials, tlsEndPoint: Buffer | null): Promise<ScramOutcome> {
  io.send(authSasl(tlsEndPoint ? [SCRAM_PLUS, SCRAM] : [SCRAM]));

  const initial = await io.receive();
  const [mechanism, at] = readCString(initial, 0, initial.length);
  if (mechanism !== SCRAM && !(mechanism === SCRAM_PLUS && tlsEndPoint)) throw new ProtocolError(`SASL mechanism "${mechanism}" was not offered`);
  if (initial.length < at + 4) throw new ProtocolError('malformed SCRAM message (no initial response)');
  const len = initial.readInt32BE(at);
  if (len < 0 || at + 4 + len !== initial.length) throw new ProtocolError('malformed SCRAM message (bad initial response length)');
  const clientFirst = initial.toString('utf8', at + 4);

  const { gs2Header, bare, clientNonce } = parseClientFirst(clientFirst);
  checkChannelBindingFlag(gs2Header, mechanism, tlsEndPoint !== null);

  const salt = creds.salt.length > 0 ? creds.salt : principalSalt(user);
  const iterations = creds.iterations > 0 ? creds.iterations : SCRAM_ITERATIONS;
  const nonce = clientNonce + randomBytes(18).toString('base64');
  const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
  io.send(authSaslContinue(serverFirst));

  const clientFinal = (await io.receive()).toString('utf8');
  const proofAt = clientFinal.lastIndexOf(',p=');
  if (proofAt < 0) throw new ProtocolError('malformed SCRAM message (no proof)');
  const withoutProof = clientFinal.slice(0, proofAt);
  const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
  const attrs = withoutProof.split(',');
  if (!attrs[0]?.startsWith('c=') || !attrs[1]?.startsWith('r=')) throw new ProtocolError('malformed SCRAM message (expected c= and r=)');
  const expectedBinding = Buffer.concat([Buffer.from(gs2Header), mechanism === SCRAM_PLUS ? tlsEndPoint! : Buffer.alloc(0)]);
  if (!Buffer.from(attrs[0].slice(2), 'base64').equals(expectedBinding)) throw new ProtocolError('SCRAM channel binding check failed');
  if (attrs[1].slice(2) !== nonce) throw new ProtocolError('SCRAM nonce mismatch');
  if (proof.length !== 32) throw new ProtocolError('malformed SCRAM message (bad proof)');

  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  let matched: { token_id: string; server_key: Buffer } | null = null;
  // Check every key, without stopping at the first match, so timing does not tell how many tokens exist.
  for (const key of creds.keys.length > 0 ? creds.keys : [{ token_id: '', stored_key: randomBytes(32), server_key: randomBytes(32) }]) {
    const ok = proofMatches(proof, key.stored_key, authMessage);
    if (ok && key.token_id && !matched) matched = key;
  }
  if (!matched) return { ok: false };
  io.send(authSaslFinal(`v=${serverSignature(matched.server_key, authMessage).toString('base64')}`));
  return { ok: true, token_id: matched.token_id };
}

function parseClientFirst(msg: string): { gs2Header: string; bare: string; clientNonce: string } {
  // gs2-header = cbind-flag "," [authzid] ","; PostgreSQL, like us, accepts no authzid.
  const first = msg.indexOf(',');
  const second = first < 0 ? -1 : msg.indexOf(',', first + 1);
  if (second < 0) throw new ProtocolError('malformed SCRAM message (no GS2 header)');
  if (second !== first + 1) throw new ProtocolError('SCRAM authorization identities are not supported');
  const gs2Header = msg.slice(0, second + 1);
  const bare = msg.slice(second + 1);
  const attrs = bare.split(',');
  if (!attrs[0]?.startsWith('n=')) throw new ProtocolError('malformed SCRAM message (expected n=)');
  const r = attrs[1];
  if (!r?.startsWith('r=') || r.length < 3 || !/^[\x21-\x2b\x2d-\x7e]+$/.test(r.slice(2))) throw new ProtocolError('malformed SCRAM message (bad client nonce)');
  return { gs2Header, bare, clientNonce: r.slice(2) };
}

/**
 * 'n': the client does not support channel binding; 'y': it does but thinks we don't — a downgrade if we offered
 * PLUS; 'p=tls-server-end-point': it binds, which only SCRAM-SHA-256-PLUS may carry.
 */
function checkChannelBindingFlag(gs2Header: string, mechanism: string, offeredPlus: boolean): void {
  const flag = gs2Header.slice(0, gs2Header.indexOf(','));
  if (mechanism === SCRAM_PLUS) {
    if (flag !== 'p=tls-server-end-point') throw new ProtocolError('SCRAM-SHA-256-PLUS requires tls-server-end-point channel binding');
  } else if (flag === 'y') {
    if (offeredPlus) throw new ProtocolError('SCRAM channel binding negotiation error: the server supports channel binding');
  } else if (flag !== 'n') {
    throw new ProtocolError('SCRAM channel binding requires the SCRAM-SHA-256-PLUS mechanism');
  }
}

/** Signature algorithms (DER of the OID) and the hash RFC 5929 prescribes for tls-server-end-point. */
const SIGNATURE_HASHES = new Map<string, string>([
  ['2a864886f70d010104', 'sha256'], // md5WithRSA: MD5 and SHA-1 are replaced by SHA-256
  ['2a864886f70d010105', 'sha256'], // sha1WithRSA
  ['2a864886f70d01010b', 'sha256'],
  ['2a864886f70d01010c', 'sha384'],
  ['2a864886f70d01010d', 'sha512'],
  ['2a8648ce3d040301', 'sha256'], // ecdsa-with-SHA1
  ['2a8648ce3d040302', 'sha256'],
  ['2a8648ce3d040303', 'sha384'],
  ['2a8648ce3d040304', 'sha512'],
]);

/**
 * The tls-server-end-point channel-binding data for a server certificate (the first one in the PEM): its DER hashed
 * with its signature's hash. Null when the algorithm has no defined binding (e.g. Ed25519, RSA-PSS): then only plain
 * SCRAM-SHA-256 is offered.
 */
export function tlsServerEndPoint(certPem: string | Buffer): Buffer | null {
  const der = new X509Certificate(certPem).raw;
  const hash = SIGNATURE_HASHES.get(signatureAlgorithmOid(der));
  return hash ? createHash(hash).update(der).digest() : null;
}

/** Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, … }, signature }. */
function signatureAlgorithmOid(der: Buffer): string {
  const cert = readTlv(der, 0);
  const tbs = readTlv(der, cert.body);
  const alg = readTlv(der, tbs.end);
  const oid = readTlv(der, alg.body);
  return der.toString('hex', oid.body, oid.end);
}

function readTlv(der: Buffer, at: number): { body: number; end: number } {
  let len = der[at + 1]!;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[body + i]!;
    body += n;
  }
  return { body, end: body + len };
}
