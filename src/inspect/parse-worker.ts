// Worker thread entry: analyses large statements with its own copy of the parser, off the gateway's event loop.

import { parentPort } from 'node:worker_threads';
import { analyze, initInspect, type Analysis } from './analysis.js';

export interface ParseJob {
  id: number;
  sql: string;
}

export interface ParseReply {
  id: number;
  analysis: Analysis;
}

const port = parentPort;
if (port === null) throw new Error('parse-worker.ts runs only inside a worker thread');
await initInspect();
// Messages sent while the parser loaded stay queued on the port until this listener starts it.
port.on('message', (job: ParseJob) => {
  let analysis: Analysis;
  try {
    analysis = analyze(job.sql);
  } catch (e) {
    analysis = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  const reply: ParseReply = { id: job.id, analysis };
  port.postMessage(reply);
});
