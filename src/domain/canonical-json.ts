// JSON with keys sorted at every depth and no whitespace: the same value always encodes to the same bytes
// (the audit chain's hash input, the policy's version hash).

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
