// The Ed25519 key that signs audit checkpoints: loaded by reference or made at first start, its id, and rotation on disk.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError } from '../domain/errors.js';
import { createPrivateFileOnce, writePrivateTemp } from '../store/private-file.js';

export interface CheckpointKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as SPKI PEM, what an auditor is given. */
  publicPem: string;
  /** sha256 of the public key's SPKI DER, in hex: the key's fingerprint. */
  keyId: string;
  /** The file the private key was read from (rotation replaces it). */
  path: string;
  /** Made by Airlock under <data>/audit (its public key is written beside it) rather than given by reference. */
  generated: boolean;
}

export function checkpointKeyPath(dataDir: string): string {
  return join(dataDir, 'audit', 'checkpoint-key.pem');
}

/** checkpoint-key.pem → checkpoint-key.pub.pem */
export function publicKeyPath(privatePath: string): string {
  return privatePath.replace(/(\.pem)?$/, '.pub.pem');
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** A public key from PEM (SPKI) text; refuses anything but Ed25519. */
export function parsePublicKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new AirlockError('AIRLOCK_BAD_INPUT', `${source} is not a PEM public key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AirlockError('AIRLOCK_BAD_INPUT', `${source} is a ${key.asymmetricKeyType} key; audit checkpoints are signed with Ed25519`);
  return key;
}

function fromPrivatePem(pem: string, path: string, generated: boolean): CheckpointKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new AirlockError('AIRLOCK_BAD_INPUT', `the audit signing key ${path} is not a PEM private key (PKCS#8): ${(e as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new AirlockError('AIRLOCK_BAD_INPUT', `the audit signing key ${path} is a ${privateKey.asymmetricKeyType} key; it must be Ed25519 (openssl genpkey -algorithm ed25519)`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), keyId: keyIdOf(publicKey), path, generated };
}

function readPem(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new AirlockError('AIRLOCK_BAD_INPUT', `the audit signing key ${path} cannot be read (${code ?? 'unknown error'})`);
  }
}

/** A fresh Ed25519 private key as PKCS#8 PEM. */
export function newPrivatePem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Writes `text` to a 0600 temporary file beside `path`, fsynced; returns its name. */
/**
 * The key given by reference (`file`), or the one under <data>/audit, made at first start. Creation hard-links a
 * complete 0600 temporary file into place (as the secret key file is made), so two processes starting together
 * agree on one key and nobody reads half a key.
 */
export function loadCheckpointKey(opts: { file?: string; dataDir: string }): CheckpointKey {
  if (opts.file) {
    const pem = readPem(opts.file);
    if (pem === undefined) throw new AirlockError('AIRLOCK_BAD_INPUT', `the audit signing key ${opts.file} does not exist (make one with: openssl genpkey -algorithm ed25519 -out ${opts.file})`);
    return fromPrivatePem(pem, opts.file, false);
  }
  const path = checkpointKeyPath(opts.dataDir);
  if (readPem(path) === undefined) createPrivateFileOnce(path, newPrivatePem());
  const key = fromPrivatePem(readPem(path)!, path, true);
  writePublicBeside(key);
  return key;
}

function writePublicBeside(key: CheckpointKey): void {
  if (!key.generated) return;
  const pub = publicKeyPath(key.path);
  if (readPem(pub) === key.publicPem) return;
  writeFileSync(`${pub}.tmp`, key.publicPem, { mode: 0o644 });
  renameSync(`${pub}.tmp`, pub);
}

/** Where a rotation keeps the next key until the checkpoint announcing it has committed. */
function nextPath(path: string): string {
  return `${path}.next`;
}

/** Step 1 of a rotation: the new key, written (0600, fsynced) beside the current one but not yet in use. */
export function prepareNextKey(current: CheckpointKey): CheckpointKey {
  const pem = newPrivatePem();
  const tmp = writePrivateTemp(nextPath(current.path), pem);
  renameSync(tmp, nextPath(current.path));
  return fromPrivatePem(pem, current.path, current.generated);
}

/**
 * Step 2, once the announcement is committed: the next key replaces the current file (a rename, atomic), and the old
 * one is kept as <file>.<key id prefix>.retired so nothing signed is lost.
 */
export function commitNextKey(current: CheckpointKey, next: CheckpointKey): void {
  const retired = `${current.path}.${current.keyId.slice(0, 16)}.retired`;
  try {
    linkSync(current.path, retired);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  renameSync(nextPath(current.path), current.path);
  writePublicBeside(next);
}

/** A next key a rotation left behind (a crash between its steps): finished if the chain announced it, else dropped. */
export function settlePendingRotation(current: CheckpointKey, announced: (keyId: string) => boolean): CheckpointKey {
  const pem = readPem(nextPath(current.path));
  if (pem === undefined) return current;
  const next = fromPrivatePem(pem, current.path, current.generated);
  if (announced(next.keyId)) {
    commitNextKey(current, next);
    return next;
  }
  unlinkSync(nextPath(current.path));
  return current;
}
