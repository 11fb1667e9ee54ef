// Masking one value: what each method shows, for text and the wire's text, json and jsonb forms in both formats, and
// the edges (empty, short, multi-byte, emoji, odd e-mail addresses, invalid UTF-8).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { maskText, maskWireValue, REDACTED } from '../../src/domain/mask-values.js';
import type { MaskMethod, ResolvedMask } from '../../src/domain/masking.js';

const KEY = Buffer.from('test-key-0123456789');
const OTHER_KEY = Buffer.from('another-key');

function mask(method: MaskMethod, extra: Partial<ResolvedMask> = {}): ResolvedMask {
  return { method, keep: method === 'partial' ? 4 : 0, key: method === 'hash' ? KEY : null, rule: 'customers.email', ...extra };
}

const text = (s: string) => Buffer.from(s, 'utf8');
/** No lone surrogate: the string survives UTF-8 unchanged. */
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;
const wire = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

describe('maskText', () => {
  test('redact shows ****, null shows SQL NULL, whatever the value', () => {
    for (const v of ['', 'a', 'alice@example.com', '🙂🙂🙂']) {
      assert.equal(maskText(v, mask('redact')), '****');
      assert.equal(maskText(v, mask('null')), null);
    }
  });

  test('email keeps what follows the last @, and nothing else', () => {
    assert.equal(maskText('alice@example.com', mask('email')), '****@example.com');
    assert.equal(maskText('"a@b"@mail.example.org', mask('email')), '****@mail.example.org', 'a quoted local part holding @');
    assert.equal(maskText('alice.example.com', mask('email')), '****', 'no @: nothing kept');
    assert.equal(maskText('', mask('email')), '****');
    assert.equal(maskText('alice@', mask('email')), '****@');
    assert.equal(maskText('jörg@bücher.example', mask('email')), '****@bücher.example');
  });

  test('partial keeps the last keep characters of a value longer than 2 × keep, else redacts', () => {
    assert.equal(maskText('4111111111111111', mask('partial')), '****1111');
    assert.equal(maskText('123456789', mask('partial')), '****6789', '9 > 8 characters');
    assert.equal(maskText('12345678', mask('partial')), '****', '8 characters would be half shown');
    assert.equal(maskText('', mask('partial')), '****');
    assert.equal(maskText('abc', mask('partial', { keep: 1 })), '****c');
    assert.equal(maskText('ab', mask('partial', { keep: 1 })), '****');
    assert.equal(maskText('+49 30 1234567', mask('partial', { keep: 2 })), '****67');
  });

  test('partial counts code points: multi-byte letters and emoji are one character, a surrogate pair is never split', () => {
    assert.equal(maskText('ÄÖÜäöüßé€', mask('partial')), '****üßé€');
    // Eight emoji are 16 UTF-16 units but 8 characters: not longer than 2 × 4.
    assert.equal(maskText('😀😁😂🤣😃😄😅😆', mask('partial')), '****');
    assert.equal(maskText('😀😁😂🤣😃😄😅😆😇', mask('partial')), '****😄😅😆😇');
    const shown = maskText('x😀😁😂🤣😃😄😅😆', mask('partial'))!;
    assert.equal(shown, '****😃😄😅😆');
    assert.ok(wellFormed(shown), 'no lone surrogate');
    assert.equal(maskText('abcdefgh😀', mask('partial', { keep: 1 })), '****😀');
  });

  test('hash: keyed HMAC-SHA256, h: and 24 hex digits, stable per key and different across keys', () => {
    const a = maskText('alice@example.com', mask('hash'))!;
    assert.match(a, /^h:[0-9a-f]{24}$/);
    assert.equal(a, 'h:' + createHmac('sha256', KEY).update('alice@example.com').digest('hex').slice(0, 24));
    assert.equal(maskText('alice@example.com', mask('hash')), a, 'the same value and key: the same output (joins and counts work)');
    assert.notEqual(maskText('bob@example.com', mask('hash')), a);
    assert.notEqual(maskText('alice@example.com', mask('hash', { key: OTHER_KEY })), a, 'another key: another output');
    assert.match(maskText('', mask('hash'))!, /^h:[0-9a-f]{24}$/);
    assert.equal(maskText('alice', mask('hash', { key: null })), '****', 'no key: nothing is hashed with a guessable key');
  });
});

