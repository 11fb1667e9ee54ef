// The parameters of a COM_STMT_EXECUTE as a statement review shows them (and its approval is bound to): strings and
// numbers as text, NULL as null, anything else as \x hex of its wire bytes.

/** Binary-protocol types whose value is a length-encoded string (decimals, strings, blobs, JSON, enums, sets, bits). */
const LENENC_TYPES = new Set([0x00, 0x0f, 0x10, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff]);
/** Fixed-size integer types: their size in bytes. */
const INT_SIZES: Record<number, number> = { 0x01: 1, 0x02: 2, 0x0d: 2, 0x03: 4, 0x09: 4, 0x08: 8 };

/** What a prepared statement's executions carry over: the parameter types of the last COM_STMT_EXECUTE that sent them. */
export interface ParamState {
  count: number;
  types: Buffer | null;
}

class Truncated extends Error {}

/** A COM_STMT_EXECUTE's parameters as shown, and the types the server will hold once it gets the execute. */
export interface ExecuteParameters {
  parameters: (string | null)[] | null;
  /** The execute's own types when it binds new ones, else the ones already held (state.types). */
  types: Buffer | null;
}

/**
 * Reads the parameters of a COM_STMT_EXECUTE payload (command byte first). Types come with the execution that binds
 * new ones and hold for later ones. State is not changed: the server keeps an execute's types only once it gets it,
 * so the caller commits `types` when it forwards the execute, never for one refused, denied or withdrawn. A value the
 * reader cannot make text of, or a payload it cannot follow, shows as \x hex of its bytes: the review still shows,
 * and binds, exactly what the server gets.
 */
export function executeParameters(payload: Buffer, state: Readonly<ParamState>): ExecuteParameters {
  let types = state.types;
  const parameters = readParameters(payload, state.count, types, (t) => (types = t));
  return { parameters, types };
}

function readParameters(payload: Buffer, n: number, held: Buffer | null, bind: (types: Buffer) => void): (string | null)[] | null {
  if (n === 0) return null;
  let at = 10;
  const nullBytes = (n + 7) >> 3;
  try {
    const need = (k: number) => {
      if (at + k > payload.length) throw new Truncated();
    };
    need(nullBytes + 1);
    const nulls = payload.subarray(at, at + nullBytes);
    at += nullBytes;
    const bound = payload[at++] === 1;
    if (bound) {
      need(2 * n);
      held = Buffer.from(payload.subarray(at, at + 2 * n));
      bind(held);
      at += 2 * n;
    }
    const types = held;
    if (!types) return [`\\x${payload.toString('hex', 10)}`];
    const out: (string | null)[] = [];
    for (let i = 0; i < n; i++) {
      if (nulls[i >> 3]! & (1 << (i & 7))) {
        out.push(null);
        continue;
      }
      const type = types[2 * i]!;
      const unsigned = (types[2 * i + 1]! & 0x80) !== 0;
      const size = INT_SIZES[type];
      if (size !== undefined) {
        need(size);
        out.push(intAt(payload, at, size, unsigned));
        at += size;
      } else if (type === 0x04 || type === 0x05) {
        need(type === 0x04 ? 4 : 8);
        out.push(String(type === 0x04 ? payload.readFloatLE(at) : payload.readDoubleLE(at)));
        at += type === 0x04 ? 4 : 8;
      } else if (type === 0x06) {
        out.push(null);
      } else if (LENENC_TYPES.has(type)) {
        const [len, head] = lenenc(payload, at);
        need(head + len);
        out.push(payload.toString('utf8', at + head, at + head + len));
        at += head + len;
      } else {
        // Dates and times: a length byte, then that many bytes.
        need(1);
        const len = payload[at]!;
        need(1 + len);
        out.push(`\\x${payload.toString('hex', at, at + 1 + len)}`);
        at += 1 + len;
      }
    }
    return out;
  } catch (err) {
    if (err instanceof Truncated) return [`\\x${payload.toString('hex', 10)}`];
    throw err;
  }
}

function intAt(b: Buffer, at: number, size: number, unsigned: boolean): string {
  switch (size) {
    case 1:
      return String(unsigned ? b.readUInt8(at) : b.readInt8(at));
    case 2:
      return String(unsigned ? b.readUInt16LE(at) : b.readInt16LE(at));
    case 4:
      return String(unsigned ? b.readUInt32LE(at) : b.readInt32LE(at));
    default:
      return String(unsigned ? b.readBigUInt64LE(at) : b.readBigInt64LE(at));
  }
}

/** A length-encoded integer at `at`: its value and how many bytes it took. */
function lenenc(b: Buffer, at: number): [number, number] {
  if (at >= b.length) throw new Truncated();
  const first = b[at]!;
  if (first < 0xfb) return [first, 1];
  if (first === 0xfc && at + 3 <= b.length) return [b.readUInt16LE(at + 1), 3];
  if (first === 0xfd && at + 4 <= b.length) return [b.readUIntLE(at + 1, 3), 4];
  if (first === 0xfe && at + 9 <= b.length) return [Number(b.readBigUInt64LE(at + 1)), 9];
  throw new Truncated();
}
