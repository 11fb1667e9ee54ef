// The mysql_native_password verifier of a secret, stored for each access token so MySQL clients can prove it.
import { createHash } from 'node:crypto';

/** SHA1(SHA1(password)): what a MySQL server stores, and all a native proof can be checked against. */
export function nativeVerifier(password: string | Buffer): Buffer {
  const once = createHash('sha1').update(Buffer.from(password)).digest();
  return createHash('sha1').update(once).digest();
}