describe('maskWireValue', () => {
  const methods: MaskMethod[] = ['redact', 'partial', 'hash', 'email', 'null'];
  const samples = ['', 'a', 'alice@example.com', 'jörg@bücher.example', '4111111111111111', '😀😁😂🤣😃😄😅😆😇', 'no-at-sign', 'a@b@c.example'];

  test('kind text gives the bytes of maskText in both formats', () => {
    for (const m of methods) {
      for (const s of samples) {
        for (const binary of [false, true]) assert.equal(wire(maskWireValue(text(s), 'text', binary, mask(m))), maskText(s, mask(m)), `${m} ${JSON.stringify(s)}`);
      }
    }
  });

  test('kind other (numbers, dates, arrays, uuid, bytea) is NULL whatever the method', () => {
    for (const m of methods) {
      assert.equal(maskWireValue(text('42'), 'other', false, mask(m)), null);
      assert.equal(maskWireValue(Buffer.of(0, 0, 0, 42), 'other', true, mask(m)), null);
    }
  });

  test('kind json: a valid JSON string literal; a JSON string is masked as its text', () => {
    const doc = text(JSON.stringify('alice@example.com'));
    assert.equal(wire(maskWireValue(doc, 'json', false, mask('email'))), '"****@example.com"');
    assert.equal(wire(maskWireValue(doc, 'json', true, mask('redact'))), '"****"');
    assert.equal(wire(maskWireValue(doc, 'json', false, mask('null'))), null);
    assert.equal(wire(maskWireValue(text('"4111 1111 1111 1111"'), 'json', false, mask('partial'))), '"****1111"');
    // hash of a JSON string equals the hash of the same text in a text column: joins across the two work.
    assert.equal(wire(maskWireValue(doc, 'json', false, mask('hash'))), JSON.stringify(maskText('alice@example.com', mask('hash'))));
    // An escaped string is read as JSON reads it.
    assert.equal(wire(maskWireValue(text('"a\\u0040b.example"'), 'json', false, mask('email'))), '"****@b.example"');
  });

  test('kind json: objects, arrays and numbers are redacted by email and partial (their end would show structure), hashed over their text', () => {
    const obj = text('{"email": "alice@example.com", "card": "4111111111111111"}');
    assert.equal(wire(maskWireValue(obj, 'json', false, mask('email'))), '"****"');
    assert.equal(wire(maskWireValue(obj, 'json', false, mask('partial'))), '"****"');
    assert.equal(wire(maskWireValue(text('[1,2,3,4,5,6,7,8,9,10]'), 'json', false, mask('partial'))), '"****"');
    const h = wire(maskWireValue(obj, 'json', false, mask('hash')))!;
    assert.match(JSON.parse(h), /^h:[0-9a-f]{24}$/);
    assert.equal(wire(maskWireValue(obj, 'json', false, mask('hash'))), h, 'stable');
  });

  test('every json and jsonb output parses as JSON (fast-check over any string and method)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.constantFrom(...methods), fc.integer({ min: 1, max: 64 }), (s, m, keep) => {
        const mk = mask(m, m === 'partial' ? { keep } : {});
        for (const doc of [JSON.stringify(s), JSON.stringify({ s }), JSON.stringify([s, 1])]) {
          const j = maskWireValue(text(doc), 'json', false, mk);
          const jb = maskWireValue(Buffer.concat([Buffer.of(1), text(doc)]), 'jsonb', true, mk);
          if (m === 'null') {
            assert.equal(j, null);
            assert.equal(jb, null);
            continue;
          }
          assert.equal(typeof JSON.parse(j!.toString('utf8')), 'string');
          assert.equal(jb![0], 1, 'version byte');
          assert.deepEqual(jb!.subarray(1), j, 'binary jsonb = version + the JSON text');
        }
      }),
    );
  });

  test('kind jsonb: text format as json; binary format: version 1 and the JSON text; another version is redacted', () => {
    const doc = text('"alice@example.com"');
    assert.equal(wire(maskWireValue(doc, 'jsonb', false, mask('email'))), '"****@example.com"');
    const b = maskWireValue(Buffer.concat([Buffer.of(1), doc]), 'jsonb', true, mask('email'))!;
    assert.deepEqual(b, Buffer.concat([Buffer.of(1), text('"****@example.com"')]));
    assert.deepEqual(maskWireValue(Buffer.concat([Buffer.of(1), doc]), 'jsonb', true, mask('redact')), Buffer.concat([Buffer.of(1), text('"****"')]));
    assert.deepEqual(maskWireValue(Buffer.concat([Buffer.of(2), doc]), 'jsonb', true, mask('email')), Buffer.concat([Buffer.of(1), text('"****"')]), 'unknown version');
    assert.deepEqual(maskWireValue(Buffer.alloc(0), 'jsonb', true, mask('hash')), Buffer.concat([Buffer.of(1), text('"****"')]), 'empty');
    assert.equal(maskWireValue(Buffer.concat([Buffer.of(1), doc]), 'jsonb', true, mask('null')), null);
  });

  test('invalid UTF-8 never crashes and shows nothing of the value (null stays NULL)', () => {
    const bad = [Buffer.from([0x61, 0x40, 0xff, 0xfe]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x80])];
    for (const v of bad) {
      for (const m of methods) {
        const expected = m === 'null' ? null : REDACTED;
        assert.equal(wire(maskWireValue(v, 'text', false, mask(m))), expected, `${m} text`);
        assert.equal(wire(maskWireValue(v, 'json', false, mask(m))), expected === null ? null : '"****"', `${m} json`);
        const jb = maskWireValue(Buffer.concat([Buffer.of(1), v]), 'jsonb', true, mask(m));
        assert.equal(jb === null ? null : jb.subarray(1).toString(), expected === null ? null : '"****"', `${m} jsonb`);
      }
    }
    assert.equal(wire(maskWireValue(text('"unterminated'), 'json', false, mask('email'))), '"****"', 'a JSON string that does not parse');
  });

  test('text: the bytes and the string agree for any string, keep and method (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.constantFrom(...methods), fc.integer({ min: 1, max: 64 }), (s, m, keep) => {
        const mk = mask(m, m === 'partial' ? { keep } : {});
        const v = text(s);
        // A lone surrogate is not UTF-8: Buffer.from wrote U+FFFD in its place, so compare with that string.
        assert.equal(wire(maskWireValue(v, 'text', false, mk)), maskText(v.toString('utf8'), mk));
      }),
    );
  });

  test('partial never shows more than keep characters nor more than half of the value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite' }), fc.integer({ min: 1, max: 64 }), (s, keep) => {
        const out = maskText(s, mask('partial', { keep }))!;
        assert.ok(out.startsWith('****'));
        const shown = [...out.slice(4)].length;
        const total = [...s].length;
        assert.ok(shown === 0 || (shown === keep && total > 2 * keep), `${shown} of ${total}`);
        assert.ok(wellFormed(out) || !wellFormed(s));
      }),
    );
  });

  test('a long value is masked without a copy of it: partial and email return only their tail', () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    big.write('@example.com', big.length - 12);
    assert.equal(wire(maskWireValue(big, 'text', false, mask('email'))), '****@example.com');
    assert.equal(wire(maskWireValue(big, 'text', false, mask('partial'))), '****.com');
    assert.match(wire(maskWireValue(big, 'text', true, mask('hash')))!, /^h:[0-9a-f]{24}$/);
  });
});
