// JSON with keys sorted at every depth and no whitespace: the same value always encodes to the same bytes
// (the audit chain's hash input, the policy's version hash).

/** The definition: short and obviously right. Verification uses it; canonicalJsonOfData must agree with it. */
export function canonicalJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  // Encode what JSON.stringify stores (a Date as its ISO text, a Buffer as {type,data}), or a stored value
  // would read back with a different encoding than the one computed before it was stored.
  if (typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((v as { toJSON(): unknown }).toJSON());
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return 'null';
  return JSON.stringify(v);
}

/**
 * canonicalJson(v) for JSON data, several times faster; undefined when v holds something canonicalJson does not
 * encode as JSON (a function, a symbol, a bigint, a hole in an array) or when encoding throws (a cycle, a getter),
 * so the caller can fall back to canonicalJson and keep its exact behaviour.
 */
export function canonicalJsonOfData(v: unknown): string | undefined {
  let s: string | undefined;
  try {
    s = encode(v);
  } catch {
    return undefined;
  }
  // V8 keeps a string built with += as a rope of its pieces, and reading a char flattens it into one buffer: done once
  // here, the hash, the store driver and JSON.stringify each read that buffer instead of walking the rope again.
  s?.charCodeAt(0);
  return s;
}

/** What JSON.stringify escapes in a string: a quote, a backslash, a control char, a surrogate (if lone). */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(s), and quicker for the usual string that needs no escape. */
export function quoteJson(s: string): string {
  return ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function encode(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return quoteJson(v);
    case 'number':
      // JSON.stringify's text for a finite number is its ToString (-0 → "0", 1e21 → "1e+21").
      return Number.isFinite(v) ? `${v}` : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return 'null';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return encodeArray(v);
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return encode((v as { toJSON(): unknown }).toJSON());
      return encodeObject(v as Record<string, unknown>);
    default:
      return undefined;
  }
}

function encodeArray(a: unknown[]): string | undefined {
  let s = '[';
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    // canonicalJson maps with Array.map, which skips holes and leaves them empty in the join.
    if (x === undefined && !(i in a)) return undefined;
    const t = encode(x);
    if (t === undefined) return undefined;
    s += i === 0 ? t : `,${t}`;
  }
  return `${s}]`;
}

function encodeObject(o: Record<string, unknown>): string | undefined {
  const keys = Object.keys(o);
  if (keys.length === 0) return '{}';
  const shape = shapeOf(keys);
  let s = '';
  for (let i = 0; i < shape.sorted.length; i++) {
    const x = o[shape.sorted[i]!];
    if (x === undefined) continue;
    const t = encode(x);
    if (t === undefined) return undefined;
    s += s === '' ? `{${shape.prefixes[i]!}${t}` : `,${shape.prefixes[i]!}${t}`;
  }
  return s === '' ? '{}' : `${s}}`;
}

/** Object keys in the order Object.keys gives them, sorted, and each sorted key's `"key":` prefix. */
interface Shape {
  keys: string[];
  sorted: string[];
  prefixes: string[];
}

// Objects of one kind (a gateway's statement details) come with the same keys in the same order, so their sorted
// keys are remembered: comparing keys by identity costs far less than sorting them again.
const SHAPES = 32;
const MAX_SHAPE_KEYS = 32;
const shapes: Shape[] = [];
let nextShape = 0;

function shapeOf(keys: string[]): Shape {
  const n = keys.length;
  search: for (let j = 0; j < shapes.length; j++) {
    const sh = shapes[j]!;
    if (sh.keys.length !== n) continue;
    for (let i = 0; i < n; i++) if (sh.keys[i] !== keys[i]) continue search;
    return sh;
  }
  const sorted = keys.slice().sort();
  const shape = { keys, sorted, prefixes: sorted.map((k) => `${quoteJson(k)}:`) };
  if (n <= MAX_SHAPE_KEYS) {
    shapes[nextShape] = shape;
    nextShape = (nextShape + 1) % SHAPES;
  }
  return shape;
}
