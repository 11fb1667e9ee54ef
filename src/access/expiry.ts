// Acts on time at the second: a min-heap of grant expiries and request time-outs with one timer for the earliest.
// Every process runs one; the conditional updates below make each grant end exactly once.
import type { Clock } from '../domain/clock.js';
import type { GrantService } from './grants.js';
import type { RequestService } from './requests.js';

interface Due {
  at: number;
  /** 'token': a live session's token expiry (the session registry's own queue). */
  kind: 'grant' | 'request' | 'token';
  id: string;
}

/** A binary min-heap on `at`. */
export class DueQueue {
  private items: Due[] = [];
  get size(): number {
    return this.items.length;
  }
  clear(): void {
    this.items = [];
  }
  peek(): Due | undefined {
    return this.items[0];
  }
  push(d: Due): void {
    const a = this.items;
    a.push(d);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= a[i]!.at) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): Due | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.at < a[m]!.at) m = l;
        if (r < a.length && a[r]!.at < a[m]!.at) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** Longest single wait: also a periodic re-read of the store, which catches grants made by other processes. */
const MAX_WAIT_MS = 30_000;
const BATCH = 500;

export function makeExpiryScheduler(deps: { clock: Clock; grants: GrantService; requests: RequestService; onError?: (e: unknown) => void }) {
  const { clock, grants, requests } = deps;
  const queue = new DueQueue();
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let stopped = true;
  let busy: Promise<void> = Promise.resolve();
  let lastResync = 0;
  // Items added while a resync reads the store: the read may predate them, so they are put back after it.
  let addedDuringResync: Due[] | null = null;

  function arm(): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    const next = queue.peek();
    const wait = next ? Math.min(MAX_WAIT_MS, Math.max(0, next.at - clock.now().getTime())) : MAX_WAIT_MS;
    timer = setTimeout(() => void tick(next === undefined || next.at - clock.now().getTime() > 0 ? 'resync' : 'due'), wait);
    timer.unref?.();
  }

  /** Ends everything due now; returns how many grants expired and requests timed out. */
  async function runDue(): Promise<{ grants: number; requests: number }> {
    const now = clock.now().getTime();
    const grantIds: string[] = [];
    const requestIds: string[] = [];
    while (queue.size > 0 && queue.peek()!.at <= now) {
      const d = queue.pop()!;
      (d.kind === 'grant' ? grantIds : requestIds).push(d.id);
    }
    let g = 0;
    let r = 0;
    for (let i = 0; i < grantIds.length; i += BATCH) g += (await grants.expire(grantIds.slice(i, i + BATCH))).length;
    for (let i = 0; i < requestIds.length; i += BATCH) r += await requests.timeOut(requestIds.slice(i, i + BATCH));
    return { grants: g, requests: r };
  }

  /** Reads the store again: the source of truth (other processes create grants too). */
  async function resync(): Promise<void> {
    addedDuringResync = [];
    try {
      lastResync = clock.now().getTime();
      const [gs, rs] = await Promise.all([grants.activeSchedule(), requests.pendingSchedule()]);
      queue.clear();
      for (const g of gs) queue.push({ at: Date.parse(g.expires_at), kind: 'grant', id: g.id });
      for (const r of rs) queue.push({ at: Date.parse(r.timeout_at), kind: 'request', id: r.id });
      for (const d of addedDuringResync) queue.push(d);
    } finally {
      addedDuringResync = null;
    }
  }

  async function tick(why: 'due' | 'resync'): Promise<void> {
    if (running) return;
    running = true;
    busy = (async () => {
      try {
        // Resync at least every MAX_WAIT_MS even when something is always due, or a busy process would never
        // pick up grants made elsewhere.
        if (why === 'resync' || clock.now().getTime() - lastResync >= MAX_WAIT_MS) await resync();
        await runDue();
      } catch (e) {
        lastResync = 0; // what was popped but not ended is back in the store's schedule: read it on the next tick
        deps.onError?.(e);
      } finally {
        running = false;
        arm();
      }
    })();
    await busy;
  }

  return {
    /** Expires everything overdue (even if Airlock was down when it lapsed), then starts the timer. */
    async start(): Promise<{ grants: number; requests: number }> {
      let total = { grants: 0, requests: 0 };
      for (;;) {
        const now = clock.now();
        const [g, r] = await Promise.all([grants.dueForExpiry(now, BATCH), requests.dueForTimeout(now, BATCH)]);
        if (g.length === 0 && r.length === 0) break;
        const eg = (await grants.expire(g.map((x) => x.id))).length;
        const er = await requests.timeOut(r.map((x) => x.id));
        total = { grants: total.grants + eg, requests: total.requests + er };
      }
      await resync();
      stopped = false;
      arm();
      return total;
    },
    /** Tells the scheduler about a new grant or pending request made by this process. */
    add(kind: 'grant' | 'request', id: string, at: string): void {
      const d: Due = { at: Date.parse(at), kind, id };
      queue.push(d);
      addedDuringResync?.push(d);
      const head = queue.peek();
      if (head && head.id === id) arm();
    },
    runDue,
    resync,
    get size() {
      return queue.size;
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await busy;
    },
  };
}

export type ExpiryScheduler = ReturnType<typeof makeExpiryScheduler>;
