// SCRAM-SHA-256 (RFC 5802/7677), the one implementation of its keys and proofs: the gateway's server side (access
// tokens), its client side (upstream logins) and the verifiers written into CREATE ROLE all compute them here.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** PostgreSQL's default scram_iterations, and what the gateway uses for tokens. */
export const SCRAM_ITERATIONS = 4096;

export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  stored_key: Buffer;
  server_key: Buffer;
}

/** SASLprep is the identity on printable ASCII; other passwords get its normalization step (NFKC). */
export function saslPrep(password: string): string {
  return /^[\x20-\x7e]*$/.test(password) ? password : password.normalize('NFKC');
}

const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** The keys RFC 5802 derives from SaltedPassword := Hi(password, salt, i). */
export function scramKeys(saltedPassword: Buffer): { client_key: Buffer; stored_key: Buffer; server_key: Buffer } {
  const clientKey = hmac(saltedPassword, 'Client Key');
  return { client_key: clientKey, stored_key: sha256(clientKey), server_key: hmac(saltedPassword, 'Server Key') };
}

/** SaltedPassword, synchronously (one login's worth of PBKDF2; the gateway derives it per upstream connection). */
export function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(saslPrep(password), salt, iterations, 32, 'sha256');
}

/**
 * Every token of one principal shares one salt: the server must send the salt before it knows which token
 * the client holds, and then checks the proof against each token's StoredKey.
 */
export function principalSalt(principal: string): Buffer {
  return createHash('sha256').update(`airlock-scram-salt\0${principal}`).digest().subarray(0, 16);
}

export function scramVerifier(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): ScramVerifier {
  const { stored_key, server_key } = scramKeys(saltedPassword(password, salt, iterations));
  return { salt, iterations, stored_key, server_key };
}

/** The same verifier off the main thread (PBKDF2 in libuv's pool), for callers that make many. */
export async function scramVerifierAsync(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): Promise<ScramVerifier> {
  const { stored_key, server_key } = scramKeys(await pbkdf2Async(saslPrep(password), salt, iterations, 32, 'sha256'));
  return { salt, iterations, stored_key, server_key };
}

/** How PostgreSQL stores a verifier (pg_authid.rolpassword): `SCRAM-SHA-256$i:salt$StoredKey:ServerKey`, base64. */
export function postgresVerifierText(v: ScramVerifier): string {
  return `SCRAM-SHA-256$${v.iterations}:${v.salt.toString('base64')}$${v.stored_key.toString('base64')}:${v.server_key.toString('base64')}`;
}

/** ClientProof := ClientKey XOR HMAC(StoredKey, AuthMessage). */
export function clientProof(clientKey: Buffer, storedKey: Buffer, authMessage: string): Buffer {
  return xor(clientKey, hmac(storedKey, authMessage));
}

/** ServerSignature := HMAC(ServerKey, AuthMessage): how the server proves it holds the verifier too. */
export function serverSignature(serverKey: Buffer, authMessage: string): Buffer {
  return hmac(serverKey, authMessage);
}

/** Whether a 32-byte proof recovers a ClientKey whose hash is `storedKey`; constant time in the proof's contents. */
export function proofMatches(proof: Buffer, storedKey: Buffer, authMessage: string): boolean {
  if (proof.length !== 32 || storedKey.length !== 32) return false;
  return timingSafeEqual(sha256(xor(proof, hmac(storedKey, authMessage))), storedKey);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
