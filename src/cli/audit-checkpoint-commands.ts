// `airlock audit checkpoints|public-key|rotate-key`, and what `audit verify --public-key` prints about checkpoints.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { run } from './command.js';
import { table, when } from './output.js';
import type { Client } from './client.js';
import type { AuditEvent } from '../domain/model.js';
import type { CheckpointsResult } from '../audit/checkpoint-verify.js';

/** The events to check, read from the server in pages of the export's largest size, and the head before the walk. */
export function serverEvents(client: Pick<Client, 'get' | 'stream'>) {
  const PAGE = 100_000;
  return {
    async head(): Promise<{ seq: number; hash: string }> {
      return (await client.get<{ head: { seq: number; hash: string } }>(`/api/v1/audit/events?limit=1&after_seq=${Number.MAX_SAFE_INTEGER}`)).head;
    },
    async *events(): AsyncGenerator<AuditEvent> {
      let after = 0;
      for (;;) {
        const res = await client.stream(`/api/v1/audit/events?format=jsonl&limit=${PAGE}&after_seq=${after}`);
        const text = await res.text();
        let n = 0;
        for (const line of text.split('\n')) {
          if (!line.trim()) continue;
          const e = JSON.parse(line) as AuditEvent;
          n++;
          after = e.seq;
          yield e;
        }
        if (n < PAGE) return;
      }
    },
  };
}

export function describeCheckpoints(c: CheckpointsResult): string {
  const keys = c.keys.length > 1 ? ` (keys followed: ${c.keys.map((k) => `${k.slice(0, 16)}…`).join(' → ')})` : '';
  const head = `checkpoints: ${c.valid} of ${c.checked} valid${keys}; vouched for up to seq ${c.last_vouched_seq}; ${c.unvouched_events} event(s) after it not vouched for yet`;
  const unchecked = c.list.filter((x) => x.unchecked).length;
  const lines = [head, ...(unchecked ? [`  ${unchecked} checkpoint(s) signed by earlier keys were not checked (give the first public key to check them)`] : [])];
  if (c.ok) return lines.join('\n');
  const bad = c.first_invalid;
  lines.push(bad ? `CHECKPOINT INVALID at seq ${bad.seq} (covers ${bad.covers_seq}): ${bad.problem}` : `CHECKPOINTS MISSING: ${c.reason}`);
  return lines.join('\n');
}

interface Listed {
  seq: number;
  covers_seq: number;
  time: string;
  key_id: string;
  next_key_id: string | null;
  sink: string;
  sink_error: string | null;
}

export function registerCheckpointCommands(audit: Command): void {
  audit
    .command('checkpoints')
    .description('list the signed checkpoints of the audit chain (admins and auditors)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().get<{ checkpoints: Listed[]; sink: string | null; key_id: string }>('/api/v1/audit/checkpoints');
        const rows = r.checkpoints.map((c) => ({
          seq: c.seq, covers: c.covers_seq, time: when(c.time), key: `${c.key_id.slice(0, 16)}…`,
          rotation: c.next_key_id ? `→ ${c.next_key_id.slice(0, 16)}…` : '', sink: c.sink_error ? `${c.sink}: ${c.sink_error}` : c.sink,
        }));
        ctx.out(`${table(rows, ['seq', 'covers', 'time', 'key', 'rotation', 'sink'])}key in use: ${r.key_id}${r.sink ? `; sink: ${r.sink}` : ''}\n`, r);
      }),
    );
  audit
    .command('public-key')
    .description('print the public key audit checkpoints are signed with (for `audit verify --public-key`)')
    .option('--output <file>', 'write the PEM to this file')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { output?: string }) => {
        const r = await ctx.client().get<{ key_id: string; algorithm: string; public_key: string }>('/api/v1/audit/public-key');
        if (o.output) writeFileSync(o.output, r.public_key);
        ctx.out(o.output ? `wrote ${o.output} (key id ${r.key_id})` : `${r.public_key.trimEnd()}\nkey id: ${r.key_id}`, r);
      }),
    );
  audit
    .command('rotate-key')
    .description('make a new checkpoint key, announced in a checkpoint signed by the current one (admin)')
    .option('--output <file>', 'write the new public key (PEM) to this file')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { output?: string }) => {
        const r = await ctx.client().post<{ previous_key_id: string; key_id: string; checkpoint_seq: number; public_key: string }>('/api/v1/audit/rotate-key');
        if (o.output) writeFileSync(o.output, r.public_key);
        ctx.out(`rotated: key ${r.previous_key_id.slice(0, 16)}… announced ${r.key_id} in checkpoint ${r.checkpoint_seq}; later checkpoints are signed by the new key. Auditors keep verifying with the first public key.`, r);
      }),
    );
}
