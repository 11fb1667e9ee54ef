// What every command shares: the context built from the global flags, and the wrapper that prints and exits.
import { InvalidArgumentError, type Command } from 'commander';
import { makeClient, type Client } from './client.js';
import { EXIT, exitCodeFor, printError, printJson } from './output.js';
import { parseDuration } from '../domain/duration.js';

export interface Ctx {
  json: boolean;
  client(): Client;
  out(human: string, json: unknown): void;
}

type Action = (ctx: Ctx, ...args: any[]) => Promise<number | void>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Wraps a command: builds the context from flags, prints errors in the chosen format, sets the exit code. */
export function run(fn: Action) {
  return async function airlockCommand(...args: unknown[]) {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.optsWithGlobals() as { json?: boolean; server?: string; token?: string };
    const json = Boolean(o.json);
    const ctx: Ctx = {
      json,
      client: () => makeClient({ server: o.server, token: o.token }),
      out: (human, data) => (json ? printJson(data) : process.stdout.write(human.endsWith('\n') ? human : `${human}\n`)),
    };
    try {
      const code = await fn(ctx, ...args);
      process.exitCode = code ?? EXIT.ok;
    } catch (e) {
      printError(e, json);
      process.exitCode = exitCodeFor(e);
    }
  };
}

/**
 * An option parser for durations (--for, --ttl): a typo is a usage error that says what a duration looks like,
 * before anything is sent. The text goes to the server as typed; the server applies the role's limits.
 */
export function durationArg(text: string): string {
  if (parseDuration(text) === undefined) throw new InvalidArgumentError(`"${text}" is not a duration; write a number with a unit, e.g. 30m, 2h, 1h30m or 7d.`);
  return text;
}
