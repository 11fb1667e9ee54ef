// The expiry scheduler's bookkeeping with stand-in services: nothing added during a resync is lost, a busy process
// still re-reads the store, and items popped by a failed run come back.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { makeExpiryScheduler } from '../../src/access/expiry.js';
import { manualClock } from '../../src/domain/clock.js';
import type { GrantService } from '../../src/access/grants.js';
import type { RequestService } from '../../src/access/requests.js';

interface Row {
  id: string;
  expires_at: string;
}

/** Grants in a pretend store; expire() ends those still listed, like the real conditional update. */
function fakeServices(opts: { schedule?: () => Promise<Row[]> } = {}) {
  const active = new Map<string, Row>();
  const expired: string[] = [];
  let failNext = false;
  const grants = {
    async dueForExpiry(now: Date) {
      return [...active.values()].filter((g) => Date.parse(g.expires_at) <= now.getTime());
    },
    async activeSchedule() {
      return opts.schedule ? opts.schedule() : [...active.values()];
    },
    async expire(ids: string[]) {
      if (failNext) {
        failNext = false;
        throw new Error('store unavailable');
      }
      const out = [];
      for (const id of ids) {
        if (active.delete(id)) {
          expired.push(id);
          out.push({ id });
        }
      }
      return out;
    },
  } as unknown as GrantService;
  const requests = {
    dueForTimeout: async () => [],
    pendingSchedule: async () => [],
    timeOut: async () => 0,
  } as unknown as RequestService;
  return { grants, requests, active, expired, failOnce: () => (failNext = true) };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

test('an item added while a resync reads the store is kept', async () => {
  let release!: (rows: Row[]) => void;
  const f = fakeServices({ schedule: () => new Promise<Row[]>((r) => (release = r)) });
  const clock = manualClock('2026-03-02T10:00:00.000Z');
  const s = makeExpiryScheduler({ clock, grants: f.grants, requests: f.requests });
  const reading = s.resync();
  // The store was read before this grant committed; the scheduler hears of it before the read returns.
  s.add('grant', 'g-new', '2026-03-02T10:00:05.000Z');
  release([{ id: 'g-old', expires_at: '2026-03-02T10:00:09.000Z' }]);
  await reading;
  assert.equal(s.size, 2);
  clock.advance(5000);
  f.active.set('g-new', { id: 'g-new', expires_at: '2026-03-02T10:00:05.000Z' });
  assert.deepEqual(await s.runDue(), { grants: 1, requests: 0 });
  assert.deepEqual(f.expired, ['g-new']);
});

test('a process that always has something due still re-reads the store, so grants made elsewhere expire', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const f = fakeServices();
  const clock = manualClock('2026-03-02T10:00:00.000Z');
  const s = makeExpiryScheduler({ clock, grants: f.grants, requests: f.requests, onError: (e) => assert.fail(String(e)) });
  await s.start();
  const at = (ms: number) => new Date(clock.now().getTime() + ms).toISOString();
  const elsewhere = { id: 'made-elsewhere', expires_at: at(45_000) };
  let made = 0;
  for (let step = 0; step < 120; step++) {
    if (step === 10) f.active.set(elsewhere.id, elsewhere); // another process grants it; this one is not told
    // This process keeps making short grants, so its timer always fires for something due.
    const g = { id: `local-${made++}`, expires_at: at(1000) };
    f.active.set(g.id, g);
    s.add('grant', g.id, g.expires_at);
    clock.advance(500);
    mock.timers.tick(500);
    await settle();
    if (f.expired.includes(elsewhere.id)) break;
  }
  await s.stop();
  assert.ok(f.expired.includes(elsewhere.id), 'the grant made elsewhere was never expired');
  assert.ok(f.expired.filter((id) => id.startsWith('local-')).length > 50, 'local grants kept expiring');
});

test('grants popped by a run that failed are read back and expired on the next one', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const f = fakeServices();
  const clock = manualClock('2026-03-02T10:00:00.000Z');
  const errors: unknown[] = [];
  const s = makeExpiryScheduler({ clock, grants: f.grants, requests: f.requests, onError: (e) => errors.push(e) });
  await s.start();
  const a = { id: 'a', expires_at: '2026-03-02T10:00:01.000Z' };
  const b = { id: 'b', expires_at: '2026-03-02T10:00:03.000Z' };
  for (const g of [a, b]) {
    f.active.set(g.id, g);
    s.add('grant', g.id, g.expires_at);
  }
  f.failOnce();
  clock.advance(1000);
  mock.timers.tick(1000);
  await settle();
  assert.equal(errors.length, 1);
  assert.deepEqual(f.expired, []);
  clock.advance(2000);
  mock.timers.tick(2000);
  await settle();
  await s.stop();
  assert.deepEqual(f.expired.sort(), ['a', 'b'], 'the failed one comes back with the next run');
});
