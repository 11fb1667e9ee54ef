// The audit append path's fast encoders against the definition: canonicalJsonOfData and canonicalEventJson must give
// canonicalJson's bytes for every value, or the chain written would not be the chain verify recomputes.
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, canonicalJsonOfData, quoteJson } from '../../src/domain/canonical-json.js';
import { canonicalEventJson, eventHash, sha256Hex, type UnhashedEvent } from '../../src/audit/chain.js';

/** Any UTF-16 code unit, so strings carry lone surrogates, control chars, quotes and backslashes. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const oddString = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', '"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', 'Grüße ✓', '\ud800', '\udc00x', '😀', 'a"b\\c\nd', '__proto__', 'toJSON'),
);
const oddNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, 0.1, 0.1 + 0.2, 1e21, 1e-7, 123e-20, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, -(2 ** 31)),
);
const leaf = fc.oneof(oddString, oddNumber, fc.boolean(), fc.constant(null), fc.constant(undefined), fc.date(), fc.constantFrom(new Date(Number.NaN)));
const key = fc.oneof(oddString, fc.constantFrom('a', 'B', 'b', '0', '1', '10', '2', 'session_id', 'text', 'rows'));

/** JSON data as the services put it in details: nested objects and arrays, undefined fields, Dates. */
const { data } = fc.letrec((tie) => ({
  data: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('data'), { maxLength: 6 }),
  object: fc.dictionary(key, tie('data'), { maxKeys: 8 }),
}));
const details = fc.dictionary(key, data, { maxKeys: 10 });

const event = fc.record({
  seq: fc.oneof(fc.nat(), oddNumber),
  time: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), oddString),
  actor: oddString,
  action: oddString,
  target: fc.option(oddString),
  source: fc.option(oddString),
  details,
  prev_hash: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), oddString),
}) as fc.Arbitrary<UnhashedEvent>;

test('canonicalJsonOfData gives canonicalJson’s bytes for any JSON data', () => {
  fc.assert(
    fc.property(data, (v) => {
      assert.equal(canonicalJsonOfData(v), canonicalJson(v));
    }),
    { numRuns: 3000 },
  );
});

test('canonicalJsonOfData on anything: the same bytes, or undefined only where canonicalJson’s text would not read back', () => {
  const anything = fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withObjectString: true, withBigInt: true, stringUnit: codeUnit });
  fc.assert(
    fc.property(anything, (v) => {
      const fast = canonicalJsonOfData(v);
      let reference: string | undefined;
      try {
        reference = canonicalJson(v);
      } catch {
        assert.equal(fast, undefined);
        return;
      }
      if (fast !== undefined) {
        assert.equal(fast, reference);
        return;
      }
      // Giving up is only allowed where canonicalJson's text is not what the stored value reads back as (a function,
      // a symbol, a hole in an array): there the append path keeps its old encoding.
      let readBack: string | undefined;
      try {
        readBack = canonicalJson(JSON.parse(JSON.stringify(v)));
      } catch {
        return;
      }
      assert.notEqual(readBack, reference, `the fast path gave up on a value it should encode: ${String(reference)}`);
    }),
    { numRuns: 3000 },
  );
});

test('the stored details text reads back to the same text: JSON.parse then canonicalJson is the identity', () => {
  fc.assert(
    fc.property(details, (d) => {
      const text = canonicalJsonOfData(d)!;
      assert.equal(canonicalJson(JSON.parse(text)), text);
    }),
    { numRuns: 2000 },
  );
});

