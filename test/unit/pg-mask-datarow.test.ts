// maskDataRow's fast path (ASCII text under redact, email and partial, masked in place by maskedTail) gives the same
// DataRow, byte for byte, as the path through maskWireValue for every value, ASCII or not, and maskedTail agrees with
// maskWireValue on each value alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskDataRow, type ResultColumns } from '../../src/gateway/postgres/masking.js';
import { maskedTail, maskWireValue, TAIL_NONE, TAIL_SLOW } from '../../src/domain/mask-values.js';
import type { MaskMethod, MaskValueKind, ResolvedMask } from '../../src/domain/masking.js';

const VALUES: (string | null)[] = [
  null, '', 'a', '@', 'ab@', '@example.com', 'alice@example.com', 'a@b@c.org', 'no-at-sign', '+49 30 0332598', '12345678', '123456789',
  'Grüße@münchen.de', 'jörg@example.com', 'x@ÿ.de', '😀😀😀😀😀😀😀😀😀', 'abc😀defgh', 'customer.42@example0.com', 'x'.repeat(300) + '@wide.example',
];
const METHODS: MaskMethod[] = ['redact', 'email', 'partial', 'hash', 'null'];
const KEY = Buffer.from('test-mask-key-0123456789abcdef');

function dataRow(values: (Buffer | null)[]): Buffer {
  const parts = values.map((v) => {
    const l = Buffer.alloc(4);
    l.writeInt32BE(v === null ? -1 : v.length);
    return v === null ? l : Buffer.concat([l, v]);
  });
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head[0] = 0x44;
  head.writeInt32BE(body.length + 6, 1);
  head.writeInt16BE(values.length, 5);
  return Buffer.concat([head, body]);
}

const mask = (method: MaskMethod, keep: number): ResolvedMask => ({ method, keep, key: method === 'hash' ? KEY : null, rule: 't.c' });
/** maskWireValue behind another function: maskDataRow takes the general path for every value. */
const slow: typeof maskWireValue = (v, kind, binary, m) => maskWireValue(v, kind, binary, m);

test('maskedTail gives what maskWireValue gives, or hands the value over', () => {
  let fast = 0;
  for (const method of METHODS) {
    for (const keep of [0, 1, 4, 6]) {
      for (const kind of ['text', 'json', 'other'] as MaskValueKind[]) {
        for (const s of VALUES) {
          if (s === null) continue;
          // Inside a larger buffer, as a DataRow holds it.
          const buf = Buffer.concat([Buffer.from('pre'), Buffer.from(s, 'utf8'), Buffer.from('post')]);
          const start = 3;
          const end = buf.length - 4;
          const m = mask(method, keep);
          const tail = maskedTail(buf, start, end, kind, m);
          if (tail === TAIL_SLOW) continue;
          fast++;
          const got = Buffer.concat([Buffer.from('****'), tail === TAIL_NONE ? Buffer.alloc(0) : buf.subarray(tail, end)]);
          assert.deepEqual(got, maskWireValue(buf.subarray(start, end), kind, false, m), `${method} keep ${keep} ${kind} ${JSON.stringify(s)}`);
        }
      }
    }
  }
  assert.ok(fast > 50, 'the fast path took values');
});

test('maskDataRow: the same rows through the fast path and through maskWireValue', () => {
  const cols = (masks: (ResolvedMask | null)[], binary: boolean[]): ResultColumns => ({
    count: masks.length,
    masks: masks.map((m) => (m ? { relid: 1, attnum: 1, name: 't.c', mask: m, kind: 'text' as const } : null)),
    binary,
    values: [],
    at: [],
    was: [],
  });
  for (const a of METHODS) {
    for (const b of METHODS) {
      for (const keep of [0, 2, 4]) {
        for (let i = 0; i < VALUES.length; i++) {
          const v1 = VALUES[i]!;
          const v2 = VALUES[(i * 7 + 3) % VALUES.length]!;
          const clear = 'c'.repeat(i * 9);
          // Runs in clear shorter and longer than the byte-by-byte copy's limit, masked values next to each other.
          const values = [clear, v1, v2, 'id-' + i, v2, clear + clear].map((s) => (s === null ? null : Buffer.from(s, 'utf8')));
          const masks = [null, mask(a, keep), mask(b, keep), null, mask(a, keep), null];
          const c = cols(masks, values.map(() => false));
          const row = dataRow(values);
          // A view inside a larger buffer, as the scanner passes it.
          const view = Buffer.concat([Buffer.from('xx'), row, Buffer.from('yy')]).subarray(2, 2 + row.length);
          assert.deepEqual(maskDataRow(view, c), maskDataRow(row, c, slow), `${a}/${b} keep ${keep}: ${JSON.stringify([v1, v2])}`);
          assert.deepEqual(view, row, 'the row it read is unchanged');
        }
      }
    }
  }
});
