// The API's transport settings, checked at start: HTTPS key and certificate files, and where plain HTTP may listen.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AirlockError } from './domain/errors.js';
import { isLoopback } from './domain/addresses.js';

/** Reads a PEM certificate (chain) and its key, and refuses a pair that does not belong together. */
export async function readTlsFiles(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const read = (file: string, what: string) =>
    readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new AirlockError('AIRLOCK_CONFIG_INVALID', `The TLS ${what} file ${file} cannot be read (${e.code ?? e.message}); give a PEM file Airlock may read (--tls-${what === 'certificate' ? 'cert' : 'key'}).`);
    });
  const [cert, key] = await Promise.all([read(certFile, 'certificate'), read(keyFile, 'key')]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new AirlockError('AIRLOCK_CONFIG_INVALID', `${certFile} is not a PEM certificate (it should begin with -----BEGIN CERTIFICATE-----).`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch {
    throw new AirlockError('AIRLOCK_CONFIG_INVALID', `${keyFile} is not a PEM private key (an encrypted key is not supported; give it without a passphrase, readable only by Airlock).`);
  }
  if (!matches) throw new AirlockError('AIRLOCK_CONFIG_INVALID', `The key in ${keyFile} does not belong to the certificate in ${certFile}.`);
  return { cert, key };
}

/**
 * Plain HTTP carries tokens, passwords and session cookies in the clear, so it is served only where nobody else can
 * listen: loopback. A proxy that terminates TLS in front of Airlock is the one reason to allow it elsewhere.
 */
export function checkPlainHttpAllowed(host: string, allowHttp: boolean): void {
  if (allowHttp || isLoopback(host)) return;
  throw new AirlockError(
    'AIRLOCK_PLAIN_HTTP_REFUSED',
    `Airlock serves plain HTTP only on a loopback address, and ${host} is not one: tokens, passwords and console cookies would cross the network in the clear. Serve HTTPS with --tls-cert FILE --tls-key FILE (or --tls auto for a certificate from Airlock's own CA), or, behind a proxy that terminates TLS, pass --allow-http.`,
  );
}
