// `airlock request --wait`: follows the request over the SSE stream, with a live status line, until it is decided.
import type { Client } from './client.js';
import { relative } from './output.js';

interface RequestView {
  id: string;
  status: string;
  grant_id: string | null;
  timeout_at: string;
  reviews?: { reviewer: string; decision: string }[];
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Resolves with the request once it is no longer pending. Falls back to polling when the stream drops. */
export async function waitForDecision(client: Client, id: string, opts: { live: boolean }): Promise<RequestView> {
  const started = Date.now();
  let current = await client.get<RequestView>(`/api/v1/requests/${id}`);
  if (current.status !== 'pending') return current;
  const tty = opts.live && process.stderr.isTTY;
  let frame = 0;
  const status = () => {
    if (!opts.live) return;
    const approvals = current.reviews?.filter((r) => r.decision === 'approve').length ?? 0;
    const line = `${SPIN[frame++ % SPIN.length]} ${id} pending — waiting for approval${approvals ? ` (${approvals} so far)` : ''}, ${Math.round((Date.now() - started) / 1000)}s; times out ${relative(Date.parse(current.timeout_at) - Date.now())}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
  };
  if (opts.live && !tty) process.stderr.write(`waiting for a decision on ${id} …\n`);
  const ticker = setInterval(status, 250);
  const abort = new AbortController();
  try {
    for (;;) {
      try {
        const res = await client.stream('/api/v1/events', abort.signal);
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        // Re-read after subscribing: a decision made between the first read and the subscription is not missed.
        current = await client.get<RequestView>(`/api/v1/requests/${id}`);
        if (current.status !== 'pending') return current;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (!data) continue;
            const change = JSON.parse(data.slice(6)) as { kind: string; id: string };
            if (change.kind === 'request' && change.id === id) {
              current = await client.get<RequestView>(`/api/v1/requests/${id}`);
              if (current.status !== 'pending') return current;
            }
          }
        }
      } catch (e) {
        if (abort.signal.aborted) throw e;
      }
      // The stream ended (server restart, proxy): poll once, then reconnect.
      await new Promise((r) => setTimeout(r, 1000));
      current = await client.get<RequestView>(`/api/v1/requests/${id}`);
      if (current.status !== 'pending') return current;
    }
  } finally {
    clearInterval(ticker);
    abort.abort();
    if (tty) process.stderr.write('\r\x1b[2K');
  }
}
