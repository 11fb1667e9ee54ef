// A token bucket per source address for CancelRequests: a client guessing cancel keys gets a few tries a second,
// not thousands, while a person's Ctrl-C from any address that is not flooding still goes through.

export interface CancelRateLimitOptions {
  /** Tokens added per second (the sustained rate). Default 20. */
  perSecond?: number;
  /** Bucket size: how many requests may come at once. Default 50. */
  burst?: number;
  /** Addresses tracked at once; the longest-unused bucket is dropped beyond this. Default 10,000. */
  maxAddresses?: number;
}

export const DEFAULT_CANCEL_RATE = { perSecond: 20, burst: 50 } as const;

/** How often an over-limit address is reported in the log, at most. */
const REPORT_EVERY_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
  reportedAt: number;
}

export type CancelAdmission = 'allowed' | 'throttled' | 'throttled_first';

export class CancelRateLimit {
  private readonly perMs: number;
  private readonly burst: number;
  private readonly maxAddresses: number;
  /** In order of last use (a touched bucket is moved to the end), so the first one is the one to drop. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(o: CancelRateLimitOptions = {}, private readonly now: () => number = () => performance.now()) {
    this.perMs = (o.perSecond ?? DEFAULT_CANCEL_RATE.perSecond) / 1000;
    this.burst = o.burst ?? DEFAULT_CANCEL_RATE.burst;
    this.maxAddresses = o.maxAddresses ?? 10_000;
  }

  /**
   * Takes a token for one CancelRequest from `source`. 'throttled_first' is the first refusal for that address in a
   * minute, the one worth a log line; later ones in that minute are 'throttled', so a flood cannot flood the log.
   */
  take(source: string | null): CancelAdmission {
    const key = addressKey(source);
    const t = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.burst, b.tokens + (t - b.at) * this.perMs);
      b.at = t;
    } else {
      b = { tokens: this.burst, at: t, reportedAt: -Infinity };
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'allowed';
    }
    if (t - b.reportedAt < REPORT_EVERY_MS) return 'throttled';
    b.reportedAt = t;
    return 'throttled_first';
  }

  get addresses(): number {
    return this.buckets.size;
  }
}

/**
 * The bucket an address belongs to: an IPv4 address is one, an IPv6 address counts by its /64 (one host can use a
 * whole /64, so per-address buckets there would be no limit at all).
 */
export function addressKey(source: string | null): string {
  if (source === null) return '';
  if (!source.includes(':')) return source;
  const groups = expandIPv6(source);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : source;
}

function expandIPv6(addr: string): string[] | null {
  const zone = addr.indexOf('%');
  const a = zone < 0 ? addr : addr.slice(0, zone);
  const [head, tail, extra] = a.split('::');
  if (extra !== undefined) return null;
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return null;
  return [...h, ...Array<string>(Math.max(missing, 0)).fill('0'), ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}
