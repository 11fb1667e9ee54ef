// Options that come from environment variables: which one a value came from (for messages), and on/off switches
// read strictly, since commander turns a switch on for any value — AIRLOCK_ALLOW_HTTP=false must not mean yes.
import type { Command } from 'commander';
import { UsageError } from './output.js';

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off', '']);

/** How to name an option in a message: its flag, or the variable it was read from. */
export function flagOrEnv(cmd: Command, key: string): string {
  const opt = cmd.options.find((o) => o.attributeName() === key);
  if (!opt) return key;
  return cmd.getOptionValueSource(key) === 'env' && opt.envVar ? opt.envVar : opt.long ?? key;
}

/** Switches set from the environment: 1/true/yes/on turn them on, 0/false/no/off (or empty) off, anything else is refused. */
export function checkSwitchesFromEnv(cmd: Command): void {
  for (const opt of cmd.options) {
    if (opt.required || opt.optional || !opt.envVar) continue;
    const key = opt.attributeName();
    if (cmd.getOptionValueSource(key) !== 'env') continue;
    const raw = (process.env[opt.envVar] ?? '').trim().toLowerCase();
    if (ON.has(raw)) continue;
    if (!OFF.has(raw)) throw new UsageError(`${opt.envVar} must be 1, true, yes or on (or 0, false, no, off); got "${process.env[opt.envVar]}"`);
    cmd.setOptionValueWithSource(key, undefined, 'env');
  }
}
