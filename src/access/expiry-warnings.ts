// Tells a grant's holder that it is about to end: a 'grant.expiring' change on the bus, `lead` seconds before
// expires_at, once per grant in this process (the outbox's notice key keeps it to one message across restarts and
// processes).
import type { Clock } from '../domain/clock.js';
import type { ChangeBus } from './change-bus.js';
import type { GrantService } from './grants.js';
import { DueQueue } from './expiry.js';

/** Longest single wait: also a periodic re-read of the store, which catches grants made by other processes. */
const MAX_WAIT_MS = 30_000;

export function makeExpiryWarnings(deps: { clock: Clock; grants: Pick<GrantService, 'get' | 'activeSchedule'>; bus: Pick<ChangeBus, 'publish'>; lead: () => number; onError?: (e: unknown) => void }) {
  const { clock, grants, bus } = deps;
  const queue = new DueQueue();
  /** Grants already warned about; pruned on resync to the grants still active. */
  const warned = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = true;
  let running = false;
  let busy: Promise<void> = Promise.resolve();
  // Grants added while a resync reads the store: the read may predate them, so they are put back after it.
  let addedDuringResync: { at: number; id: string }[] | null = null;

  /** When to warn about a grant, or null when the grant is shorter than the lead (its approval said how long it lasts). */
  function warnAt(g: { starts_at?: string; expires_at: string }): number | null {
    const at = Date.parse(g.expires_at) - deps.lead() * 1000;
    return g.starts_at !== undefined && at <= Date.parse(g.starts_at) ? null : at;
  }

  function arm(): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    const next = queue.peek();
    const wait = next ? Math.min(MAX_WAIT_MS, Math.max(0, next.at - clock.now().getTime())) : MAX_WAIT_MS;
    timer = setTimeout(() => void tick(), wait);
    timer.unref?.();
  }

  async function warn(id: string): Promise<void> {
    if (warned.has(id)) return;
    const g = await grants.get(id);
    const now = clock.now();
    // Ended meanwhile (revoked, expired during downtime), or the lead shrank on a reload: nothing to say yet or at all.
    if (!g || g.status !== 'active' || Date.parse(g.expires_at) <= now.getTime()) return;
    const at = warnAt(g);
    if (at === null) return;
    if (at > now.getTime()) {
      queue.push({ at, kind: 'grant', id });
      return;
    }
    warned.add(id);
    bus.publish([{ kind: 'grant', id, event: 'expiring', status: 'active', principal: g.principal, resource: g.resource, role: g.role, time: now.toISOString() }]);
  }

  async function resync(): Promise<void> {
    addedDuringResync = [];
    try {
      const active = await grants.activeSchedule();
      const ids = new Set(active.map((g) => g.id));
      for (const id of warned) if (!ids.has(id)) warned.delete(id);
      queue.clear();
      // activeSchedule has no starts_at: warn() reads the grant and drops one shorter than the lead.
      for (const g of active) if (!warned.has(g.id)) queue.push({ at: warnAt(g) ?? Date.parse(g.expires_at), kind: 'grant', id: g.id });
      for (const d of addedDuringResync) queue.push({ ...d, kind: 'grant' });
    } finally {
      addedDuringResync = null;
    }
  }

  async function tick(): Promise<void> {
    if (running) return;
    running = true;
    busy = (async () => {
      try {
        const now = clock.now().getTime();
        if (!queue.peek() || queue.peek()!.at > now) await resync();
        while (queue.peek() && queue.peek()!.at <= clock.now().getTime()) await warn(queue.pop()!.id);
      } catch (e) {
        deps.onError?.(e);
      } finally {
        running = false;
        arm();
      }
    })();
    await busy;
  }

  return {
    /** Reads the active grants and warns at once about those whose warning time passed while Airlock was down. */
    async start(): Promise<void> {
      stopped = false;
      await resync();
      await tick();
    },
    /** A grant this process activated. */
    add(g: { id: string; starts_at: string; expires_at: string }): void {
      const at = warnAt(g);
      if (at === null || warned.has(g.id)) return;
      queue.push({ at, kind: 'grant', id: g.id });
      addedDuringResync?.push({ at, id: g.id });
      if (queue.peek()?.id === g.id) arm();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await busy;
    },
  };
}

export type ExpiryWarnings = ReturnType<typeof makeExpiryWarnings>;
