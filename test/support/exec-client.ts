// A websocket client of GET /api/v1/exec for tests: what a user's `airlock exec` sends and sees, frame by frame.
import WebSocket from 'ws';

export interface ExecClient {
  ws: WebSocket;
  /** The session id once the gateway said ready; rejects with the refusal ({code, message}) otherwise. */
  ready: Promise<string>;
  /** Sends {"type":"exec"} with argv, or with a command line (a string). */
  exec(command?: string[] | string): void;
  stdin(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  eof(): void;
  /** Everything written to the client's terminal (stdout frames) so far. */
  stdout(): string;
  stderr(): string;
  /** The next exit message. */
  exit(): Promise<{ code: number | null; signal: string | null }>;
  /** Error messages received. */
  errors: { code: string; message: string }[];
  /** Settles when the connection closed, with when. */
  closed: Promise<{ at: number }>;
  close(): void;
}

export function execClient(apiUrl: string, token: string, q: Record<string, string | number | undefined>): ExecClient {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  const ws = new WebSocket(`${apiUrl.replace(/^http/, 'ws')}/api/v1/exec?${params}`, { headers: { authorization: `Bearer ${token}` } });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const errors: { code: string; message: string }[] = [];
  const exits: { code: number | null; signal: string | null }[] = [];
  const exitWaiters: ((e: { code: number | null; signal: string | null }) => void)[] = [];
  let readyResolve!: (id: string) => void;
  let readyReject!: (e: unknown) => void;
  const ready = new Promise<string>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => {});
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) return void out.push(data);
    const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    if (m.type === 'ready') readyResolve(String(m.session_id));
    else if (m.type === 'stderr') err.push(Buffer.from(String(m.data), 'base64'));
    else if (m.type === 'error') {
      const e = { code: String(m.code), message: String(m.message) };
      errors.push(e);
      readyReject(Object.assign(new Error(`${e.code}: ${e.message}`), e));
    } else if (m.type === 'exit') {
      const e = { code: m.code as number | null, signal: m.signal as string | null };
      const w = exitWaiters.shift();
      if (w) w(e);
      else exits.push(e);
    }
  });
  ws.on('error', () => {});
  const closed = new Promise<{ at: number }>((res) => ws.on('close', () => {
    readyReject(Object.assign(new Error('closed before ready'), { code: 'CLOSED', message: 'closed before ready' }));
    res({ at: Date.now() });
  }));
  const send = (m: unknown) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };
  return {
    ws,
    ready,
    exec: (c) => send(typeof c === 'string' ? { type: 'exec', command: c } : { type: 'exec', ...(c ? { argv: c } : {}) }),
    stdin: (d) => ws.send(Buffer.from(d), { binary: true }),
    resize: (cols, rows) => send({ type: 'resize', cols, rows }),
    eof: () => send({ type: 'eof' }),
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    exit: () => {
      const e = exits.shift();
      if (e) return Promise.resolve(e);
      return new Promise((res) => exitWaiters.push(res));
    },
    errors,
    closed,
    close: () => ws.close(),
  };


}
