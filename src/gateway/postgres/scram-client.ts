// The client side of SCRAM-SHA-256 (RFC 5802/7677) the gateway speaks upstream, with tls-server-end-point channel
// binding (SCRAM-SHA-256-PLUS, RFC 5929) when the connection is TLS and the server offers it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { clientProof, saltedPassword, scramKeys, serverSignature } from '../../domain/scram.js';

/**
 * The gs2 channel-binding flag: 'n' without TLS; 'y' on TLS when the server did not offer PLUS (so a server that did
 * offer it, behind someone who struck it from the list, notices); 'p' with the hash of the server's certificate.
 */
export type ChannelBinding = { flag: 'n' } | { flag: 'y' } | { flag: 'p'; endPoint: Buffer };

export class ScramClient {
  private readonly nonce = randomBytes(18).toString('base64');
  private bare = '';
  private serverSignature: Buffer | null = null;
  /** True once the server's signature checked out: only then has the server proved it knows the password. */
  verified = false;

  constructor(
    private readonly password: string,
    private readonly binding: ChannelBinding = { flag: 'n' },
  ) {}

  get mechanism(): 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS' {
    return this.binding.flag === 'p' ? 'SCRAM-SHA-256-PLUS' : 'SCRAM-SHA-256';
  }

  private gs2Header(): string {
    return this.binding.flag === 'p' ? 'p=tls-server-end-point,,' : `${this.binding.flag},,`;
  }

  first(): string {
    // PostgreSQL ignores the SCRAM user name (it uses the startup packet's), so it is sent empty.
    this.bare = `n=,r=${this.nonce}`;
    return `${this.gs2Header()}${this.bare}`;
  }

  final(serverFirst: string): string {
    const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a.slice(0, 1), a.slice(2)]));
    const nonce = attrs.r ?? '';
    const salt = Buffer.from(attrs.s ?? '', 'base64');
    const iterations = Number(attrs.i);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new Error('SCRAM: the server nonce is invalid');
    if (!Number.isInteger(iterations) || iterations < 1 || salt.length === 0) throw new Error('SCRAM: the server sent an invalid salt or iteration count');
    const keys = scramKeys(saltedPassword(this.password, salt, iterations));
    const cbind = Buffer.concat([Buffer.from(this.gs2Header()), this.binding.flag === 'p' ? this.binding.endPoint : Buffer.alloc(0)]);
    const withoutProof = `c=${cbind.toString('base64')},r=${nonce}`;
    const authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const proof = clientProof(keys.client_key, keys.stored_key, authMessage);
    this.serverSignature = serverSignature(keys.server_key, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** The server proves it knows the password too: a server that does not is not the database we meant. */
  verify(serverFinal: string): void {
    if (!serverFinal.startsWith('v=') || !this.serverSignature) throw new Error('SCRAM: the server final message is invalid');
    const got = Buffer.from(serverFinal.slice(2), 'base64');
    if (got.length !== 32 || !timingSafeEqual(got, this.serverSignature)) throw new Error('SCRAM: the server signature does not match');
    this.verified = true;
  }
}
