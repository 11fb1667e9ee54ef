// The gateway's SSH keys under <dataDir>/ssh/: the user CA that signs each session's certificate and the host key
// its SSH listener shows. Made at first start (ed25519, OpenSSH format, mode 0600), kept across restarts.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { fingerprint, generateSshKeyPair, parsePrivateKey, publicLineOf } from './ssh-cert.js';
import { AirlockError } from '../domain/errors.js';

/** One of the gateway's own SSH keys: the key (never logged), its OpenSSH private text, public line and fingerprint. */
export interface GatewaySshKey {
  key: KeyObject;
  /** OpenSSH private key text, as ssh2's Server hostKeys takes it. Never logged. */
  privateKey: string;
  publicLine: string;
  fingerprint: string;
  file: string;
}

export interface GatewaySshKeys {
  /** Signs user certificates; its public line goes into hosts' TrustedUserCAKeys. */
  userCa: GatewaySshKey;
  /** What the gateway's SSH listener shows clients (`airlock ca --ssh`). */
  hostKey: GatewaySshKey;
}

/** Reads the key in `file`, or makes one there (0600) when absent. A key readable by others is refused. */
function loadOrCreate(file: string, comment: string): GatewaySshKey {
  if (!existsSync(file)) {
    const made = generateSshKeyPair(comment);
    // 'wx': two processes starting at once on one data directory must not both write; the loser reads the winner's.
    try {
      writeFileSync(file, made.privateKey, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const mode = statSync(file).mode & 0o077;
  if (mode !== 0) {
    throw new AirlockError('AIRLOCK_CONFIG_INVALID', `The SSH key ${file} can be read by other users (mode ${(statSync(file).mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  const privateKey = readFileSync(file, 'utf8');
  let key: KeyObject;
  try {
    key = parsePrivateKey(privateKey);
  } catch (e) {
    throw new AirlockError('AIRLOCK_CONFIG_INVALID', `The SSH key ${file} cannot be read: ${(e as Error).message} Move it away to have a new one made (hosts that trust the old one must then be told the new one).`);
  }
  const publicLine = publicLineOf(key, comment);
  return { key, privateKey, publicLine, fingerprint: fingerprint(publicLine), file };
}

/** The gateway's SSH user CA and host key, made on first use under <dataDir>/ssh/. */
export function loadOrCreateSshKeys(dataDir: string): GatewaySshKeys {
  const dir = join(dataDir, 'ssh');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return {
    userCa: loadOrCreate(join(dir, 'user_ca'), 'airlock-user-ca'),
    hostKey: loadOrCreate(join(dir, 'host_key'), 'airlock-gateway'),
  };
}
