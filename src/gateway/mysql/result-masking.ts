// Masks the rows of one MySQL result as they pass: the column definitions (ColumnDefinition41) say which result columns
// come from a masked column (schema, org_table, org_name), and only when one does is each row decoded, its masked cells
// replaced, and the row re-encoded. Text rows (length-encoded strings, 0xFB for NULL) and binary rows of
// COM_STMT_EXECUTE (a null bitmap offset by 2, then each non-null value in its type's encoding). One row at a time.
import { maskWireValue } from '../../domain/mask-values.js';
import type { MaskValueKind, ResolvedMask } from '../../domain/masking.js';
import type { MysqlMaskCatalog, MysqlMaskedColumn } from '../../inspect/mysql/mask-catalog.js';
import { ProtocolError, readLenenc } from './packets.js';

/** The bytes shown in place of a value's bytes, or null for NULL (maskWireValue in the gateway; a stand-in in tests). */
export type ApplyMask = (value: Buffer, kind: MaskValueKind, mask: ResolvedMask) => Buffer | null;

const applyMask: ApplyMask = (value, kind, mask) => maskWireValue(value, kind, false, mask);

/** Field types whose binary-protocol values are length-encoded strings that may hold masked text. */
const STRING_TYPES = new Set([15, 245, 247, 248, 249, 250, 251, 252, 253, 254]);
/** Field types whose binary-protocol values are length-encoded (strings, decimals, bits, geometry, JSON). */
const LENENC_TYPES = new Set([0, 15, 16, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255]);
/** Fixed sizes of the other binary-protocol types; dates and times carry their own length byte (-1). */
const FIXED_SIZE: Record<number, number> = { 1: 1, 2: 2, 13: 2, 3: 4, 9: 4, 4: 4, 5: 8, 8: 8, 6: 0, 7: -1, 10: -1, 11: -1, 12: -1, 14: -1, 17: -1, 18: -1, 19: -1 };

/** One column definition's origin and type. */
export interface ColumnOrigin {
  schema: string;
  orgTable: string;
  orgName: string;
  type: number;
}

/** Reads a ColumnDefinition41 payload: catalog, schema, table, org_table, name, org_name, then the fixed fields. */
export function readColumnDefinition(p: Buffer): ColumnOrigin {
  let off = 0;
  const strings: string[] = [];
  for (let k = 0; k < 6; k++) {
    const { value, next } = readLenenc(p, off);
    if (next + value > p.length) throw new ProtocolError('a column definition ended inside a name');
    strings.push(p.toString('utf8', next, next + value));
    off = next + value;
  }
  const fixed = readLenenc(p, off).next; // length of the fixed fields (0x0c)
  if (fixed + 7 > p.length) throw new ProtocolError('a short column definition');
  return { schema: strings[1]!, orgTable: strings[3]!, orgName: strings[5]!, type: p[fixed + 6]! };
}

export class ResultMasker {
  private masks: (MysqlMaskedColumn | null)[] = [];
  private types: number[] = [];
  /** Per masked cell of the row being rewritten: its [start, end) in the row, its new bytes, its null-bitmap bit. */
  private cellAt = new Int32Array(0);
  private outs: (Buffer | null)[] = [];
  private nullBits = new Int32Array(0);
  /** The current result has a masked column: its rows are decoded. */
  active = false;

  constructor(
    private readonly catalog: Pick<MysqlMaskCatalog, 'maskOf'>,
    readonly binary: boolean,
    private readonly apply: ApplyMask = applyMask,
  ) {}

  /** A result set starts (its column definitions follow). */
  begin(): void {
    this.masks = [];
    this.types = [];
    this.active = false;
  }

  /** One of its column definitions, in order. */
  column(payload: Buffer): void {
    const c = readColumnDefinition(payload);
    const m = this.catalog.maskOf(c.schema, c.orgTable, c.orgName);
    this.masks.push(m);
    this.types.push(c.type);
    if (m !== null) {
      this.active = true;
      const cells = this.masks.filter((x) => x !== null).length;
      if (this.nullBits.length < cells) {
        this.cellAt = new Int32Array(cells * 2);
        this.nullBits = new Int32Array(cells);
      }
    }
  }

  /**
   * A row's payload → the payload to send instead, or null when it needs no change. The new payload starts after
   * `headroom` bytes left for the caller (a packet header), so it is copied once.
   */
  row(p: Buffer, headroom = 0): Buffer | null {
    return this.binary ? this.binaryRow(p, headroom) : this.textRow(p, headroom);
  }

