// How Airlock reaches a PostgreSQL resource's server (TLS mode, CA, host-name check, which password methods it answers),
// decided here once from the resource's policy, for the gateway's sessions and the per-grant-role admin connection alike.
import { readFileSync } from 'node:fs';
import { connect, isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import type { EventEmitter } from 'node:events';
import pg from 'pg';
import { AirlockError } from '../domain/errors.js';
import { isLoopback } from '../domain/addresses.js';
import type { ResourceDef } from '../policy/schema.js';

export type PgTlsMode = 'verify-full' | 'verify-ca' | 'require' | 'disable';

export interface PgUpstreamSecurity {
  resource: string;
  /**
   * `prefer` is never written in a policy: it is the default for a loopback address only (TLS, unverified, when the
   * server offers it; plain TCP when it answers "N"), because on loopback nothing crosses a network.
   */
  mode: PgTlsMode | 'prefer';
  /** Options for tls.connect once the server has accepted the SSLRequest; null with `disable`. */
  tls: ConnectionOptions | null;
  allowMd5: boolean;
  allowCleartext: boolean;
}

export type PasswordMethod = 'md5' | 'cleartext';

function upstreamError(resource: string, message: string): AirlockError {
  return new AirlockError('AIRLOCK_UPSTREAM_TLS', message, { resource });
}

/**
 * The one place a resource's `tls` and `auth` become connection settings. `host` is the host of the resource's
 * address. The CA file is read on each call, so a replaced file counts from the next connection on.
 */
export function pgUpstreamSecurity(resource: Pick<ResourceDef, 'name' | 'tls' | 'auth'>, host: string): PgUpstreamSecurity {
  const mode: PgUpstreamSecurity['mode'] = resource.tls?.mode ?? (isLoopback(host) ? 'prefer' : 'verify-full');
  const base = { resource: resource.name, mode, allowMd5: resource.auth?.allow_md5 ?? false, allowCleartext: resource.auth?.allow_cleartext ?? false };
  if (mode === 'disable') return { ...base, tls: null };
  // SNI cannot carry an IP address (RFC 6066 §3).
  const options: ConnectionOptions = { host, minVersion: 'TLSv1.2', ...(isIP(host) === 0 ? { servername: host } : {}) };
  if (mode === 'require' || mode === 'prefer') return { ...base, tls: { ...options, rejectUnauthorized: false } };
  const caFile = resource.tls?.ca?.file;
  let ca: Buffer | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (e) {
      throw upstreamError(resource.name, `the CA file "${caFile}" named in tls.ca.file of resource ${resource.name} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); fix the path in the policy`);
    }
  }
  const verified: ConnectionOptions = { ...options, rejectUnauthorized: true, ...(ca ? { ca } : {}) };
  // verify-full checks the address's host against the certificate explicitly, whatever tls.connect would fall back to.
  const identity = mode === 'verify-ca' ? () => undefined : (_name: string, cert: Parameters<typeof checkServerIdentity>[1]) => checkServerIdentity(host, cert);
  return { ...base, tls: { ...verified, checkServerIdentity: identity } };
}

/** Why the server's answer "N" to the SSLRequest ends the login, or null when the mode lets it go on in plain TCP. */
export function noTlsRefusal(sec: PgUpstreamSecurity): string | null {
  if (sec.mode === 'disable' || sec.mode === 'prefer') return null;
  return (
    `the database server of resource ${sec.resource} does not accept TLS (it answered "N" to the SSLRequest), and the resource's tls.mode is ${sec.mode}; ` +
    'turn TLS on in the server (ssl = on, with a certificate), or, only where the network path is trusted, set tls: { mode: disable } on the resource'
  );
}

