// The audit writer thread (see audit-writer.ts): its own connection to the store, one transaction per batch, batches
// strictly in the order they arrive.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../domain/clock.js';
import { openStore } from '../store/store.js';
import { makeAuditLog, rowToEvent } from './audit-log.js';
import { BUSY_RETRY_FOR_MS, unpackInputs, type WriterReply, type WriterRequest } from './audit-writer.js';

const port = parentPort!;
const store = await openStore({ url: (workerData as { url: string }).url, poolSize: 1 });
const log = makeAuditLog({ store, clock: systemClock });

/**
 * SQLite answers SQLITE_BUSY when the main thread held the write lock past busy_timeout; such a batch is retried for
 * BUSY_RETRY_FOR_MS, a bound the main side's reply deadline is derived from.
 */
async function commit(req: Extract<WriterRequest, { fields: unknown }>): Promise<WriterReply> {
  const inputs = unpackInputs(req.fields);
  const started = Date.now();
  for (;;) {
    try {
      const rows = await store.transaction((trx) => log.appendEncodedInTx(trx, inputs));
      const events = req.wantEvents ? rows.map(rowToEvent) : null;
      return { id: req.id, ok: true, events };
    } catch (e) {
      const busy = (e as { code?: string }).code === 'SQLITE_BUSY';
      if (!busy || Date.now() - started > BUSY_RETRY_FOR_MS) return { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }
}

let chain = Promise.resolve();
port.on('message', (req: WriterRequest) => {
  chain = chain.then(async () => {
    if ('close' in req) {
      await store.close();
      port.close();
      return;
    }
    port.postMessage(await commit(req));
  });
});
port.postMessage({ ready: true } satisfies WriterReply);
