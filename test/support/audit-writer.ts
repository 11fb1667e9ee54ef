// A child process for the durability test: appends audit events without pause, batched and through units of work,
// and prints "ACK <seq> <n> <how>" once each append has resolved, until it is killed.
// Usage: node --import tsx test/support/audit-writer.ts <store url> <first n> [thread]
import { openStore } from '../../src/store/store.js';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { startAuditWriter } from '../../src/audit/audit-writer.js';
import { makeUnitOfWork } from '../../src/access/unit-of-work.js';
import { makeChangeBus } from '../../src/access/change-bus.js';
import { systemClock } from '../../src/domain/clock.js';

const [url, firstArg, mode] = process.argv.slice(2);
if (!url) {
  console.error('usage: audit-writer.ts <store url> <first n> [thread]');
  process.exit(2);
}
// Never outlive a parent that failed to kill us.
setTimeout(() => process.exit(3), 60_000).unref();

const store = await openStore({ url });
// "thread": the batched appends commit on the audit writer thread, as in the server.
const writer = mode === 'thread' ? startAuditWriter(url) : undefined;
await writer?.ready;
const audit = makeAuditLog({ store, clock: systemClock, writer }, { maxBatch: 50, batchDelayMs: 2 });
const uow = makeUnitOfWork({ store, audit, bus: makeChangeBus() });

// Which seq each event got, by its n: listeners hear of events after commit and before the append resolves.
const seqOf = new Map<number, number>();
audit.onAppended((events) => {
  for (const e of events) seqOf.set(Number(e.details.n), e.seq);
});

let next = Number(firstArg ?? 0);

async function worker(): Promise<never> {
  for (;;) {
    const n = next++;
    let how: string;
    if (n % 3 === 0) {
      // A state change and its event in one transaction, as the access services make them.
      await uow(async (trx, rec) => {
        await trx.insertInto('meta').values({ key: `durability:${n}`, value: String(n) }).execute();
        rec.audit({ actor: 'writer', action: 'test.change', details: { n } });
      });
      how = 'uow';
    } else {
      await audit.append({ actor: 'writer', action: 'test.hot', details: { n, sql: 'select 1' } });
      how = 'batch';
    }
    // stdout to a pipe is synchronous on Linux: once this returns, the parent can read the line.
    process.stdout.write(`ACK ${seqOf.get(n) ?? '?'} ${n} ${how}\n`);
  }
}

process.stdout.write('READY\n');
await Promise.all(Array.from({ length: 16 }, () => worker()));
