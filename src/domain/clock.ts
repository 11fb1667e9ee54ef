// Time as a collaborator: services read clock.now(), so tests can move time instead of sleeping.

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance. */
export function manualClock(start: Date | string = '2026-01-01T00:00:00.000Z') {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    set(d: Date | string) {
      t = new Date(d).getTime();
    },
    advance(ms: number) {
      t += ms;
    },
  };
}

/** ISO-8601 in UTC with milliseconds: fixed width, so text order is time order in every store. */
export function iso(d: Date): string {
  return d.toISOString();
}
