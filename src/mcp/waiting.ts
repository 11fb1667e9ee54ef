// Waiting inside a tool call for something a person decides: woken by the access change bus (no polling), telling
// the agent that it still waits at least every PROGRESS_INTERVAL_MS, ended by a timeout or the client's cancel.
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Change, ChangeBus } from '../access/change-bus.js';
import type { Progress } from './context.js';

/** Well under the 10 s the MCP clients' idle timeouts are usually reset by (resetTimeoutOnProgress). */
export const PROGRESS_INTERVAL_MS = 5_000;

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * The call's progress channel: notifications/progress with its progressToken when the client sent one, otherwise a
 * log message (notifications/message), which clients show in their logs. Sending never fails the call.
 */
export function progressOf(extra: Extra): Progress {
  const token = extra._meta?.progressToken;
  let n = 0;
  return async function sendProgress(message: string) {
    n++;
    const note: ServerNotification = token !== undefined
      ? { method: 'notifications/progress', params: { progressToken: token, progress: n, message } }
      : { method: 'notifications/message', params: { level: 'info', logger: 'airlock', data: message } };
    await extra.sendNotification(note).catch(() => {});
  };
}

export type WaitEnd<T> = { done: T } | { timedOut: true } | { aborted: true };

/**
 * Resolves with check()'s first non-null value, re-checking on every relevant change on the bus (subscribed before the
 * first check, so a change between the two is not missed); or with timedOut after timeoutMs; or aborted with the signal.
 * `still()` says what is being waited for, sent at once and then every PROGRESS_INTERVAL_MS.
 */
export function waitForChange<T>(o: {
  bus: Pick<ChangeBus, 'subscribe'>;
  relevant: (c: Change) => boolean;
  check: () => Promise<T | null>;
  timeoutMs: number;
  signal: AbortSignal;
  progress: Progress;
  still: () => string;
}): Promise<WaitEnd<T>> {
  return new Promise<WaitEnd<T>>((resolve) => {
    let over = false;
    let checking: Promise<void> = Promise.resolve();
    const finish = (end: WaitEnd<T>) => {
      if (over) return;
      over = true;
      unsubscribe();
      clearTimeout(timer);
      clearInterval(ticker);
      o.signal.removeEventListener('abort', onAbort);
      resolve(end);
    };
    // Checks run one after another, so a burst of changes cannot resolve out of order.
    const recheck = () => {
      checking = checking.then(async () => {
        if (over) return;
        try {
          const v = await o.check();
          if (v !== null) finish({ done: v });
        } catch {
          // A failed read (the store busy) is retried at the next change or tick.
        }
      });
    };
    const onAbort = () => finish({ aborted: true });
    const unsubscribe = o.bus.subscribe((c) => {
      if (o.relevant(c)) recheck();
    });
    const timer = setTimeout(() => finish({ timedOut: true }), Math.max(0, o.timeoutMs));
    const ticker = setInterval(() => void o.progress(o.still()), PROGRESS_INTERVAL_MS);
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    void o.progress(o.still());
    recheck();
  });
}
