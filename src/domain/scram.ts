// SCRAM-SHA-256 (RFC 5802/7677) verifiers for access tokens, so database clients can log in with a token
// without the gateway ever storing it: only StoredKey and ServerKey are kept.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

export const SCRAM_ITERATIONS = 4096;

export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  stored_key: Buffer;
  server_key: Buffer;
}

/**
 * Every token of one principal shares one salt: the server must send the salt before it knows which token
 * the client holds, and then checks the proof against each token's StoredKey.
 */
export function principalSalt(principal: string): Buffer {
  return createHash('sha256').update(`airlock-scram-salt\0${principal}`).digest().subarray(0, 16);
}

export function scramVerifier(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): ScramVerifier {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    salt,
    iterations,
    stored_key: createHash('sha256').update(clientKey).digest(),
    server_key: createHmac('sha256', salted).update('Server Key').digest(),
  };
}