  private textRow(p: Buffer, headroom: number): Buffer | null {
    const n = this.masks.length;
    const at = this.cellAt;
    let changed = 0;
    let size = p.length;
    let off = 0;
    for (let i = 0; i < n; i++) {
      if (off >= p.length) throw new ProtocolError('a text row with fewer values than columns');
      if (p[off] === 0xfb) {
        off++;
        continue;
      }
      const head = lenencHead(p, off);
      const end = off + head + lenencValue(p, off, head);
      if (end > p.length) throw new ProtocolError('a text row ended inside a value');
      const m = this.masks[i]!;
      if (m !== null) {
        const out = m.kind === 'other' ? null : this.apply(p.subarray(off + head, end), m.kind, m.mask);
        at[changed * 2] = off;
        at[changed * 2 + 1] = end;
        this.outs[changed++] = out;
        size += (out === null ? 1 : lenencSize(out.length) + out.length) - (end - off);
      }
      off = end;
    }
    if (off !== p.length) throw new ProtocolError('a text row with more values than columns');
    if (changed === 0) return null;
    const dst = Buffer.allocUnsafe(headroom + size);
    let from = 0;
    let to = headroom;
    for (let k = 0; k < changed; k++) {
      to += p.copy(dst, to, from, at[k * 2]!);
      const out = this.outs[k]!;
      if (out === null) dst[to++] = 0xfb;
      else {
        to = writeLenenc(dst, to, out.length);
        to += out.copy(dst, to);
      }
      from = at[k * 2 + 1]!;
      this.outs[k] = null;
    }
    p.copy(dst, to, from);
    return dst;
  }

  private binaryRow(p: Buffer, headroom: number): Buffer | null {
    const n = this.masks.length;
    const bitmapBytes = (n + 9) >> 3;
    if (p[0] !== 0x00 || p.length < 1 + bitmapBytes) throw new ProtocolError('a binary row without its header');
    const at = this.cellAt;
    let changed = 0;
    let size = p.length;
    let off = 1 + bitmapBytes;
    for (let i = 0; i < n; i++) {
      const bit = i + 2;
      if (p[1 + (bit >> 3)]! & (1 << (bit & 7))) continue;
      const type = this.types[i]!;
      let start = off;
      let end: number;
      if (LENENC_TYPES.has(type)) {
        const head = lenencHead(p, off);
        start = off + head;
        end = start + lenencValue(p, off, head);
      } else {
        const fixed = FIXED_SIZE[type];
        if (fixed === undefined) throw new ProtocolError(`a binary row with a value of field type ${type}, which the gateway cannot mask around`);
        end = fixed >= 0 ? off + fixed : off + 1 + (p[off] ?? 0);
      }
      if (end > p.length) throw new ProtocolError('a binary row ended inside a value');
      const m = this.masks[i]!;
      if (m !== null) {
        const out = m.kind !== 'other' && STRING_TYPES.has(type) ? this.apply(p.subarray(start, end), m.kind, m.mask) : null;
        at[changed * 2] = off;
        at[changed * 2 + 1] = end;
        this.nullBits[changed] = bit;
        this.outs[changed++] = out;
        size += (out === null ? 0 : lenencSize(out.length) + out.length) - (end - off);
      }
      off = end;
    }
    if (off !== p.length) throw new ProtocolError('a binary row with more bytes than its values');
    if (changed === 0) return null;
    const dst = Buffer.allocUnsafe(headroom + size);
    let from = 0;
    let to = headroom;
    for (let k = 0; k < changed; k++) {
      to += p.copy(dst, to, from, at[k * 2]!);
      const out = this.outs[k]!;
      if (out !== null) {
        to = writeLenenc(dst, to, out.length);
        to += out.copy(dst, to);
      }
      from = at[k * 2 + 1]!;
    }
    p.copy(dst, to, from);
    // A value that became NULL: its bit in the copied bitmap.
    for (let k = 0; k < changed; k++) {
      if (this.outs[k] === null) dst[headroom + 1 + (this.nullBits[k]! >> 3)]! |= 1 << (this.nullBits[k]! & 7);
      this.outs[k] = null;
    }
    return dst;
  }
}

/** How many bytes the length-encoded integer at `off` takes (it must fit in the row). */
function lenencHead(p: Buffer, off: number): number {
  const first = p[off]!;
  const head = first < 0xfb ? 1 : first === 0xfc ? 3 : first === 0xfd ? 4 : first === 0xfe ? 9 : 0;
  if (head === 0 || off + head > p.length) throw new ProtocolError('a row with a malformed length');
  return head;
}

function lenencValue(p: Buffer, off: number, head: number): number {
  return head === 1 ? p[off]! : head === 3 ? p.readUInt16LE(off + 1) : head === 4 ? p.readUIntLE(off + 1, 3) : Number(p.readBigUInt64LE(off + 1));
}

/** Bytes of a length-encoded integer. */
function lenencSize(n: number): number {
  return n < 251 ? 1 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 9;
}

/** Writes a length-encoded integer at `at`; returns the index past it. */
function writeLenenc(dst: Buffer, at: number, n: number): number {
  if (n < 251) {
    dst[at] = n;
    return at + 1;
  }
  if (n < 0x10000) {
    dst[at] = 0xfc;
    dst.writeUInt16LE(n, at + 1);
    return at + 3;
  }
  if (n < 0x1000000) {
    dst[at] = 0xfd;
    dst.writeUIntLE(n, at + 1, 3);
    return at + 4;
  }
  dst[at] = 0xfe;
  dst.writeBigUInt64LE(BigInt(n), at + 1);
  return at + 9;
}