test('canonicalEventJson gives eventHash’s input, for random events, fields left out included', () => {
  const withMissing = fc.tuple(event, fc.subarray(['seq', 'time', 'actor', 'action', 'target', 'source', 'details', 'prev_hash'] as const, { maxLength: 2 }));
  fc.assert(
    fc.property(fc.oneof(event.map((e) => [e, []] as const), withMissing), ([e0, missing]) => {
      const e = { ...e0 } as Record<string, unknown>;
      for (const k of missing) e[k] = undefined;
      const ev = e as unknown as UnhashedEvent;
      const reference = canonicalJson({ seq: ev.seq, time: ev.time, actor: ev.actor, action: ev.action, target: ev.target, source: ev.source, details: ev.details, prev_hash: ev.prev_hash });
      const text = canonicalEventJson(ev, canonicalJsonOfData(ev.details) ?? canonicalJson(ev.details));
      assert.equal(text, reference);
      assert.equal(sha256Hex(text), eventHash(ev));
      // eventHash uses the fast encoder too: hold it to SHA-256 of the reference encoding, computed independently.
      assert.equal(eventHash(ev), createHash('sha256').update(reference).digest('hex'));
    }),
    { numRuns: 3000 },
  );
});

test.describe('odd values, one by one', () => {
  const cases: [string, unknown][] = [
    ['unicode', { s: 'Grüße ✓ 😀 \u2028 \u2029' }],
    ['quotes and backslashes', { 'k"ey': 'a"b\\c', '\\': '"' }],
    ['control chars', { s: '\u0000\u0001\b\f\n\r\t\u001f\u007f' }],
    ['lone surrogates', { s: '\ud800', t: 'x\udc00y', '\udbff': 1 }],
    ['nested objects and arrays', { z: { y: { x: [1, [2, [3, { b: 1, a: 2 }]]] } }, a: [] }],
    ['null and undefined fields', { a: null, b: undefined, c: [undefined, null] }],
    ['numbers', { a: 0.1, b: -0, c: 1e21, d: NaN, e: Infinity, f: -Infinity, g: 1e-7, h: 5e-324, i: 2 ** 53 + 2 }],
    ['dates', { at: new Date(Date.UTC(2026, 2, 2, 10, 0, 0)), bad: new Date(Number.NaN) }],
    ['a Buffer (toJSON gives {type, data})', { b: Buffer.from('hi') }],
    ['keys sorted by UTF-16 code unit', { b: 1, a: 2, B: 3, é: 4, '10': 5, '9': 6, '😀': 7, '\uffff': 8 }],
    ['a __proto__ key read from JSON', JSON.parse('{"__proto__": {"x": 1}, "a": 1}')],
    ['a null-prototype object', Object.assign(Object.create(null) as object, { b: 1, a: 2 })],
    ['an own toJSON', { a: { toJSON: () => ({ y: 1, x: 2 }) } }],
    ['a toJSON key that is not a function', { toJSON: 'no' }],
    ['boxed values, Map and Set', { n: new Number(1), s: new String('ab'), m: new Map([[1, 2]]), t: new Set([1]) }],
    ['an empty object and array', { a: {}, b: [] }],
  ];
  for (const [name, v] of cases) {
    test(name, () => {
      assert.equal(canonicalJsonOfData(v), canonicalJson(v));
    });
  }
  test('values canonicalJson does not encode as JSON make the fast path give up', () => {
    for (const v of [{ f: () => 1 }, [() => 1], { s: Symbol('x') }, [1, , 3], { n: 1n }]) assert.equal(canonicalJsonOfData(v), undefined);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(canonicalJsonOfData(cyclic), undefined);
  });
});

test('objects of many shapes, and shapes too large to remember, encode like canonicalJson', () => {
  for (let round = 0; round < 3; round++) {
    for (let n = 0; n < 80; n++) {
      const o: Record<string, number> = {};
      for (let k = n; k >= 0; k--) o[`k${(k * 7) % 13}_${k}`] = k;
      assert.equal(canonicalJsonOfData(o), canonicalJson(o));
      // Same keys, another insertion order: a different shape with the same sorted keys.
      const reversed = Object.fromEntries(Object.entries(o).reverse());
      assert.equal(canonicalJsonOfData(reversed), canonicalJson(reversed));
    }
  }
});

test('quoteJson is JSON.stringify for strings', () => {
  fc.assert(
    fc.property(oddString, (s) => {
      assert.equal(quoteJson(s), JSON.stringify(s));
    }),
    { numRuns: 3000 },
  );
});
