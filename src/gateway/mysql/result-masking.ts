// Masks the rows of one MySQL result as they pass: the column definitions (ColumnDefinition41) say which result columns
// come from a masked column (schema, org_table, org_name), and only when one does is each row decoded, its masked cells
// replaced, and the row re-encoded. Text rows (length-encoded strings, 0xFB for NULL) and binary rows of
// COM_STMT_EXECUTE (a null bitmap offset by 2, then each non-null value in its type's encoding). One row at a time.
import { maskWireValue } from '../../domain/mask-values.js';
import type { MaskValueKind, ResolvedMask } from '../../domain/masking.js';
import type { MysqlMaskCatalog, MysqlMaskedColumn } from '../../inspect/mysql/mask-catalog.js';
import { ProtocolError, lenencInt, readLenenc } from './packets.js';

/** The bytes shown in place of a value's bytes, or null for NULL (maskWireValue in the gateway; a stand-in in tests). */
export type ApplyMask = (value: Buffer, kind: MaskValueKind, mask: ResolvedMask) => Buffer | null;

const applyMask: ApplyMask = (value, kind, mask) => maskWireValue(value, kind, false, mask);

/** Field types whose binary-protocol values are length-encoded strings that may hold masked text. */
const STRING_TYPES = new Set([15, 245, 247, 248, 249, 250, 251, 252, 253, 254]);
/** Field types whose binary-protocol values are length-encoded (strings, decimals, bits, geometry, JSON). */
const LENENC_TYPES = new Set([0, 15, 16, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255]);
/** Fixed sizes of the other binary-protocol types; dates and times carry their own length byte (-1). */
const FIXED_SIZE: Record<number, number> = { 1: 1, 2: 2, 13: 2, 3: 4, 9: 4, 4: 4, 5: 8, 8: 8, 6: 0, 7: -1, 10: -1, 11: -1, 12: -1, 14: -1, 17: -1, 18: -1, 19: -1 };

const NULL_CELL = Buffer.from([0xfb]);

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
    if (m !== null) this.active = true;
  }

  /** A row's payload → the payload to send instead, or null when it needs no change. */
  row(p: Buffer): Buffer | null {
    return this.binary ? this.binaryRow(p) : this.textRow(p);
  }

  private textRow(p: Buffer): Buffer | null {
    const parts: Buffer[] = [];
    let last = 0;
    let off = 0;
    for (let i = 0; i < this.masks.length; i++) {
      if (off >= p.length) throw new ProtocolError('a text row with fewer values than columns');
      if (p[off] === 0xfb) {
        off++;
        continue;
      }
      const { value: len, next } = readLenenc(p, off);
      const end = next + len;
      if (end > p.length) throw new ProtocolError('a text row ended inside a value');
      const m = this.masks[i]!;
      if (m !== null) {
        const out = m.kind === 'other' ? null : this.apply(p.subarray(next, end), m.kind, m.mask);
        parts.push(p.subarray(last, off));
        if (out === null) parts.push(NULL_CELL);
        else parts.push(lenencInt(out.length), out);
        last = end;
      }
      off = end;
    }
    if (off !== p.length) throw new ProtocolError('a text row with more values than columns');
    if (parts.length === 0) return null;
    parts.push(p.subarray(last));
    return Buffer.concat(parts);
  }

  private binaryRow(p: Buffer): Buffer | null {
    const n = this.masks.length;
    const bitmapBytes = (n + 9) >> 3;
    if (p[0] !== 0x00 || p.length < 1 + bitmapBytes) throw new ProtocolError('a binary row without its header');
    const bitmap = Buffer.from(p.subarray(1, 1 + bitmapBytes));
    const parts: Buffer[] = [];
    let last = 1 + bitmapBytes;
    let off = last;
    for (let i = 0; i < n; i++) {
      const bit = i + 2;
      if (bitmap[bit >> 3]! & (1 << (bit & 7))) continue;
      const type = this.types[i]!;
      let start = off;
      let end: number;
      if (LENENC_TYPES.has(type)) {
        const { value, next } = readLenenc(p, off);
        start = next;
        end = next + value;
      } else {
        const size = FIXED_SIZE[type];
        if (size === undefined) throw new ProtocolError(`a binary row with a value of field type ${type}, which the gateway cannot mask around`);
        end = size >= 0 ? off + size : off + 1 + (p[off] ?? 0);
      }
      if (end > p.length) throw new ProtocolError('a binary row ended inside a value');
      const m = this.masks[i]!;
      if (m !== null) {
        const out = m.kind !== 'other' && STRING_TYPES.has(type) ? this.apply(p.subarray(start, end), m.kind, m.mask) : null;
        parts.push(p.subarray(last, off));
        if (out === null) bitmap[bit >> 3]! |= 1 << (bit & 7);
        else parts.push(lenencInt(out.length), out);
        last = end;
      }
      off = end;
    }
    if (off !== p.length) throw new ProtocolError('a binary row with more bytes than its values');
    if (parts.length === 0) return null;
    parts.push(p.subarray(last));
    return Buffer.concat([p.subarray(0, 1), bitmap, ...parts]);
  }
}
