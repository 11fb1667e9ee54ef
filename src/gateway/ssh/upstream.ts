// The gateway's SSH connection to a host (ssh2's Client): the host key checked (pinned, or trusted on first use and
// audited), then a login with the session's certificate (or an injected key). Nothing of the key reaches a log or error.
import { createRequire } from 'node:module';
import { sign, type KeyObject } from 'node:crypto';
import ssh2, { type Client, type ServerHostKeyAlgorithm } from 'ssh2';
import type { SshUpstreamLogin, UpstreamLogin } from '../../credentials/provider.js';
import { ED25519, ED25519_CERT, fingerprint, formatPublicKeyLine, parsePrivateKey, parsePublicKeyLine, SshReader } from '../../credentials/ssh-cert.js';
import { AirlockError } from '../../domain/errors.js';
import type { Log } from '../../domain/log.js';
import type { Access } from '../../access/access.js';

const require = createRequire(import.meta.url);

export interface ConnectUpstreamOptions {
  log: Log;
  /** Handshake and login together must finish within this; default 15 s. */
  timeoutMs?: number;
  /**
   * Trust on first use: called with the host key line the host showed when the login has no pinned key; resolves to
   * accept it, throws (AIRLOCK_SSH_HOST_KEY_CHANGED) to refuse. Without it, an unpinned host is refused (fail closed).
   */
  onHostKey?(line: string): Promise<void> | void;
}

export type SshLogin = UpstreamLogin & { ssh: SshUpstreamLogin };

/** The ssh2 client's Protocol object, as far as certificateLogin uses it (ssh2 1.17's own fields). */
interface Ssh2Protocol {
  authPK: (...args: unknown[]) => void;
  _kex?: { sessionID?: Buffer };
  _authsQueue: string[];
  _packetRW: { write: { allocStart: number; alloc(n: number): Buffer; finalize(b: Buffer): Buffer } };
}

const SSH_MSG_USERAUTH_REQUEST = 50;

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** Throws, with what to do, when this ssh2 is not the one whose internals certificateLogin was written against. */
export function checkSsh2Internals(proto: unknown, sendPacket: unknown): asserts proto is Ssh2Protocol {
  const p = proto as Partial<Ssh2Protocol> | undefined;
  const ok = typeof sendPacket === 'function'
    && typeof p?.authPK === 'function'
    && Array.isArray(p._authsQueue)
    && '_kex' in (p as object)
    && typeof p._packetRW?.write?.alloc === 'function'
    && typeof p._packetRW.write.finalize === 'function'
    && typeof p._packetRW.write.allocStart === 'number';
  if (!ok) {
    throw new AirlockError('AIRLOCK_INTERNAL', 'The installed ssh2 package is not the version the SSH certificate login was written for (1.17): its client internals differ. Install ssh2 1.17.x, or update src/gateway/ssh/upstream.ts (certificateLogin).');
  }
}

/**
 * Makes this ssh2 client log in with an OpenSSH user certificate. ssh2 1.17 writes the certificate's algorithm name
 * ("ssh-ed25519-cert-v01@openssh.com") inside the signature blob too, where sshd wants the key's own ("ssh-ed25519")
 * and refuses. So this client's Protocol gets its own authPK: the same USERAUTH_REQUEST (RFC 4252 §7) built here,
 * sent signed at once (no query first; the RFC allows it), through ssh2's packet writer and sendPacket, with
 * 'publickey' queued so ssh2's USERAUTH_SUCCESS/FAILURE handlers read the answer as for its own publickey login.
 * Only this client object is changed; node_modules is not.
 */
