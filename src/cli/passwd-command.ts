// `airlock passwd`: set a console password (your own, or anyone's as admin), read from a prompt without echo or stdin.
import type { Command } from 'commander';
import { run } from './command.js';
import { UsageError } from './output.js';

/** Reads one line from the terminal without echoing it; Ctrl-C or Ctrl-D abandon. */
export function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err: Error | null) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003' || ch === '\u0004') return done(new UsageError('Cancelled; the password was not changed.'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

/** The first line of stdin (for scripts: `printf '%s\n' "$PW" | airlock passwd --principal alice`). */
export function readFirstLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const finish = () => {
      process.stdin.pause();
      resolve(buf.split(/\r?\n/)[0] ?? '');
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => {
      buf += c;
      if (buf.includes('\n')) finish();
    });
    process.stdin.on('end', finish);
  });
}

export function registerPasswdCommand(program: Command): void {
  program
    .command('passwd')
    .description('set a console password: your own, or anyone\'s as admin (read from a prompt without echo, or from stdin)')
    .option('--principal <name>', 'whose password (default: yours)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { principal?: string }) => {
        const client = ctx.client();
        const principal = o.principal ?? (await client.get<{ principal: { name: string } }>('/api/v1/whoami')).principal.name;
        let password: string;
        if (process.stdin.isTTY) {
          password = await promptHidden(`New console password for ${principal}: `);
          const again = await promptHidden('Type it again: ');
          if (again !== password) throw new UsageError('The two passwords differ; nothing was changed.');
        } else {
          password = await readFirstLine();
        }
        if (!password) throw new UsageError('No password given: type it when asked, or send it on stdin.');
        const r = await client.post<{ principal: string; updated_at: string; console_sessions_ended: number }>(`/api/v1/principals/${encodeURIComponent(principal)}/password`, { password });
        const ended = r.console_sessions_ended ? ` ${r.console_sessions_ended} console session(s) signed in with the old password were ended.` : '';
        ctx.out(`Console password for ${r.principal} set.${ended}`, r);
      }),
    );
}
