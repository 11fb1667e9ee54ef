// What the gateway knows of a session's prepared statement names: the decision and text a protocol Parse gave each
// name, trusted only once the server accepted that Parse, and forgotten whenever SQL may have changed the names.
import type { Decision } from '../../inspect/index.js';

interface Prepared {
  d: Decision;
  sql: string;
  /** The catalog generation it was decided under (session-catalog.ts): another one decides it again. */
  generation: number;
  /** Sent, and the server has not yet said whether it made the statement. */
  pending: boolean;
  /** The client Syncs forwarded before this Parse: a Bind after a later Sync is not skipped if the Parse failed. */
  sync: number;
  wake: (() => void) | null;
}

/** Kinds of statement after which the server's prepared statements may not be the ones the gateway saw parsed. */
const NAME_KINDS = new Set(['prepare', 'deallocate', 'discard']);

/**
 * A name the gateway does not know is bound as "unknown" (decision null): held under a review rule, audited and
 * ordered as a statement that may write. A name is unknown when no accepted Parse made it, when its Parse failed
 * (a Parse of a name that exists fails and leaves the server's statement in place, say one SQL PREPARE made), and
 * after SQL PREPARE, DEALLOCATE or DISCARD went to the server, whose effect on names the gateway does not follow.
 */
export class PreparedNames {
  private readonly names = new Map<string, Prepared>();
  private syncs = 0;

  /** A Parse of `name` goes to the server; the returned callback takes the server's answer (true: ParseComplete). */
  parsed(name: string, d: Decision, sql: string, generation: number): (ok: boolean) => void {
    const p: Prepared = { d, sql, generation, pending: true, sync: this.syncs, wake: null };
    this.names.set(name, p);
    return (ok) => {
      p.pending = false;
      if (!ok && this.names.get(name) === p) this.names.delete(name);
      const wake = p.wake;
      p.wake = null;
      wake?.();
    };
  }

  /** A Sync went to the server: requests after it run even if one before it failed. */
  synced(): void {
    this.syncs++;
  }

  closed(name: string): void {
    this.names.delete(name);
  }

  /** A statement went to the server that may have made, replaced or removed prepared statements: forget them all. */
  sent(d: Decision | null): void {
    if (d === null) return; // an Execute of a statement SQL PREPARE made: a plain DML or SELECT, which names nothing
    if (d.statements.length === 0 ? !d.reads_only : d.statements.some((s) => NAME_KINDS.has(s.kind))) this.names.clear();
  }

  /**
   * A Bind of `name` must wait for its Parse's answer when the Parse is unanswered and a Sync came between them: if
   * the Parse failed, the server would bind whatever it already had under the name. Calls `wake` once answered.
   */
  mustWait(name: string, wake: () => void): boolean {
    const p = this.names.get(name);
    if (!p?.pending || p.sync === this.syncs) return false;
    p.wake = wake;
    return true;
  }

  /** The decision and text of the statement a Bind names; null when the gateway does not know it. */
  get(name: string): { d: Decision; sql: string; generation: number } | null {
    return this.names.get(name) ?? null;
  }

  /** Its text judged again under a new catalog: null (unknown from now on) when that is refused or not decided now. */
  redecided(name: string, d: Decision | null, generation: number): { d: Decision; sql: string; generation: number } | null {
    const p = this.names.get(name);
    if (!p) return null;
    if (d === null || !d.allowed) {
      this.names.delete(name);
      return null;
    }
    p.d = d;
    p.generation = generation;
    return p;
  }
}