function certificateLogin(client: Client, username: string, certificate: Buffer, key: KeyObject): void {
  const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket?: (proto: unknown, packet: Buffer) => void };
  const proto = (client as unknown as { _protocol?: unknown })._protocol;
  checkSsh2Internals(proto, sendPacket);
  const certType = new SshReader(certificate).text();
  if (certType !== ED25519_CERT) throw new AirlockError('AIRLOCK_INTERNAL', `Only ${ED25519_CERT} certificates are used for logins, not ${certType}.`);
  proto.authPK = function airlockCertificateAuth(): void {
    const sessionId = proto._kex?.sessionID;
    if (!Buffer.isBuffer(sessionId)) throw new AirlockError('AIRLOCK_INTERNAL', 'ssh2 asked for the login before its key exchange gave a session id; see certificateLogin in src/gateway/ssh/upstream.ts.');
    const request = Buffer.concat([
      Buffer.from([SSH_MSG_USERAUTH_REQUEST]),
      str(username),
      str('ssh-connection'),
      str('publickey'),
      Buffer.from([1]),
      str(ED25519_CERT),
      str(certificate),
    ]);
    // The signature covers the session id and the request; its blob names the key's algorithm, not the certificate's.
    const signature = str(Buffer.concat([str(ED25519), str(sign(null, Buffer.concat([str(sessionId), request]), key))]));
    const rw = proto._packetRW.write;
    const packet = rw.alloc(request.length + signature.length);
    packet.set(request, rw.allocStart);
    packet.set(signature, rw.allocStart + request.length);
    proto._authsQueue.push('publickey');
    sendPacket!(proto, rw.finalize(packet));
  };
}

