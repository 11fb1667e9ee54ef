// SSH client authentication at the gateway: the user name names the principal and the resource
// (`<principal>%<resource>`), and the principal proves itself with its access token (password or
// keyboard-interactive) or with a public key it registered. Refusals reach the user's terminal as a
// USERAUTH_BANNER, which OpenSSH prints, since an SSH authentication failure carries no text of its own.
import { createRequire } from 'node:module';
import ssh2, { type AuthContext, type Connection } from 'ssh2';
import { isAirlockError, type AirlockError } from '../../domain/errors.js';
import type { Principal } from '../../domain/model.js';
import type { LoginToken } from '../core/session-lifecycle.js';

/** Separates the principal from the resource in the SSH user name: `alice%bastion`. */
export const USER_SEPARATOR = '%';

/** The methods a client may try; offered again after each attempt that did not succeed. */
export const AUTH_METHODS = ['publickey', 'password', 'keyboard-interactive'] as const;

export interface SshTarget {
  principal: string;
  resource: string;
}

/** `alice%bastion` → { alice, bastion }; null when the name does not have that shape. */
export function parseUserName(user: string): SshTarget | null {
  const at = user.indexOf(USER_SEPARATOR);
  if (at <= 0 || at === user.length - 1) return null;
  const principal = user.slice(0, at);
  const resource = user.slice(at + 1);
  if (resource.includes(USER_SEPARATOR) || user.length > 256) return null;
  return { principal, resource };
}

/** A principal's registered public key that matched, by its id (see src/gateway/ssh/public-keys.ts). */
export interface KeyLogin {
  principal: Principal;
  key_id: string;
  fingerprint: string;
}

export interface SshLoginDeps {
  /** Checks an access token for a principal name: the principal and the token's id and expiry; throws AirlockError. */
  tokenLogin(principal: string, token: string, source: string | null): Promise<{ principal: Principal; token: LoginToken }>;
  /** The principal's registered key equal to this one (its SSH wire form), or null. */
  publicKeyLogin(principal: string, key: Buffer): Promise<KeyLogin | null>;
}

/** Who logged in, and with what: the token (or the key, as a token that never expires) the session ends with. */
export interface SshLogin {
  target: SshTarget;
  principal: Principal;
  token: LoginToken;
  method: 'password' | 'keyboard-interactive' | 'publickey';
}

/** An authentication that ended the connection's chances: shown as a banner, then the client is let go. */
export class SshLoginRefused extends Error {
  constructor(
    readonly airlockCode: AirlockError['code'],
    message: string,
    readonly target: SshTarget | null,
  ) {
    super(message);
  }
}

// ssh2 sends a banner only once, before authentication; a refusal comes later, so the packet is written here with
// ssh2's own packet writer (the library has no public call for it). The message number is RFC 4252's.
const require = createRequire(import.meta.url);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket(proto: unknown, packet: Buffer): boolean };
const USERAUTH_BANNER = 53;

interface ProtocolInternals {
  _packetRW: { write: { allocStart: number; alloc(n: number): Buffer; finalize(packet: Buffer): Buffer } };
}

/** Sends `text` as an SSH_MSG_USERAUTH_BANNER (OpenSSH prints it on stderr unless run with -q or LogLevel error). */
export function sendBanner(conn: Connection, text: string): void {
  const proto = (conn as unknown as { _protocol?: ProtocolInternals })._protocol;
  if (!proto) return;
  const body = Buffer.from(text.endsWith('\r\n') ? text : `${text.replace(/\n/g, '\r\n')}\r\n`, 'utf8');
  const w = proto._packetRW.write;
  let p = w.allocStart;
  const packet = w.alloc(1 + 4 + body.length + 4);
  packet[p] = USERAUTH_BANNER;
  packet.writeUInt32BE(body.length, ++p);
  body.copy(packet, (p += 4));
  packet.writeUInt32BE(0, p + body.length); // empty language tag
  sendPacket(proto, w.finalize(packet));
}

/** The text a refused user reads: "airlock: <what to do> (CODE)". */
export function refusalText(code: string, message: string): string {
  return `airlock: ${message} (${code})`;
}

/**
 * Answers one authentication attempt. Resolves with the login once the principal is proven (the caller then plans
 * the session and calls ctx.accept(), or refuses); resolves null when the attempt was rejected and the client may
 * try another method; throws SshLoginRefused when the connection should be refused with a message.
 */
export async function authenticate(deps: SshLoginDeps, ctx: AuthContext, source: string | null): Promise<SshLogin | null> {
  const target = parseUserName(ctx.username);
  if (!target) {
    throw new SshLoginRefused(
      'AIRLOCK_BAD_INPUT',
      `the SSH user name must be <principal>${USER_SEPARATOR}<resource>, e.g. alice${USER_SEPARATOR}bastion (got "${ctx.username.slice(0, 100)}"); airlock ssh-config prints a ready Host block`,
      null,
    );
  }
  const byToken = async (token: string, method: SshLogin['method']): Promise<SshLogin> => {
    try {
      const l = await deps.tokenLogin(target.principal, token, source);
      return { target, principal: l.principal, token: l.token, method };
    } catch (err) {
      if (isAirlockError(err)) throw new SshLoginRefused(err.code, err.message, target);
      throw err;
    }
  };
  switch (ctx.method) {
    case 'password':
      return byToken(ctx.password, 'password');
    case 'keyboard-interactive': {
      const answers = await new Promise<string[] | null>((resolve) => {
        ctx.prompt([{ prompt: `Airlock access token for ${target.principal}: `, echo: false }], 'Airlock', '', (a) => resolve(Array.isArray(a) ? a : null));
      });
      if (!answers || answers.length !== 1 || !answers[0]) return reject(ctx);
      return byToken(answers[0], 'keyboard-interactive');
    }
    case 'publickey': {
      const found = await deps.publicKeyLogin(target.principal, ctx.key.data);
      if (!found) return reject(ctx);
      // Without a signature the client only asks whether the key would do: say yes, and it signs next.
      if (!ctx.signature || !ctx.blob) {
        ctx.accept();
        return null;
      }
      const key = ssh2.utils.parseKey(ctx.key.data);
      if (key instanceof Error || !key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return reject(ctx);
      // A key login has no token: the key's own id stands in, so removing the key (DELETE /api/v1/ssh-keys/:id) ends
      // the sessions logged in with it as revoking a token does, and refuses the next login.
      return { target, principal: found.principal, token: { id: `ssh-key:${found.key_id}`, expires_at: null }, method: 'publickey' };
    }
    default:
      return reject(ctx);
  }
}

function reject(ctx: AuthContext): null {
  ctx.reject([...AUTH_METHODS]);
  return null;
}
