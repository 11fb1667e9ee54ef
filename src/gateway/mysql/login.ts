// The login conversation with a MySQL client: handshake, TLS, and the access token proved with
// mysql_native_password against the token's verifier, or (over TLS only) sent in clear by caching_sha2_password's full
// authentication or mysql_clear_password. Refusals are thrown as MysqlRefusal.
import type { SecureContext } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from '../../domain/errors.js';
import { isLoopback } from '../../domain/addresses.js';
import { principalSalt, scramVerifier } from '../../domain/scram.js';
import type { Principal } from '../../domain/model.js';
import type { GatewayAccess } from '../types.js';
import { ClientGone, type ClientConn } from './client-conn.js';
import { CACHING_SHA2, CLEAR, NATIVE, authSwitchRequest, checkNativeProof, handshakeV10, nativeVerifier, newScramble, parseClientHello, type ClientHello } from './handshake.js';
import { ProtocolError } from './packets.js';

/** A refusal the client reads as an ERR packet: 'airlock: ' + message + the Airlock code. */
export class MysqlRefusal extends Error {
  constructor(
    readonly errno: number,
    readonly sqlstate: string,
    message: string,
    readonly airlock: ErrorCode,
  ) {
    super(message);
  }
}

export interface LoginSettings {
  tls: SecureContext | null;
  allowCleartextWithoutTls: boolean;
  serverVersion: string;
}

export interface LoggedIn {
  principal: Principal;
  hello: ClientHello;
  token: { id: string; expires_at: string | null };
  resource: string;
  schema: string | undefined;
}

const badToken = (user: string) =>
  new MysqlRefusal(1045, '28000', `Access denied for user '${user.slice(0, 100)}': the password must be one of your valid Airlock access tokens (AIRLOCK_TOKEN_INVALID)`, 'AIRLOCK_TOKEN_INVALID');

export async function login(access: GatewayAccess, conn: ClientConn, s: LoginSettings, connectionId: number, source: string | null): Promise<LoggedIn> {
  const scramble = newScramble();
  conn.send(handshakeV10({ version: s.serverVersion, connectionId, scramble, tls: s.tls !== null }));
  let hello = parseClientHello((await conn.firstPacket()).payload);
  if (hello.sslRequest) {
    if (!s.tls) throw new ProtocolError('an SSL request, but this gateway offered no TLS');
    try {
      await conn.upgrade(s.tls);
    } catch {
      throw new ClientGone();
    }
    conn.beginFraming();
    hello = parseClientHello((await conn.packet()).payload);
    if (hello.sslRequest) throw new ProtocolError('a second SSL request');
  } else conn.beginFraming();
  if (!conn.encrypted && !(s.allowCleartextWithoutTls && source !== null && isLoopback(source))) {
    throw new MysqlRefusal(
      3159,
      '08004',
      s.tls
        ? 'this gateway accepts only encrypted connections: connect with TLS (mariadb/mysql: --ssl --ssl-ca=<the Airlock CA>; see airlock ca) (AIRLOCK_TLS_REQUIRED)'
        : 'this gateway has no TLS configured and accepts unencrypted connections only from this machine (AIRLOCK_TLS_REQUIRED)',
      'AIRLOCK_TLS_REQUIRED',
    );
  }
  if (!hello.database) {
    throw new MysqlRefusal(1046, '3D000', 'name the resource as the database: mariadb -D <resource> (or <resource>/<schema>); list them with: airlock resources (AIRLOCK_UNKNOWN_RESOURCE)', 'AIRLOCK_UNKNOWN_RESOURCE');
  }
  const slash = hello.database.indexOf('/');
  const resource = slash < 0 ? hello.database : hello.database.slice(0, slash);
  const schema = slash < 0 ? undefined : hello.database.slice(slash + 1);
  const user = hello.user;

  let proof: { native: Buffer; nonce: Buffer } | { clear: string };
  const plugin = hello.plugin ?? NATIVE;
  if (plugin === NATIVE) proof = { native: hello.authResponse, nonce: scramble };
  else if (conn.encrypted && plugin === CLEAR) proof = { clear: stripNul(hello.authResponse) };
  else if (conn.encrypted && plugin === CACHING_SHA2) {
    // As a MySQL 8 server does for an account of this plugin when its greeting named another: switch to it with a
    // fresh nonce, take the client's fast proof (which the gateway cannot check: no SHA-256 verifier is stored), then
    // ask for full authentication, which over TLS is the token itself (the AuthMoreData 0x04 "perform_full_authentication").
    conn.send(authSwitchRequest(CACHING_SHA2, newScramble()));
    await conn.packet();
    conn.send(Buffer.from([0x01, 0x04]));
    proof = { clear: stripNul((await conn.packet()).payload) };
  } else {
    const nonce = newScramble();
    conn.send(authSwitchRequest(NATIVE, nonce));
    proof = { native: (await conn.packet()).payload, nonce };
  }

  if ('native' in proof && proof.native.length === 0) {
    throw new MysqlRefusal(1045, '28000', `Access denied for user '${user.slice(0, 100)}': no password was given; the password is your Airlock access token (AIRLOCK_TOKEN_INVALID)`, 'AIRLOCK_TOKEN_INVALID');
  }
  const creds = await access.mysqlNativeCredentials(user);
  let tokenId: string | undefined;
  let legacyExpiry: string | undefined;
  if ('native' in proof) {
    tokenId = creds.keys.find((k) => checkNativeProof(proof.native, proof.nonce, k.verifier))?.token_id;
    if (!tokenId && creds.without_verifier > 0) {
      throw new MysqlRefusal(
        1045,
        '28000',
        `Access denied for user '${user.slice(0, 100)}': the token does not match, and ${creds.without_verifier} of your tokens were made before MySQL logins existed, so they work only over TLS (--ssl --ssl-ca=<the Airlock CA>) or create a new token: airlock token create (AIRLOCK_TOKEN_INVALID)`,
        'AIRLOCK_TOKEN_INVALID',
      );
    }
  } else {
    const v = nativeVerifier(proof.clear);
    tokenId = creds.keys.find((k) => timingSafeEqual(k.verifier, v))?.token_id;
    if (!tokenId) {
      // A token older than MySQL verifiers: checked in full, then found among the principal's SCRAM keys.
      const principal = await access.authenticate(user, proof.clear).catch(() => null);
      if (principal) {
        const scram = await access.scramCredentials(user);
        const stored = scramVerifier(proof.clear, principalSalt(user)).stored_key;
        const found = scram.keys.find((k) => k.stored_key.equals(stored));
        tokenId = found?.token_id;
        legacyExpiry = found?.expires_at;
      }
    }
  }
  if (!tokenId) throw badToken(user);
  const principal = await access.principalByToken(user, tokenId);
  const key = creds.keys.find((k) => k.token_id === tokenId);
  return { principal, hello, token: { id: tokenId, expires_at: key?.expires_at ?? legacyExpiry ?? null }, resource, schema };
}

function stripNul(b: Buffer): string {
  return (b[b.length - 1] === 0 ? b.subarray(0, -1) : b).toString('utf8');
}