/** The host-key algorithms to offer: the pinned key's own first, so the host shows that one. */
function hostKeyAlgorithms(pinned: string | null): string[] | undefined {
  if (!pinned) return undefined;
  const type = parsePublicKeyLine(pinned).type;
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/** Opens an authenticated SSH connection to the login's host; the host key must be the pinned one (or pass onHostKey). */
export async function connectUpstream(login: SshLogin, o: ConnectUpstreamOptions): Promise<Client> {
  const { ssh } = login;
  const pinned = 'pinned' in ssh.hostKey ? ssh.hostKey.pinned : null;
  const where = `${login.host}:${login.port}`;
  // Parsed before connecting: a key that cannot be read fails here, with a message that never quotes it.
  const certKey = ssh.certificate ? parsePrivateKey(ssh.privateKey) : null;
  const client = new ssh2.Client();
  let refusal: AirlockError | null = null;

  const hostVerifier = (blob: Buffer, verify: (ok: boolean) => void): void => {
    let line: string;
    try {
      line = formatPublicKeyLine(new SshReader(blob).text(), blob);
    } catch {
      refusal = new AirlockError('AIRLOCK_UPSTREAM_PROTOCOL', `The SSH host ${where} sent a host key that cannot be read.`);
      return verify(false);
    }
    if (pinned) {
      if (parsePublicKeyLine(pinned).blob.equals(blob)) return verify(true);
      refusal = new AirlockError('AIRLOCK_SSH_HOST_KEY_CHANGED', `The SSH host ${where} showed host key ${fingerprint(blob)}, but the policy pins ${fingerprint(pinned)}: the session is refused. If the host's key was changed on purpose, put its new line in the resource's host_key (ssh-keyscan prints it).`, { address: where, expected: fingerprint(pinned), seen: fingerprint(blob) });
      return verify(false);
    }
    if (!o.onHostKey) {
      refusal = new AirlockError('AIRLOCK_INTERNAL', `No host key is pinned for ${where} and nothing checks keys on first use here; the session is refused.`);
      return verify(false);
    }
    Promise.resolve()
      .then(() => o.onHostKey!(line))
      .then(
        () => verify(true),
        (e: unknown) => {
          refusal = e instanceof AirlockError ? e : new AirlockError('AIRLOCK_INTERNAL', `The host key of ${where} could not be checked: ${(e as Error).message}`);
          verify(false);
        },
      );
  };

  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const fail = (e: AirlockError): void => {
      if (settled) return;
      settled = true;
      client.end();
      reject(e);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve(client);
    });
    // Stays on after the login: a later error is the caller's to handle (its own listener), but must not throw here.
    client.on('error', (err: Error & { level?: string }) => {
      if (settled) return;
      if (refusal) return fail(refusal);
      const how = certKey ? 'a certificate from the Airlock SSH user CA' : 'the injected private key';
      if (err.level === 'client-authentication') {
        return fail(new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', `The SSH host ${where} refused the gateway's login as ${login.user} with ${how}. ${certKey ? 'Check that its sshd_config has TrustedUserCAKeys with the line `airlock ca --ssh-user-ca` prints, and that this user may log in.' : 'Check that the key is in the user\'s authorized_keys.'}`, { address: where, user: login.user }));
      }
      o.log.warn({ address: where, err: err.message, level: err.level }, 'SSH connection to the host failed');
      fail(new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', `The SSH host ${where} could not be reached: ${err.message}`, { address: where }));
    });
    client.once('close', () => fail(refusal ?? new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', `The SSH host ${where} closed the connection before the login completed.`, { address: where })));
    try {
      client.connect({
        host: login.host,
        port: login.port,
        username: login.user,
        privateKey: ssh.privateKey,
        authHandler: ['publickey'],
        hostVerifier,
        readyTimeout: o.timeoutMs ?? 15_000,
        keepaliveInterval: 15_000,
        ...(pinned ? { algorithms: { serverHostKey: hostKeyAlgorithms(pinned) as ServerHostKeyAlgorithm[] } } : {}),
      });
      if (certKey) certificateLogin(client, login.user, ssh.certificate!, certKey);
    } catch (e) {
      // ssh2's messages about a key it cannot parse name the problem, not the key's bytes.
      fail(e instanceof AirlockError ? e : new AirlockError('AIRLOCK_BAD_INPUT', `The SSH login for ${where} cannot be used: ${(e as Error).message}`, { address: where }));
    }
  });
}

/** Trust on first use of upstream host keys, kept in ssh_known_hosts and audited. */
export function makeSshKnownHosts(deps: { access: Pick<Access, 'store' | 'uow' | 'clock'> }) {
  const { access } = deps;
  return {
    /** Accepts the key this resource+address showed first (stored, `ssh.host_key.trusted`); refuses any other after. */
    async check(resource: string, address: string, line: string): Promise<void> {
      const shown = parsePublicKeyLine(line);
      const seen = formatPublicKeyLine(shown.type, shown.blob);
      const fp = fingerprint(shown.blob);
      const known = await access.store.db.selectFrom('ssh_known_hosts').selectAll().where('resource', '=', resource).where('address', '=', address).executeTakeFirst();
      if (!known) {
        const stored = await access.uow(async (trx, rec) => {
          const now = access.clock.now().toISOString();
          // Two sessions at once on a new host: one row wins; the other is checked against it below.
          const r = await trx.insertInto('ssh_known_hosts').values({ resource, address, key: seen, fingerprint: fp, first_seen: now }).onConflict((oc) => oc.columns(['resource', 'address']).doNothing()).executeTakeFirst();
          if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return false;
          rec.audit({ actor: 'airlock', action: 'ssh.host_key.trusted', target: resource, details: { address, key: seen, fingerprint: fp } });
          return true;
        });
        if (stored) return;
        return this.check(resource, address, line);
      }
      const knownBlob = parsePublicKeyLine(known.key).blob;
      if (knownBlob.equals(shown.blob)) return;
      await access.uow(async (_trx, rec) => {
        rec.audit({ actor: 'airlock', action: 'ssh.host_key.mismatch', target: resource, details: { address, expected: known.fingerprint, seen: fp, key: seen, first_seen: known.first_seen } });
      });
      throw new AirlockError('AIRLOCK_SSH_HOST_KEY_CHANGED', `The SSH host ${address} of ${resource} showed host key ${fp}, but the key first seen there (${known.first_seen}) was ${known.fingerprint}: the session is refused. If the host's key was changed on purpose, pin its new line in the resource's host_key (ssh-keyscan prints it).`, { resource, address, expected: known.fingerprint, seen: fp });
    },
  };
}

export type SshKnownHosts = ReturnType<typeof makeSshKnownHosts>;
