// Applies a mask to one value: the text a method shows, and the bytes a gateway sends in place of a wire value.
// CONTRACT STUB (lead): helper h-mval implements these; the signatures stay.
import type { MaskValueKind, ResolvedMask } from './masking.js';

/** The text a method shows for a value's text; null: SQL NULL. */
export function maskText(value: string, mask: ResolvedMask): string | null {
  void value; void mask;
  throw new Error('maskText: not built yet');
}

/**
 * One result value as the wire carries it (PostgreSQL text or binary format; MySQL text or binary protocol strings
 * are `binary: false`) → the bytes to send instead, or null for SQL NULL. Kind `other` (numbers, dates, arrays…)
 * becomes NULL whatever the method, since no masked text is a valid value of those types.
 */
export function maskWireValue(value: Buffer, kind: MaskValueKind, binary: boolean, mask: ResolvedMask): Buffer | null {
  void value; void kind; void binary; void mask;
  throw new Error('maskWireValue: not built yet');
}
