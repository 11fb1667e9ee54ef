// The live policy: loaded from a file, reloaded on SIGHUP or on change; an invalid new file is refused and the old one kept.
import { watch, type FSWatcher } from 'node:fs';
import { loadPolicyFile, parsePolicy, PolicyError, type PolicyProblem } from './load.js';
import type { Policy } from './compile.js';

export type ReloadOutcome =
  | { ok: true; changed: boolean; policy: Policy; previous_hash: string }
  | { ok: false; problems: PolicyProblem[]; kept_hash: string };

export interface PolicySource {
  current(): Policy;
  reload(): ReloadOutcome;
  /** Watches the file; calls back after each reload attempt that a change caused. */
  watch(onReload: (o: ReloadOutcome) => void): void;
  close(): void;
}

export function makePolicySource(file: string): PolicySource {
  let policy = loadPolicyFile(file);
  let watcher: FSWatcher | null = null;
  let debounce: NodeJS.Timeout | null = null;

  function reload(): ReloadOutcome {
    const previous = policy.hash;
    try {
      const next = loadPolicyFile(file);
      policy = next;
      return { ok: true, changed: next.hash !== previous, policy: next, previous_hash: previous };
    } catch (e) {
      const problems = e instanceof PolicyError ? e.problems : [{ file, line: 0, column: 0, field: '', message: String(e) }];
      return { ok: false, problems, kept_hash: previous };
    }
  }

  return {
    current: () => policy,
    reload,
    watch(onReload) {
      // Editors often write a file in several steps (truncate, write, rename): wait for quiet before reading.
      const arm = () => {
        watcher?.close();
        try {
          watcher = watch(file, () => {
            if (debounce) clearTimeout(debounce);
            debounce = setTimeout(() => {
              const o = reload();
              if (!o.ok || o.changed) onReload(o);
              arm(); // a rename replaces the inode; watch the new file
            }, 200);
          });
          watcher.on('error', () => {});
        } catch {
          watcher = null;
        }
      };
      arm();
    },
    close() {
      if (debounce) clearTimeout(debounce);
      watcher?.close();
    },
  };
}

/** A fixed policy from text (tests, `policy check` of stdin). */
export function staticPolicySource(text: string, file = 'policy.yaml'): PolicySource {
  const policy = parsePolicy(text, file);
  return { current: () => policy, reload: () => ({ ok: true, changed: false, policy, previous_hash: policy.hash }), watch() {}, close() {} };
}
