// Tests for the parse cache, the statement size limit, audit redaction and worker-thread parsing of large texts.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  ASYNC_THRESHOLD_CHARS, closeInspectWorkers, defaultGuardrails, initInspect, makeInspector, makeParseCache,
} from '../../src/inspect/index.js';
import { makeParsePool } from '../../src/inspect/parse-pool.js';
import { longestPause } from '../support/event-loop.js';

before(async () => {
  await Promise.all([initInspect(), initInspect()]);
});

after(async () => {
  await closeInspectWorkers();
});

/** Many small SELECTs separated by semicolons: ordinary SQL, linear to parse. */
function batch(bytes: number, tag = 'x'): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const s = `SELECT id, name, '${tag}${i}' AS label FROM orders WHERE id = ${i} AND status <> 'void'`;
    parts.push(s);
    n += s.length + 2;
  }
  return parts.join(';\n');
}

describe('parse cache', () => {
  test('a repeated text is parsed once and counted as a hit', () => {
    const cache = makeParseCache();
    const insp = makeInspector({ read_only: true }, cache);
    const a = insp.inspect('SELECT * FROM t WHERE id = 1');
    const b = insp.inspect('SELECT * FROM t WHERE id = 1');
    assert.deepEqual(b, a);
    assert.deepEqual({ hits: cache.stats().hits, misses: cache.stats().misses, entries: cache.stats().entries }, { hits: 1, misses: 1, entries: 1 });
    insp.inspect('SELECT * FROM t WHERE id = 2');
    assert.equal(cache.stats().misses, 2);
  });

  test('one cache serves roles with different guardrails', () => {
    const cache = makeParseCache();
    const open = makeInspector({}, cache);
    const ro = makeInspector({ read_only: true }, cache);
    assert.equal(open.inspect('DELETE FROM t WHERE id = 1').allowed, true);
    const d = ro.inspect('DELETE FROM t WHERE id = 1');
    assert.equal(d.allowed, false);
    assert.equal(d.rule, 'read_only');
    assert.equal(cache.stats().hits, 1);
  });

  // Texts without constants: texts that differ only in constants share one analysis by shape (tested below).
  test('entries are bounded and the least recently used goes first', () => {
    const cache = makeParseCache(10);
    const insp = makeInspector({}, cache);
    for (let i = 0; i < 10; i++) insp.inspect(`SELECT c${i} FROM t`);
    insp.inspect('SELECT c0 FROM t'); // the most recently used now; SELECT c1 is the least
    insp.inspect('SELECT c10 FROM t');
    const { hits, misses } = cache.stats();
    insp.inspect('SELECT c0 FROM t');
    assert.equal(cache.stats().hits, hits + 1, 'a recently used entry survives');
    insp.inspect('SELECT c1 FROM t');
    assert.equal(cache.stats().misses, misses + 1, 'the least recently used entry was evicted');
    for (let i = 100; i < 200; i++) insp.inspect(`SELECT c${i} FROM t`);
    assert.equal(cache.stats().entries, 10);
    assert.equal(cache.stats().evictions, 12 + 100 - 10);
  });

  test('total bytes are bounded', () => {
    const cache = makeParseCache(5000, { maxBytes: 64 * 1024 });
    const insp = makeInspector({}, cache);
    for (let i = 0; i < 200; i++) insp.inspect(`SELECT '${'y'.repeat(1000)}', ${i}`);
    const s = cache.stats();
    assert.ok(s.bytes <= 64 * 1024, `bytes ${s.bytes}`);
    assert.ok(s.entries < 200 && s.entries > 0);
  });

  test('huge texts are not cached', () => {
    const cache = makeParseCache(5000, { maxTextChars: 1000 });
    const insp = makeInspector({}, cache);
    const big = batch(2000);
    insp.inspect(big);
    insp.inspect(big);
    assert.deepEqual({ entries: cache.stats().entries, skipped: cache.stats().skipped, hits: cache.stats().hits }, { entries: 0, skipped: 2, hits: 0 });
  });

  test('cached statement facts cannot be edited through a decision', () => {
    const insp = makeInspector({}, makeParseCache());
    const d = insp.inspect('SELECT 1');
    assert.throws(() => {
      (d.statements[0] as { kind: string }).kind = 'drop';
    }, TypeError);
    assert.equal(insp.inspect('SELECT 1').statements[0]?.kind, 'select');
  });

  test('clear empties the cache', () => {
    const cache = makeParseCache();
    const insp = makeInspector({}, cache);
    insp.inspect('SELECT 1');
    cache.clear();
    assert.equal(cache.stats().entries, 0);
    assert.equal(cache.stats().bytes, 0);
  });
});

