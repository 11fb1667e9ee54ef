// The backend keys the gateway hands its clients: a CancelRequest carrying one is routed to that session's upstream
// backend with the server's real key, which no client ever sees.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface CancelKey {
  pid: number;
  secret: number;
}

export class CancelKeys {
  private readonly keys = new Map<number, { secret: Buffer; cancel: () => void }>();
  private readonly decoy = randomBytes(4);

  /** A fresh key (positive 31-bit process id, 32-bit secret) for a session whose cancel is `cancel`. */
  issue(cancel: () => void): CancelKey {
    let pid: number;
    do pid = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
    while (pid === 0 || this.keys.has(pid));
    const secret = randomBytes(4);
    this.keys.set(pid, { secret, cancel });
    return { pid, secret: secret.readInt32BE(0) };
  }

  release(pid: number): void {
    this.keys.delete(pid);
  }

  /**
   * Cancels the session's running query when the key matches; as in PostgreSQL, the sender learns nothing either
   * way. An unknown process id is compared against a decoy secret, so the time taken does not tell whether it exists.
   */
  cancel(pid: number, secret: number): boolean {
    const entry = this.keys.get(pid);
    const given = Buffer.alloc(4);
    given.writeInt32BE(secret, 0);
    const same = timingSafeEqual(entry?.secret ?? this.decoy, given);
    if (!entry || !same) return false;
    entry.cancel();
    return true;
  }

  get size(): number {
    return this.keys.size;
  }
}