/** A TLS failure in words an operator can act on; Node's own message stays in it. */
export function describeTlsFailure(sec: PgUpstreamSecurity, err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const what = `TLS to the database server of resource ${sec.resource} failed (tls.mode ${sec.mode}): ${err.message}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `${what}; the server's certificate does not name the host in the resource's address: use a name the certificate lists in address, or tls.mode verify-ca (which checks the CA only)`;
  }
  if (/SELF_SIGNED|UNABLE_TO_VERIFY_LEAF|UNABLE_TO_GET_ISSUER|CERT_SIGNATURE_FAILURE/.test(code)) {
    return `${what}; the server's certificate is not signed by a CA the gateway trusts: set tls.ca.file on the resource to the CA certificate that signed it`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `${what}; the server's certificate is outside its validity period: renew it on the server`;
  return what;
}

/** Why a password request is not answered, or null when the resource's policy allows it on this connection. */
export function passwordRefusal(sec: PgUpstreamSecurity, method: PasswordMethod, encrypted: boolean): string | null {
  const server = `the database server of resource ${sec.resource}`;
  if (method === 'md5') {
    if (sec.allowMd5) return null;
    return (
      `${server} asks for an MD5 password, which Airlock does not answer by default (MD5 hashes are weak and the server never proves it knows the password); ` +
      'move the server to SCRAM (password_encryption = scram-sha-256, set the role\'s password again, scram-sha-256 in pg_hba.conf), ' +
      `or accept MD5 for this resource in the policy: auth: { allow_md5: true }`
    );
  }
  if (!encrypted) {
    return (
      `${server} asks for the password in clear text on a connection without TLS, which Airlock never answers; ` +
      'use scram-sha-256 in pg_hba.conf, or turn TLS on (tls: { mode: verify-full }) and allow it with auth: { allow_cleartext: true }'
    );
  }
  if (sec.allowCleartext) return null;
  return `${server} asks for the password in clear text, which Airlock does not send by default; use scram-sha-256 in pg_hba.conf, or allow it for this resource in the policy: auth: { allow_cleartext: true }`;
}

/** What node-postgres needs to connect as the resource's admin: TLS like the gateway's, and the same password rules. */
export interface PgAdminConnection {
  ssl: false | ConnectionOptions;
  enableChannelBinding: boolean;
  /** A pg.Client that refuses the password requests the policy does not allow, before any password is sent. */
  Client: typeof pg.Client;
}

/** Asks the server whether it takes TLS (SSLRequest, one byte back) without logging in; for `prefer` only. */
export function serverOffersTls(host: string, port: number, timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => s.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    s.once('connect', () => s.write(SSL_REQUEST));
    s.once('data', (b: Buffer) => {
      clearTimeout(timer);
      s.destroy();
      resolve(b[0] === 0x53);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** SSLRequest: length 8, then the code 1234 5679. */
export const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** node-postgres settings for the resource's admin connection; `host` and `port` are the resource's address. */
export function pgAdminConnection(sec: PgUpstreamSecurity, host: string, port: number): PgAdminConnection {
  return { ssl: sec.tls ?? false, enableChannelBinding: sec.tls !== null, Client: guardedClient(sec, host, port) };
}

const PG_NO_TLS = 'The server does not support SSL connections';
const TLS_ERROR_CODE = /CERT|TLS|SSL|SIGNED|SIGNATURE|ISSUER|VERIFY/;
/** Errors of the admin client that are a refusal of the server's TLS: their message was rewritten to say what to change. */
const TLS_REFUSALS = new WeakSet<Error>();

/** The Airlock code of a refusal of the server's terms (TLS or password method) from any connection made here. */
export function upstreamRefusalCode(err: unknown): 'AIRLOCK_UPSTREAM_TLS' | 'AIRLOCK_UPSTREAM_AUTH' | undefined {
  if (err instanceof AirlockError && (err.code === 'AIRLOCK_UPSTREAM_TLS' || err.code === 'AIRLOCK_UPSTREAM_AUTH')) return err.code;
  return err instanceof Error && TLS_REFUSALS.has(err) ? 'AIRLOCK_UPSTREAM_TLS' : undefined;
}

type ConnectCallback = ((err: Error) => void) | ((err: null, c: pg.Client) => void);

function guardedClient(sec: PgUpstreamSecurity, host: string, port: number): typeof pg.Client {
  type Internals = {
    password: unknown;
    ssl: unknown;
    enableChannelBinding: boolean;
    connection: EventEmitter & { ssl: unknown; stream: { destroy(): void } };
  };
  return class AirlockAdminClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super(config);
      const self = this as unknown as Internals;
      const secret = self.password;
      let refusal: string | null = null;
      // These listeners come before the client's own (attached at connect), so the refusal is known when the client
      // asks for the password, which it does through this function: a refused method never gets a password.
      const encrypted = () => Boolean(self.connection.ssl);
      self.connection.on('authenticationMD5Password', () => (refusal = passwordRefusal(sec, 'md5', encrypted())));
      self.connection.on('authenticationCleartextPassword', () => (refusal = passwordRefusal(sec, 'cleartext', encrypted())));
      self.connection.on('error', (e: Error) => {
        const code = (e as NodeJS.ErrnoException).code;
        const refusal = e.message === PG_NO_TLS ? noTlsRefusal(sec) : code && TLS_ERROR_CODE.test(code) ? describeTlsFailure(sec, e) : null;
        if (!refusal) return;
        e.message = refusal;
        TLS_REFUSALS.add(e);
      });
      self.password = async () => {
        if (refusal) {
          setImmediate(() => self.connection.stream.destroy());
          throw new AirlockError('AIRLOCK_UPSTREAM_AUTH', refusal, { resource: sec.resource });
        }
        return secret;
      };
    }

    // `prefer` (loopback only) asks the server first, as libpq does, and goes without TLS when it says no.
    override connect(): Promise<pg.Client>;
    override connect(callback: ConnectCallback): void;
    override connect(callback?: ConnectCallback): Promise<pg.Client> | void {
      if (sec.mode !== 'prefer') return callback ? super.connect(callback) : super.connect();
      const self = this as unknown as Internals;
      const ready = serverOffersTls(host, port).then((offers) => {
        if (offers) return;
        self.ssl = false;
        self.connection.ssl = false;
        self.enableChannelBinding = false;
      });
      if (!callback) return ready.then(() => super.connect());
      ready.then(() => super.connect(callback), (e: Error) => (callback as (err: Error) => void)(e));
    }
  };
}
