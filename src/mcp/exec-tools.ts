// The exec tool: one command on a granted exec resource (through the exec front-end the API's websocket uses, as one
// more ExecChannel) or ssh resource (through this server's own SSH listener, logged in with the caller's token).
import { z } from 'zod';
import { Client as SshClient } from 'ssh2';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError } from '../domain/errors.js';
import { answer, refusal, type CallAuth, type ExecMessage, type ExecSessionLike, type McpDeps } from './context.js';
import type { ToolHost } from './tool-host.js';

/** Output kept per stream; the rest is counted, not returned. */
export const MAX_OUTPUT_BYTES = 256 * 1024;
/** A command still running after this long is ended (the session's end is audited with the reason). */
export const EXEC_TIMEOUT_MS = 10 * 60_000;

interface Collected {
  stdout: string;
  stderr: string;
  exit_code: number | null;
  signal: string | null;
  truncated: boolean;
}

function collector() {
  const parts = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const size = { stdout: 0, stderr: 0 };
  let truncated = false;
  return {
    add(which: 'stdout' | 'stderr', d: Buffer) {
      const room = MAX_OUTPUT_BYTES - size[which];
      if (d.length > room) truncated = true;
      if (room > 0) parts[which].push(d.subarray(0, room));
      size[which] += Math.min(room, d.length);
    },
    done: (exit_code: number | null, signal: string | null): Collected => ({ stdout: Buffer.concat(parts.stdout).toString('utf8'), stderr: Buffer.concat(parts.stderr).toString('utf8'), exit_code, signal, truncated }),
  };
}

