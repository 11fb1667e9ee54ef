// Benchmark of statement inspection: cache miss vs hit for a typical SELECT, parse cost by size, event-loop stall inline vs worker.

import { fingerprintSync, normalizeSync, parseSync } from '../src/inspect/pg-parser.js';
import { closeInspectWorkers, initInspect, makeInspector, makeParseCache } from '../src/inspect/index.js';
import { longestPause } from '../test/support/event-loop.js';

await initInspect();

/** A typical ~200-byte application SELECT; i changes a constant, so texts differ but share one shape. */
function typical(i: number): string {
  return `SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'open' AND o.created_at > now() - interval '7 days' AND o.id > ${i} ORDER BY o.id LIMIT 50`;
}

/** The same SELECT with a distinct column alias: a new shape every time, so nothing is cached. */
function distinct(i: number): string {
  return typical(i).replace('c.email FROM', `c.email AS e${i} FROM`);
}

/** Many ordinary statements up to about `bytes`. */
function sized(bytes: number): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const s = typical(i);
    parts.push(s);
    n += s.length + 2;
  }
  return parts.join(';\n');
}

function timeEach(n: number, fn: (i: number) => void): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - t0) * 1000) / n;
}

function fmt(x: number, digits = 1): string {
  return x.toFixed(digits).padStart(10);
}

const rows: string[][] = [];

// Cache miss vs hit.
{
  const insp = makeInspector({ read_only: true }, makeParseCache(100_000));
  timeEach(2000, (i) => insp.inspect(distinct(1_000_000 + i))); // JIT warm-up
  const cold = timeEach(5000, (i) => insp.inspect(distinct(i)));
  const shaped = timeEach(5000, (i) => insp.inspect(typical(2_000_000 + i)));
  const warmText = typical(0);
  const warm = timeEach(200_000, () => insp.inspect(warmText));
  console.log(`typical SELECT: ${Buffer.byteLength(warmText)} bytes`);
  console.log('');
  const line = (label: string, value: string): void => console.log(`${label.padEnd(48)}${value}`);
  line('case', 'µs/inspect'.padStart(10));
  line('cold (cache miss: parse+fingerprint+normalize)', fmt(cold, 2));
  line('same shape, new constant (shape cache hit)', fmt(shaped, 2));
  line('warm (cache hit)', fmt(warm, 2));
  line('ratio miss/hit', `${fmt(cold / warm, 0)}x`);
  line('ratio miss/shape hit', `${fmt(cold / shaped, 0)}x`);
  console.log('');
}

// Parse cost by size, inline.
for (const bytes of [10_000, 100_000, 1_000_000]) {
  const text = sized(bytes);
  const reps = bytes >= 1_000_000 ? 3 : bytes >= 100_000 ? 10 : 50;
  parseSync(text);
  const parse = timeEach(reps, () => parseSync(text)) / 1000;
  const fp = timeEach(reps, () => fingerprintSync(text)) / 1000;
  const norm = timeEach(reps, () => normalizeSync(text)) / 1000;
  const insp = makeInspector({ read_only: true, max_statement_bytes: 2_000_000 }, makeParseCache());
  const whole = timeEach(reps, (i) => insp.inspect(i === 0 ? text : `${text}${' '.repeat(i)}`)) / 1000;
  rows.push([`${(Buffer.byteLength(text) / 1000).toFixed(0)} KB`, fmt(parse), fmt(fp), fmt(norm), fmt(whole)]);
}
console.log(`${'size'.padEnd(8)}${'parse ms'.padStart(10)}${'fingerprint ms'.padStart(16)}${'normalize ms'.padStart(14)}${'inspect (cold) ms'.padStart(19)}`);
for (const r of rows) console.log(`${r[0]!.padEnd(8)}${r[1]}${r[2]!.padStart(16)}${r[3]!.padStart(14)}${r[4]!.padStart(19)}`);
console.log('');

// Longest event-loop pause while a 1 MB statement is inspected: inline vs inspectAsync (worker).
async function worstPause(run: () => Promise<unknown>): Promise<number> {
  return (await longestPause(run)).worstMs;
}
{
  const insp = makeInspector({ read_only: true, max_statement_bytes: 2_000_000 }, makeParseCache());
  await insp.inspectAsync(sized(20_000)); // start the worker outside the measurement
  const big = sized(1_000_000);
  const inline = await worstPause(async () => insp.inspect(big));
  const viaWorker = await worstPause(() => insp.inspectAsync(`${big} `));
  const mid = sized(100_000);
  const inlineMid = await worstPause(async () => insp.inspect(mid));
  const workerMid = await worstPause(() => insp.inspectAsync(`${mid} `));
  const line = (a: string, b: string, c: string, d: string): void => console.log(`${a.padEnd(26)}${b.padStart(10)}${c.padStart(18)}${d.padStart(10)}`);
  line('longest event-loop pause', 'inline ms', 'inspectAsync ms', 'ratio');
  line('100 KB statement', fmt(inlineMid), fmt(workerMid), `${(inlineMid / workerMid).toFixed(0)}x`);
  line('1 MB statement', fmt(inline), fmt(viaWorker), `${(inline / viaWorker).toFixed(0)}x`);
  console.log('');
}

// A small but deeply nested text: parse cost grows with depth, not only with bytes.
{
  const nested = `SELECT 1${' + 1'.repeat(1500)}`;
  const insp = makeInspector({ read_only: true }, makeParseCache());
  const ms = timeEach(3, (i) => insp.inspect(`${nested}${' '.repeat(i)}`)) / 1000;
  console.log(`deeply nested expression, ${Buffer.byteLength(nested)} bytes: ${ms.toFixed(1)} ms per cold inspect`);
}

await closeInspectWorkers();
