// A bounded cache of statement verdicts by SQL text: two generations, so a hit costs one or two Map lookups and the
// least recently used half is dropped at once when the young generation fills.
import type { MaskVerdict } from './types.js';

export interface VerdictCacheLimits {
  /** Entries per generation (default 1,000). */
  entries?: number;
  /** Characters of SQL text per generation (default 1,000,000). */
  chars?: number;
  /** Longer texts are not cached (default 32,768). */
  maxTextChars?: number;
}

export class VerdictCache {
  private young = new Map<string, MaskVerdict>();
  private old = new Map<string, MaskVerdict>();
  private youngChars = 0;
  private readonly entries: number;
  private readonly chars: number;
  readonly maxTextChars: number;

  constructor(limits: VerdictCacheLimits = {}) {
    this.entries = limits.entries ?? 1000;
    this.chars = limits.chars ?? 1_000_000;
    this.maxTextChars = limits.maxTextChars ?? 32_768;
  }

  get(key: string): MaskVerdict | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: string, v: MaskVerdict): void {
    if (key.length > this.maxTextChars) return;
    if (this.young.size >= this.entries || this.youngChars + key.length > this.chars) {
      this.old = this.young;
      this.young = new Map();
      this.youngChars = 0;
    }
    this.young.set(key, v);
    this.youngChars += key.length;
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
