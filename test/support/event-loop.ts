// How long the event loop stands still while something runs: the tests and the inspect bench measure the same way.

/**
 * Runs `run` while a timer ticks every `everyMs`; returns its result and the longest gap between two ticks (ms).
 * The timer settles for a few ms before and after, so start-up and the last tick are measured too.
 */
export async function longestPause<T>(run: () => Promise<T>, everyMs = 1): Promise<{ result: T; worstMs: number }> {
  let last = performance.now();
  let worstMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last);
    last = now;
  }, everyMs);
  try {
    await new Promise((r) => setTimeout(r, 5));
    last = performance.now();
    const result = await run();
    await new Promise((r) => setTimeout(r, 5));
    return { result, worstMs };
  } finally {
    clearInterval(timer);
  }
}