describe('statement size limit', () => {
  test('a text over max_statement_bytes is refused before it is parsed', () => {
    const cache = makeParseCache();
    const insp = makeInspector({ max_statement_bytes: 1000 }, cache);
    const d = insp.inspect(`SELECT '${'a'.repeat(1000)}'`);
    assert.equal(d.allowed, false);
    assert.equal(d.rule, 'statement_too_large');
    assert.equal(d.message, 'airlock: statement refused by rule statement_too_large: the statement is 1,009 bytes, more than the 1,000 bytes this role allows; send smaller statements or split the batch');
    assert.equal(d.fingerprint, null);
    assert.deepEqual(d.statements, []);
    assert.equal(cache.stats().misses + cache.stats().hits, 0, 'the cache (and so the parser) was never consulted');
    assert.ok(!d.redacted.includes('aaaa'), 'literals are masked in the audit text');
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    const insp = makeInspector({ max_statement_bytes: 1000 }, makeParseCache());
    const text = `SELECT '${'é'.repeat(600)}'`; // 609 characters, 1209 bytes
    assert.equal(insp.inspect(text).rule, 'statement_too_large');
    assert.equal(insp.inspect(`SELECT '${'e'.repeat(600)}'`).allowed, true);
  });

  test('a text exactly at the limit is allowed', () => {
    const sql = 'SELECT 1 --' + '-'.repeat(989);
    assert.equal(Buffer.byteLength(sql), 1000);
    assert.equal(makeInspector({ max_statement_bytes: 1000 }, makeParseCache()).inspect(sql).allowed, true);
  });

  test('applies without other guardrails and defaults to 1 MiB', async () => {
    assert.equal(defaultGuardrails.max_statement_bytes, 1_048_576);
    const insp = makeInspector({}, makeParseCache());
    const over = 'SELECT 1 -- ' + 'x'.repeat(1_048_576);
    assert.equal(insp.inspect(over).rule, 'statement_too_large');
    assert.equal((await insp.inspectAsync(over)).rule, 'statement_too_large');
    assert.ok(insp.inspect(over).redacted.length <= 2000);
  });

  test('invalid limits are refused when the inspector is made', () => {
    assert.throws(() => makeInspector({ max_statement_bytes: 0 }), TypeError);
    assert.throws(() => makeInspector({ max_statement_bytes: Number.NaN }), TypeError);
    assert.throws(() => makeInspector({ max_rows: -1 }), TypeError);
  });
});

describe('audit text', () => {
  test('literals become $n placeholders unless keep_literals', () => {
    const sql = "SELECT * FROM users WHERE email = 'alice@example.com' AND age > 30";
    assert.equal(makeInspector({}, makeParseCache()).inspect(sql).redacted, 'SELECT * FROM users WHERE email = $1 AND age > $2');
    assert.equal(makeInspector({ keep_literals: true }, makeParseCache()).inspect(sql).redacted, sql);
  });

  test('literals that normalize leaves behind are masked as well', () => {
    const insp = makeInspector({}, makeParseCache());
    assert.equal(insp.inspect("PREPARE p AS SELECT 'secret', 42").redacted, 'PREPARE p AS SELECT $1, $2');
    assert.equal(insp.inspect("EXECUTE p('secret', 42)").redacted, 'EXECUTE p($1, $2)');
    assert.equal(insp.inspect("COPY t FROM '/srv/secret.csv'").redacted, 'COPY t FROM $1');
  });

  test('unparsable text is masked and truncated to 2000 characters', () => {
    const insp = makeInspector({ read_only: true }, makeParseCache());
    const d = insp.inspect(`selec 'hunter2', 12345 ${'x '.repeat(5000)}`);
    assert.equal(d.rule, 'parse_error');
    assert.ok(d.redacted.startsWith('selec $1, $2 x x'), d.redacted.slice(0, 40));
    assert.ok(d.redacted.length <= 2000);
    assert.ok(d.redacted.endsWith('[truncated]'));
    const open = makeInspector({ read_only: true }, makeParseCache()).inspect("select 'unterminated hunter2");
    assert.equal(open.redacted, 'select $1');
  });

  test('a fingerprint ignores literal values', () => {
    const insp = makeInspector({}, makeParseCache());
    const a = insp.inspect('SELECT * FROM t WHERE id = 1');
    const b = insp.inspect('SELECT * FROM t WHERE id = 2');
    assert.match(a.fingerprint ?? '', /^[0-9a-f]{16}$/);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.notEqual(a.fingerprint, insp.inspect('SELECT * FROM u WHERE id = 1').fingerprint);
  });
});

