// `airlock audit verify|export`: through the API, or offline against a store or an exported file.
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { run } from './command.js';
import { EXIT, UsageError } from './output.js';
import { qs } from './client.js';
// The chain check and the store load only for offline verification (--file, --data, --store); see eslint.config.js.
import type { VerifyResult } from '../audit/chain.js';
import { systemClock } from '../domain/clock.js';
import type { AuditEvent } from '../domain/model.js';

function parseHead(text: string | undefined): { seq: number; hash?: string } | undefined {
  if (!text) return undefined;
  const [seq, hash] = text.split(':');
  if (!seq || !/^\d+$/.test(seq)) throw new UsageError('--expect-head takes SEQ or SEQ:HASH, e.g. 1200:9f86d0…');
  return { seq: Number(seq), hash };
}

async function* jsonlEvents(file: string): AsyncGenerator<AuditEvent> {
  const rl = createInterface({ input: file === '-' ? process.stdin : createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    try {
      yield JSON.parse(text) as AuditEvent;
    } catch {
      throw new UsageError(`${file}:${line}: not a JSON event; is this an "airlock audit export" file?`);
    }
  }
}

function report(v: VerifyResult): string {
  return v.ok ? `ok: ${v.events} events, chain intact; head ${v.head.seq}:${v.head.hash}` : `BROKEN at seq ${v.first_bad_seq}: ${v.reason}\n(${v.events} events verified before it)`;
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('check the hash chain and name the first bad sequence number')
    .option('--data <dir>', 'offline: verify the SQLite store in this data directory')
    .addOption(new Option('--store <url>', 'offline: verify this store (postgres://… or a SQLite file); prefer the variable, which keeps a password out of the process list').env('AIRLOCK_STORE_URL'))
    .option('--file <path>', 'offline: verify an exported JSONL file ("-" for stdin)')
    .option('--expect-head <seq:hash>', 'also check the chain reaches this head (recorded earlier, elsewhere)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { data?: string; store?: string; file?: string; expectHead?: string }, cmd: Command) => {
        const expectHead = parseHead(o.expectHead);
        // A --data given on the command line wins over a store from the environment (the server's variable).
        if (o.data && cmd.getOptionValueSource('store') === 'env') o.store = undefined;
        let v: VerifyResult;
        if (o.file) {
          const { verifyEvents } = await import('../audit/chain.js');
          v = await verifyEvents(jsonlEvents(o.file), { expectHead });
        } else if (o.data || o.store) {
          const [{ verifyEvents }, { openStore }, { makeAuditLog }] = await Promise.all([import('../audit/chain.js'), import('../store/store.js'), import('../audit/audit-log.js')]);
          const store = await openStore({ url: o.store ?? join(o.data!, 'airlock.db') });
          try {
            const log = makeAuditLog({ store, clock: systemClock });
            // Without a head recorded elsewhere, the store's own check applies (it also catches rows past its head).
            v = expectHead ? await verifyEvents(log.events(), { expectHead }) : await log.verify();
          } finally {
            await store.close();
          }
        } else {
          v = await ctx.client().get<VerifyResult>('/api/v1/audit/verify');
          if (v.ok && expectHead && (v.head.seq < expectHead.seq || (v.head.seq === expectHead.seq && expectHead.hash && v.head.hash !== expectHead.hash))) {
            v = { ...v, ok: false, first_bad_seq: Math.min(v.head.seq + 1, expectHead.seq), reason: 'the chain does not reach the expected head' };
          }
        }
        ctx.out(report(v), v);
        return v.ok ? EXIT.ok : EXIT.error;
      }),
    );
  audit
    .command('export')
    .description('stream audit events (for a SIEM)')
    .option('--format <format>', 'jsonl', 'jsonl')
    .option('--since <time>', 'from this ISO time (inclusive), e.g. 2026-03-01T00:00:00Z')
    .option('--until <time>', 'before this ISO time')
    .option('--action <action>', 'only this action (or prefix*)')
    .option('--actor <name>', 'only this actor')
    .option('--output <file>', 'write to a file instead of stdout')
    .option('--json', 'accepted for uniformity: the output is JSON lines already')
    .action(
      run(async (ctx, o: { format: string; since?: string; until?: string; action?: string; actor?: string; output?: string }) => {
        if (o.format !== 'jsonl') throw new UsageError('Only --format jsonl is supported.');
        for (const [k, v] of [['since', o.since], ['until', o.until]] as const) if (v && Number.isNaN(Date.parse(v))) throw new UsageError(`--${k} must be an ISO time such as 2026-03-01T00:00:00Z`);
        const res = await ctx.client().stream(`/api/v1/audit/events${qs({ format: 'jsonl', limit: 100000, since: o.since && new Date(o.since).toISOString(), until: o.until && new Date(o.until).toISOString(), action: o.action, actor: o.actor })}`);
        const out: NodeJS.WritableStream = o.output ? createWriteStream(o.output, { mode: 0o600 }) : process.stdout;
        const reader = res.body!.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
        }
        if (o.output) await new Promise<void>((r) => out.end(() => r()));
      }),
    );
}
