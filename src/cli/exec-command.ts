// `airlock exec RESOURCE [--target T] [-- command…]`: a command, or an interactive shell with a terminal, on an exec
// resource's target through the API's websocket (GET /api/v1/exec); the command's exit code becomes airlock's.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { run, type Ctx } from './command.js';
import { readSaved, DEFAULT_SERVER } from './client.js';
import { EXIT, UsageError } from './output.js';
import { AirlockError, ERRORS, type ErrorCode } from '../domain/errors.js';

interface ExecOptions {
  target?: string;
  tty?: boolean;
  server?: string;
  token?: string;
}

export interface ExecResult {
  session_id: string | null;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  error: { code: string; message: string } | null;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };

function connection(o: ExecOptions): { url: string; token: string; ca?: string } {
  const saved = readSaved();
  const server = (o.server ?? process.env.AIRLOCK_SERVER ?? saved.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  const token = o.token ?? process.env.AIRLOCK_TOKEN ?? saved.token;
  if (!token) throw new UsageError('no access token: run `airlock login`, set AIRLOCK_TOKEN or pass --token');
  const ca = process.env.AIRLOCK_CA ? readFileSync(process.env.AIRLOCK_CA, 'utf8') : saved.server?.replace(/\/+$/, '') === server ? saved.ca : undefined;
  return { url: server.replace(/^http/, 'ws'), token, ca };
}

/** Runs one exec session; with `interactive` the terminal is put in raw mode (and always restored). */
async function execSession(ctx: Ctx, resource: string, argv: string[], o: ExecOptions): Promise<ExecResult> {
  const { WebSocket } = await import('ws');
  const c = connection(o);
  const stdin = process.stdin;
  const tty = o.tty ?? (stdin.isTTY === true && process.stdout.isTTY === true && !ctx.json);
  const cols = process.stdout.columns || 80;
  const rows = process.stdout.rows || 24;
  const q = new URLSearchParams({ resource });
  if (o.target) q.set('target', o.target);
  if (tty) {
    q.set('tty', '1');
    q.set('cols', String(cols));
    q.set('rows', String(rows));
    q.append('env', `TERM=${process.env.TERM ?? 'xterm-256color'}`);
  }
  for (const k of ['LANG', ...Object.keys(process.env).filter((n) => n.startsWith('LC_'))]) if (process.env[k]) q.append('env', `${k}=${process.env[k]}`);
  const ws = new WebSocket(`${c.url}/api/v1/exec?${q}`, { headers: { authorization: `Bearer ${c.token}` }, ...(c.ca ? { ca: c.ca } : {}), maxPayload: 16 * 1024 * 1024 });
  const result: ExecResult = { session_id: null, exit_code: null, signal: null, stdout: '', stderr: '', error: null };
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const raw = tty && stdin.isTTY === true;
  const restore = (): void => {
    if (raw && stdin.isTTY) stdin.setRawMode(false);
  };
  process.once('exit', restore);
  const onResize = (): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: process.stdout.columns, rows: process.stdout.rows }));
  };
  const onInput = (d: Buffer): void => {
    if (ws.readyState === ws.OPEN) ws.send(d, { binary: true });
  };
  const onInputEnd = (): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'eof' }));
  };
  try {
    await new Promise<void>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => reject(new AirlockError('AIRLOCK_INTERNAL', `the server answered ${res.statusCode} instead of opening the exec websocket; is it an Airlock server with exec?`)));
      ws.on('error', (e) => reject(new AirlockError('AIRLOCK_INTERNAL', `cannot reach Airlock at ${c.url}: ${e.message}`)));
      ws.on('close', () => resolve());
      ws.on('message', (data: Buffer, binary: boolean) => {
        if (binary) {
          if (ctx.json) out.push(data);
          else process.stdout.write(data);
          return;
        }
        const m = JSON.parse(data.toString('utf8')) as { type: string; [k: string]: unknown };
        if (m.type === 'ready') {
          result.session_id = String(m.session_id);
          ws.send(JSON.stringify({ type: 'exec', ...(argv.length ? { argv } : {}) }));
          if (raw) stdin.setRawMode(true);
          if (tty) process.stdout.on('resize', onResize);
          // With --json and no piped input, the command reads nothing.
          if (!ctx.json || !stdin.isTTY) {
            stdin.on('data', onInput);
            stdin.once('end', onInputEnd);
            stdin.resume();
          } else onInputEnd();
        } else if (m.type === 'stderr') {
          const d = Buffer.from(String(m.data), 'base64');
          if (ctx.json) err.push(d);
          else process.stderr.write(d);
        } else if (m.type === 'exit') {
          result.exit_code = typeof m.code === 'number' ? m.code : null;
          result.signal = typeof m.signal === 'string' ? m.signal : null;
          ws.close(1000);
        } else if (m.type === 'error') {
          result.error = { code: String(m.code), message: String(m.message) };
        }
      });
    });
  } finally {
    restore();
    process.off('exit', restore);
    process.stdout.off('resize', onResize);
    stdin.off('data', onInput);
    stdin.off('end', onInputEnd);
    stdin.pause();
  }
  result.stdout = Buffer.concat(out).toString('utf8');
  result.stderr = Buffer.concat(err).toString('utf8');
  return result;
}

/** The exit code: the command's own, 128 + the signal's number, or the refusal's (3 refused, 1 otherwise). */
export function execExitCode(r: ExecResult): number {
  if (r.error) {
    const spec = (ERRORS as Record<string, { kind: string }>)[r.error.code];
    return spec?.kind === 'refused' || r.error.code === 'AIRLOCK_SESSION_ENDED' ? EXIT.refused : spec?.kind === 'usage' ? EXIT.usage : EXIT.error;
  }
  if (r.exit_code !== null) return r.exit_code;
  if (r.signal) return 128 + (SIGNALS[r.signal] ?? 0);
  return EXIT.error;
}

export function registerExecCommand(program: Command): void {
  program
    .command('exec')
    .description('Run a command (or an interactive shell) on an exec resource, e.g. a pod or container: airlock exec RESOURCE [--target T] [-- command…]')
    .argument('<resource>', 'the exec resource')
    .argument('[command...]', 'the command and its arguments (after --); none: the resource\'s default shell')
    .option('--target <target>', 'one of the resource\'s targets (default: the first)')
    .option('--tty', 'a terminal even when stdin is not one')
    .option('--no-tty', 'no terminal even when stdin is one')
    .action(
      run(async (ctx, resource: string, command: string[], opts: { target?: string; tty?: boolean }, cmd: Command) => {
        const g = cmd.optsWithGlobals() as { server?: string; token?: string };
        const r = await execSession(ctx, resource, command, { target: opts.target, tty: opts.tty, server: g.server, token: g.token });
        if (ctx.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else if (r.error && r.error.code !== 'AIRLOCK_SESSION_ENDED') process.stderr.write(`airlock: ${r.error.message} [${r.error.code as ErrorCode}]\n`);
        return execExitCode(r);
      }),
    );
}
