// `airlock recordings`, `airlock replay SESSION` and `airlock sessions watch SESSION`: recorded SSH and exec sessions,
// listed, played back in this terminal (or written out as the asciicast file), and followed live.
import { InvalidArgumentError, type Command } from 'commander';
import { run } from './command.js';
import { qs, type Client } from './client.js';
import { table, when } from './output.js';

/** Idle gaps in a replay are cut to this many seconds (at --speed 1), so a session left open over lunch plays in a blink. */
export const DEFAULT_IDLE_LIMIT = 2;

interface RecordingRow {
  session_id: string;
  principal: string;
  resource: string | null;
  protocol: string;
  started_at: string;
  duration_ms: number | null;
  bytes: number;
  events: number;
}

function positive(name: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number greater than 0, e.g. 2 or 0.5`);
    return n;
  };
}

export function duration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Lines of a streamed body, as they arrive. */
async function* lines(res: Response): AsyncGenerator<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  buf += decoder.decode();
  if (buf) yield buf;
}

function write(data: string): Promise<void> {
  return new Promise((resolve) => (process.stdout.write(data) ? resolve() : process.stdout.once('drain', () => resolve())));
}

/** Plays an asciicast v2 stream to stdout: output events at their recorded pace (/ speed), idle gaps cut to idleLimit. */
async function play(res: Response, o: { speed: number; idleLimit: number }): Promise<{ events: number; header: Record<string, unknown> }> {
  let header: Record<string, unknown> | null = null;
  let last = 0;
  let events = 0;
  for await (const line of lines(res)) {
    if (!line.trim()) continue;
    if (header === null) {
      header = JSON.parse(line) as Record<string, unknown>;
      continue;
    }
    const [t, kind, data] = JSON.parse(line) as [number, string, string];
    const gap = Math.min(Math.max(0, t - last), o.idleLimit);
    last = t;
    if (gap > 0) await sleep((gap * 1000) / o.speed);
    events++;
    // Keystrokes (recorded only when the role says so) are not echoed: the terminal's own echo is in the output.
    if (kind === 'o') await write(data);
  }
  return { events, header: header ?? {} };
}

async function recordingText(client: Client, id: string): Promise<Response> {
  return client.stream(`/api/v1/sessions/${encodeURIComponent(id)}/recording`);
}

export function registerRecordingCommands(program: Command): void {
  program
    .command('recordings')
    .description('recorded SSH and exec sessions, newest first (yours, or all for admins and auditors)')
    .option('--principal <name>', 'only this principal\'s')
    .option('--resource <name>', 'only on this resource')
    .option('--since <time>', 'from this ISO time (default: 30 days ago)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { principal?: string; resource?: string; since?: string; limit: string }) => {
        const r = await ctx.client().get<{ recordings: RecordingRow[] }>(`/api/v1/recordings${qs({ principal: o.principal, resource: o.resource, since: o.since && new Date(o.since).toISOString(), limit: o.limit })}`);
        const rows = r.recordings.map((x) => ({ session: x.session_id, principal: x.principal, resource: x.resource, protocol: x.protocol, started: when(x.started_at), duration: duration(x.duration_ms), size: size(x.bytes), events: x.events }));
        ctx.out(table(rows, ['session', 'principal', 'resource', 'protocol', 'started', 'duration', 'size', 'events']) + (rows.length ? 'Play one with: airlock replay SESSION\n' : ''), r.recordings);
      }),
    );

  program
    .command('replay')
    .description(`play a recorded session in this terminal at its recorded pace (idle gaps cut to ${DEFAULT_IDLE_LIMIT} s), or write its asciicast file with --raw`)
    .argument('<session>', 'session id (ses_…), from `airlock recordings`')
    .option('--speed <n>', 'play this many times faster (0.5: slower)', positive('--speed'), 1)
    .option('--idle-limit <seconds>', 'cut pauses longer than this many seconds', positive('--idle-limit'), DEFAULT_IDLE_LIMIT)
    .option('--raw', 'write the asciicast v2 file to stdout instead (for `asciinema play -`, or to keep it)')
    .action(
      run(async (ctx, id: string, o: { speed: number; idleLimit: number; raw?: boolean }) => {
        const res = await recordingText(ctx.client(), id);
        if (o.raw) {
          const reader = res.body!.getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            if (!process.stdout.write(value)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
          }
          return;
        }
        // What this is goes to stderr, so stdout holds only the session's own output.
        process.stderr.write(`airlock: replaying ${id} at ${o.speed}x; pauses longer than ${o.idleLimit} s are cut to ${o.idleLimit} s (Ctrl-C stops)\n`);
        const { events } = await play(res, o);
        process.stderr.write(`\nairlock: end of ${id} (${events} events)\n`);
      }),
    );

  const sessions = program.commands.find((c) => c.name() === 'sessions');
  (sessions ?? program.command('sessions'))
    .command('watch')
    .description('follow a live SSH or exec session in this terminal (watch-only; audited)')
    .argument('<session>', 'session id (ses_…), from `airlock sessions`')
    .option('--json', 'print the events as JSON lines instead')
    .action(
      run(async (ctx, id: string) => {
        const res = await ctx.client().stream(`/api/v1/sessions/${encodeURIComponent(id)}/live`);
        if (!ctx.json) process.stderr.write(`airlock: watching ${id} live (Ctrl-C stops; the session does not see you, but the audit log does)\n`);
        let event = 'message';
        let reason = 'the session ended';
        for await (const line of lines(res)) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) {
            const data = JSON.parse(line.slice(6)) as unknown;
            if (ctx.json) process.stdout.write(`${JSON.stringify(event === 'message' ? data : { event, ...(data as object) })}\n`);
            else if (event === 'message' && Array.isArray(data) && data[1] === 'o') await write(String(data[2]));
            if (event === 'end') reason = String((data as { reason?: string }).reason ?? reason);
          } else if (line === '') event = 'message';
        }
        if (!ctx.json) process.stderr.write(`\nairlock: stopped watching ${id}: ${reason}\n`);
      }),
    );
}