/** POSIX shell quoting for one word, so an argv reaches the SSH host's shell as the same words. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

async function viaExecFrontEnd(deps: McpDeps, call: CallAuth, resource: string, command: string[] | string, target: string | undefined, signal: AbortSignal): Promise<CallToolResult> {
  if (!deps.openExec) throw new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', 'this Airlock server does not run exec sessions');
  const token = call.caller.token_id ? await deps.access.tokens.byId(call.caller.token_id) : undefined;
  if (!token?.valid) throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'the access token of this call is not valid any more');
  const out = collector();
  let error: { code: string; message: string } | null = null;
  let exit: { code: number | null; signal: string | null } | null = null;
  let session: ExecSessionLike | null = null;
  let closed: () => void = () => {};
  const ended = new Promise<void>((r) => (closed = r));
  session = await deps.openExec({ principal: call.caller.principal, token: { id: token.id, expires_at: token.expires_at }, resource, target, tty: null, env: {}, source: call.caller.source, application_name: 'airlock-mcp' }, {
    stdout: (d) => out.add('stdout', d),
    stderr: (d) => out.add('stderr', d),
    send(m: ExecMessage) {
      // One command per call: its exit ends the session.
      if (m.type === 'exit') {
        exit = { code: m.code, signal: m.signal };
        void session?.close('the command ended (an MCP exec call runs one command)');
      } else if (m.type === 'error') {
        error = { code: m.code, message: m.message };
      }
    },
    close: () => closed(),
  });
  const s = session;
  const timer = setTimeout(() => void s.close(`the command ran longer than ${EXEC_TIMEOUT_MS / 60_000} minutes (the MCP exec limit)`), EXEC_TIMEOUT_MS);
  const onAbort = () => void s.close('the MCP client cancelled the call');
  signal.addEventListener('abort', onAbort, { once: true });
  if (typeof command === 'string') s.runLine(command);
  else s.run(command);
  s.eof();
  await Promise.race([ended, s.ended]);
  clearTimeout(timer);
  signal.removeEventListener('abort', onAbort);
  const err = error as { code: string; message: string } | null;
  const ex = exit as { code: number | null; signal: string | null } | null;
  if (err && !ex) return refusal(err.code, err.message);
  return answer({ resource, session_id: s.id, ...out.done(ex?.code ?? null, ex?.signal ?? null), ...(err ? { error: err } : {}) });
}

function viaSsh(deps: McpDeps, call: CallAuth, resource: string, command: string[] | string, signal: AbortSignal): Promise<CallToolResult> {
  const gw = deps.sshGateway();
  if (!gw) throw new AirlockError('AIRLOCK_UPSTREAM_UNAVAILABLE', 'this Airlock server runs no SSH gateway');
  const line = typeof command === 'string' ? command : command.map(shellWord).join(' ');
  const out = collector();
  const expectedKey = gw.host_key.split(' ')[1] ?? '';
  return new Promise<CallToolResult>((resolve) => {
    const c = new SshClient();
    let done = false;
    const finish = (r: CallToolResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.end();
      resolve(r);
    };
    const timer = setTimeout(() => finish(refusal('AIRLOCK_SESSION_ENDED', `the command ran longer than ${EXEC_TIMEOUT_MS / 60_000} minutes (MCP exec limit); it was ended`)), EXEC_TIMEOUT_MS);
    signal.addEventListener('abort', () => finish(refusal('AIRLOCK_SESSION_ENDED', 'the MCP client cancelled the call')), { once: true });
    c.on('error', (e: Error & { level?: string }) => finish(e.level === 'client-authentication' ? refusal('AIRLOCK_SSH_REFUSED', `the SSH gateway refused the login as ${call.caller.principal.name}%${resource}: check the grant (list_grants)`) : refusal('AIRLOCK_UPSTREAM_UNAVAILABLE', `the SSH gateway could not be reached: ${e.message}`)));
    c.on('ready', () => {
      c.exec(line, (err, stream) => {
        if (err) return finish(refusal('AIRLOCK_SSH_REFUSED', err.message));
        let code: number | null = null;
        let sig: string | null = null;
        stream.on('data', (d: Buffer) => out.add('stdout', d));
        stream.stderr.on('data', (d: Buffer) => out.add('stderr', d));
        stream.on('exit', (c1: number | null, s1?: string) => {
          code = c1;
          sig = s1 ?? null;
        });
        stream.on('close', () => {
          const r = out.done(code, sig);
          // The SSH gateway tells a refusal on stderr as "airlock: … (AIRLOCK_…)" and nothing ran: a refusal, not output.
          const m = r.stdout === '' ? /^airlock: ([^]*?) \((AIRLOCK_[A-Z_]+)\)\s*$/.exec(r.stderr) : null;
          finish(m ? refusal(m[2]!, m[1]!) : answer({ resource, ...r }));
        });
        stream.end();
      });
    });
    const host = ['0.0.0.0', '::', ''].includes(gw.host) ? '127.0.0.1' : gw.host;
    c.connect({ host, port: gw.port, username: `${call.caller.principal.name}%${resource}`, password: call.token, readyTimeout: 15_000, hostVerifier: (key: Buffer) => key.toString('base64') === expectedKey });
  });
}

export function registerExecTools(host: ToolHost) {
  const { deps } = host;
  return host.define('exec', {
    title: 'Run a command',
    description: `Runs one command on an exec resource (a container or pod target) or an ssh host you hold a grant on, through Airlock's gateway: the role's command rules apply and the session is recorded and audited. command is an argv array (preferred) or a command line; no terminal, no input. Answers stdout, stderr (each cut at ${MAX_OUTPUT_BYTES / 1024} KiB, truncated says so) and exit_code; a command runs at most ${EXEC_TIMEOUT_MS / 60_000} minutes. Refusals start with their code (e.g. AIRLOCK_COMMAND_REFUSED, AIRLOCK_NO_GRANT).`,
    inputSchema: {
      resource: z.string().min(1).max(100).describe('an exec or ssh resource you hold an active grant on'),
      command: z.union([z.array(z.string().max(10_000)).min(1).max(1000), z.string().min(1).max(60_000)]).describe('argv, e.g. ["ls","-l","/var/log"], or a command line'),
      target: z.string().min(1).max(200).optional().describe('exec resources: one of its targets (default: the first)'),
    },
  }, async (a, call, extra) => {
    const r = deps.access.policy().resource(a.resource);
    if (!r) throw new AirlockError('AIRLOCK_UNKNOWN_RESOURCE', `there is no resource ${a.resource}; list_resources shows those you may request`);
    if (r.kind !== 'exec' && r.kind !== 'ssh') throw new AirlockError('AIRLOCK_BAD_INPUT', `${a.resource} is a ${r.kind} resource; exec runs commands on exec and ssh resources${r.kind === 'postgres' ? ' (use query)' : ''}`);
    if (!(await deps.access.grants.activeFor(call.caller.principal.name, a.resource))) throw new AirlockError('AIRLOCK_NO_GRANT', `no active grant for ${a.resource} — request one with request_access`);
    return r.kind === 'exec' ? viaExecFrontEnd(deps, call, a.resource, a.command, a.target, extra.signal) : viaSsh(deps, call, a.resource, a.command, extra.signal);
  }, (a) => ({ target: a.resource, arguments: { resource: a.resource, target: a.target ?? null, command: a.command } }));
}