describe('inspectAsync', () => {
  test('small texts are decided inline with the same result', async () => {
    const insp = makeInspector({ read_only: true }, makeParseCache());
    assert.deepEqual(await insp.inspectAsync('DELETE FROM t'), insp.inspect('DELETE FROM t'));
  });

  test('a large text is decided in a worker, with the same decision as inline', async () => {
    const text = batch(ASYNC_THRESHOLD_CHARS * 4) + ';\nDELETE FROM t WHERE id = 1';
    const inline = makeInspector({ read_only: true }, makeParseCache()).inspect(text);
    const cache = makeParseCache();
    const worker = await makeInspector({ read_only: true }, cache).inspectAsync(text);
    assert.deepEqual(worker, inline);
    assert.equal(worker.rule, 'read_only');
    assert.equal(cache.stats().entries, 1, 'the worker result is cached like an inline one');
  });

  test('the event loop keeps turning while a 900 KB statement is parsed', async () => {
    const text = batch(900_000, 'loop');
    const insp = makeInspector({ read_only: true }, makeParseCache());
    await insp.inspectAsync(batch(ASYNC_THRESHOLD_CHARS * 2, 'warm')); // start the worker outside the measurement
    const { result: d, worstMs: worst } = await longestPause(() => insp.inspectAsync(text), 2);
    assert.equal(d.allowed, true);
    assert.ok(d.statements.length > 5000);
    const t0 = performance.now();
    makeInspector({ read_only: true }, makeParseCache()).inspect(text + ' ');
    const inlineMs = performance.now() - t0;
    // Compared with the inline parse in the same run, not with a wall-clock bound: CI machines vary.
    assert.ok(worst * 4 < inlineMs, `the longest event-loop gap (${worst.toFixed(1)} ms) should be a small part of the inline parse (${inlineMs.toFixed(1)} ms)`);
  });

  test('a parse that overruns its deadline is refused, not waited for', async () => {
    const pool = makeParsePool({ size: 1, timeoutMs: 1 });
    try {
      const a = await pool.analyze(batch(400_000, 'slow'));
      assert.equal(a.ok, false);
      assert.ok(!a.ok && a.transient === true && /longer than 1 ms/.test(a.error));
    } finally {
      await pool.close();
    }
  });

  test('a closed pool answers with a failure', async () => {
    const pool = makeParsePool({ size: 1 });
    await pool.close();
    const a = await pool.analyze('SELECT 1');
    assert.equal(a.ok, false);
  });
});

test('the parser stays on the baseline compiler: hundreds of new statements do not add ~100 MB to the process', async () => {
  // In a fresh process, as the gateway would be. V8's optimizing tier would recompile the grammar in the background
  // after a few hundred parses and keep ~100 MB of it resident (src/inspect/baseline-wasm.ts).
  const index = new URL('../../src/inspect/index.ts', import.meta.url).href;
  const script = `
    const { initInspect, makeInspector } = await import(${JSON.stringify(index)});
    await initInspect();
    const before = process.memoryUsage().rss;
    const inspector = makeInspector({});
    for (let i = 0; i < 400; i++) inspector.inspect('SELECT a' + i + ', b FROM t' + i + ' JOIN u ON u.id = t.id WHERE x = ' + i + ' ORDER BY 1');
    await new Promise((r) => setTimeout(r, 1500));
    console.log(JSON.stringify({ grewMb: (process.memoryUsage().rss - before) / 1048576 }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { grewMb } = JSON.parse(r.stdout) as { grewMb: number };
  assert.ok(grewMb < 40, `RSS grew ${grewMb.toFixed(1)} MB after 400 new statements`);
});
