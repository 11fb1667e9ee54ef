// The session channels of one SSH connection, relayed to the upstream host: a PTY, window changes, an interactive
// shell or one command (checked against the role's command rules), env variables from the role's allowlist, signals,
// the exit status back, EOF and close both ways with backpressure; sftp and scp only when the role allows file
// transfer, each file audited. Everything refused is audited as a statement (decision refused, rule ssh.<what>) and,
// where the channel has a stderr, said there.
import type { Readable, Writable } from 'node:stream';
import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel, Session, SetEnvInfo } from 'ssh2';
import type { Log } from '../../domain/log.js';
import type { Recording } from '../../audit/recordings.js';
import { checkCommand, parseCommandLine, quoteArgv } from '../../inspect/commands.js';
import type { GatewaySession } from '../core/session-lifecycle.js';
import type { RelayedBytes, SessionPlan } from '../types.js';
import { describeSftp, makeSftpAudit } from './sftp-audit.js';
import { runsFileTransfer } from './file-transfer.js';

/** What every channel of a connection shares. */
export interface ChannelContext {
  plan: SessionPlan;
  session: GatewaySession;
  upstream: Client;
  /** The connection's recording, started by its first shell or exec (with that channel's terminal size). */
  recording(size: { cols: number; rows: number } | null, title: string): Recording;
  log: Log;
  /** Open client channels: how a live cut reaches them. */
  open: Set<OpenChannel>;
  /** The reason the session was cut, or null while it lives: nothing new starts after the cut. */
  cutReason(): string | null;
  bytes?: RelayedBytes;
  /**
   * Counts one refused request of the connection: true while it may be audited; false once the connection is over
   * MAX_REFUSALS (it is then being ended, that audited once), so a flood of refused requests costs one audit line.
   */
  refusal(): boolean;
}

/** Refused requests one connection may make before it is ended: a real client makes a handful. */
export const MAX_REFUSALS = 64;
/** Notices kept for a channel's stderr; further refusals are only counted there. */
const MAX_NOTICES = 16;
/** Client env variables kept per channel, and the longest name and value. */
const MAX_ENV = 64;
const MAX_ENV_NAME = 256;
const MAX_ENV_VALUE = 4096;

/**
 * Variables never passed to the host, whatever the role's ssh.env says: they make the host's shell or loader run other
 * code (LD_PRELOAD, BASH_ENV, a PATH of the client's choosing) or send traffic elsewhere (*_PROXY). The host's own
 * sshd AcceptEnv is its wall too; this one holds even where the host accepts everything.
 */
const NEVER_RELAYED = /^(LD_.*|DYLD_.*|BASH_ENV|ENV|PATH|IFS|GCONV_PATH|LOCPATH|GLIBC_TUNABLES|NODE_OPTIONS|PYTHON.*|PERL5.*|BASH_FUNC_.*|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|HOSTALIASES|.*_PROXY)$/i;

/** A client-chosen name (env variable, subsystem, address) as audit text: at most `max` characters, then its size. */
export function clip(text: string, max = 200): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}…(${Buffer.byteLength(text)} bytes)`;
}

/** A PTY size from the client, clamped for the recording and the host: 1..1000 cells, 0..16384 pixels. */
export function clampSize<T extends { cols: number; rows: number; width: number; height: number }>(info: T): T {
  const cells = (n: number, d: number): number => (Number.isInteger(n) && n >= 1 ? Math.min(n, 1000) : d);
  const pixels = (n: number): number => (Number.isInteger(n) && n >= 0 ? Math.min(n, 16384) : 0);
  return { ...info, cols: cells(info.cols, 80), rows: cells(info.rows, 24), width: pixels(info.width), height: pixels(info.height) };
}

/** A client channel as the live cut sees it. */
export interface OpenChannel {
  channel: ServerChannel;
  pty: boolean;
  upstream: ClientChannel | null;
}

/** The line a cut session's terminals get (on stdout under a PTY, else on stderr). */
export function cutText(reason: string): string {
  return `\r\nairlock: session ended — ${reason}\r\n`;
}

/** A refused request, audited and (when there is a channel) said on its stderr. */
function refuse(cx: ChannelContext, rule: string, text: string, why: string): string {
  if (cx.refusal()) cx.session.recordStatement({ text, fingerprint: null, decision: 'refused', rule, rows: 0, duration_ms: 0, error: why });
  return `airlock: ${why}\r\n`;
}

const ruleText: Record<string, string> = {
  'ssh.port_forwarding': 'port forwarding',
  'ssh.agent_forwarding': 'agent forwarding',
  'ssh.x11': 'X11 forwarding',
  'ssh.file_transfer': 'file transfer (sftp, scp)',
  'ssh.shell': 'an interactive shell',
  'ssh.env': 'setting this environment variable',
};

/** The refusal sentence for a role flag that is off. */
export function notAllowed(cx: Pick<ChannelContext, 'plan'>, rule: string, detail = ''): string {
  const flag = rule.replace(/^ssh\./, '');
  return `${ruleText[rule] ?? rule}${detail} is not allowed for role ${cx.plan.role.name} (ssh.${flag} is off in the policy) (AIRLOCK_SSH_REFUSED)`;
}

/** Whether the role lets the client set env variable `name` ("LC_*" is a prefix). */
export function envAllowed(allow: readonly string[], name: string): boolean {
  return allow.some((a) => (a.endsWith('*') ? name.startsWith(a.slice(0, -1)) : a === name));
}

export function handleSession(cx: ChannelContext, session: Session): void {
  const role = cx.plan.role;
  let pty: PseudoTtyInfo | null = null;
  const env: Record<string, string> = {};
  const notices: string[] = [];
  let unsaid = 0;
  let open: OpenChannel | null = null;
  const note = (text: string): void => {
    if (notices.length < MAX_NOTICES) notices.push(text);
    else unsaid++;
  };
  const said = (): string => notices.join('') + (unsaid > 0 ? `airlock: ${unsaid} more requests were refused (see the audit log)\r\n` : '');

  session.on('pty', (accept, _reject, info) => {
    const term = /^[A-Za-z0-9._+-]{1,64}$/.test(info.term ?? '') ? info.term : 'xterm-256color';
    pty = { ...clampSize(info), term };
    accept?.();
  });
  session.on('window-change', (accept, _reject, raw) => {
    const info = clampSize(raw);
    if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
    open?.upstream?.setWindow(info.rows, info.cols, info.height, info.width);
    if (open) cx.recording(null, '').resize(info.cols, info.rows);
    accept?.();
  });
  session.on('env', (accept, reject, info: SetEnvInfo) => {
    const name = clip(String(info.key));
    const value = String(info.val);
    let why: string | null = null;
    if (info.key.length > MAX_ENV_NAME || value.length > MAX_ENV_VALUE || value.includes('\0')) why = `the environment variable ${name} was not passed on: its name or value is too long (at most ${MAX_ENV_NAME} and ${MAX_ENV_VALUE} characters) (AIRLOCK_SSH_REFUSED)`;
    else if (NEVER_RELAYED.test(info.key)) why = `the environment variable ${name} is never passed on through Airlock, whatever the role allows: it can change what the host runs (AIRLOCK_SSH_REFUSED)`;
    else if (!envAllowed(role.ssh.env, info.key)) why = `the environment variable ${name} was not passed on: role ${role.name} allows only ${role.ssh.env.join(', ') || 'none'} (ssh.env in the policy) (AIRLOCK_SSH_REFUSED)`;
    else if (!(info.key in env) && Object.keys(env).length >= MAX_ENV) why = `the environment variable ${name} was not passed on: at most ${MAX_ENV} variables are passed per channel (AIRLOCK_SSH_REFUSED)`;
    if (why === null) {
      env[info.key] = value;
      return accept?.();
    }
    note(refuse(cx, 'ssh.env', `env ${name}`, why));
    reject?.();
  });
  session.on('x11', (_accept, reject) => {
    note(refuse(cx, 'ssh.x11', 'x11-req', notAllowed(cx, 'ssh.x11')));
    reject?.();
  });
  session.on('auth-agent', (_accept, reject) => {
    note(refuse(cx, 'ssh.agent_forwarding', 'auth-agent-req', notAllowed(cx, 'ssh.agent_forwarding')));
    reject?.();
  });
  session.on('signal', (accept, _reject, info) => {
    if (open?.upstream) signalUpstream(open.upstream, info.name);
    accept?.();
  });

  /** Accepts the channel (the client then reads our stderr) and ends it with `text` and exit status 1. */
  const acceptAndRefuse = (accept: () => ServerChannel, text: string): void => {
    const ch = accept();
    ch.on('error', () => {});
    ch.stderr.write(said() + text);
    ch.exit(1);
    ch.end();
  };

  /**
   * A shell, command or subsystem asked for after the cut (in the moment before the connection closes): not started,
   * audited as refused, and the channel told why with exit status 255, as the channels open at the cut were.
   */
  const afterCut = (accept: () => ServerChannel, text: string): boolean => {
    const reason = cx.cutReason();
    if (reason === null) return false;
    cx.session.recordStatement({ text, fingerprint: null, decision: 'refused', rule: 'session.ended', rows: 0, duration_ms: 0, error: reason });
    const ch = accept();
    ch.on('error', () => {});
    ch.stderr.write(cutText(reason));
    ch.exit(255);
    ch.end();
    return true;
  };

  const start = (ch: ServerChannel, kind: 'shell' | 'exec' | 'subsystem', command: string | null, audit: { text: string; onEnd?: (status: string | null) => void } | null): void => {
    ch.on('error', () => {});
    if (notices.length) ch.stderr.write(said());
    const o: OpenChannel = { channel: ch, pty: pty !== null && kind !== 'subsystem', upstream: null };
    open = o;
    cx.open.add(o);
    const started = Date.now();
    const rec = kind === 'subsystem' ? null : cx.recording(pty ? { cols: pty.cols, rows: pty.rows } : null, command ?? 'shell');
    const done = (up: ClientChannel | null, err: Error | undefined): void => {
      if (err || !up) {
        ch.stderr.write(`airlock: the host did not start the ${kind === 'exec' ? 'command' : kind}: ${err?.message ?? 'no channel'} (AIRLOCK_UPSTREAM_UNAVAILABLE)\r\n`);
        ch.exit(1);
        ch.end();
        cx.open.delete(o);
        return;
      }
      o.upstream = up;
      relay(cx, ch, up, rec, kind === 'subsystem' ? null : cx.plan.role.ssh.record_input, (status) => {
        cx.open.delete(o);
        if (audit) {
          cx.session.recordStatement({ text: audit.text, fingerprint: null, decision: 'allowed', rule: null, rows: 0, duration_ms: Date.now() - started, error: status });
          audit.onEnd?.(status);
        }
      });
    };
    const ptyOpts = pty ? { rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term, modes: pty.modes } : undefined;
    if (kind === 'shell') cx.upstream.shell(ptyOpts ?? false, { env }, (err, up) => done(up, err));
    else if (kind === 'exec') cx.upstream.exec(command!, { env, pty: ptyOpts ?? false }, (err, up) => done(up, err));
    else cx.upstream.subsys('sftp', (err, up) => done(up, err));
  };

  session.on('shell', (accept, reject) => {
    if (afterCut(accept, 'shell')) return;
    if (!role.ssh.shell) {
      const why = role.commands?.allow.length ? `an interactive shell is not allowed for role ${role.name}: it may run only the commands ${role.commands.allow.join(', ')} (ssh -- <command>) (AIRLOCK_SSH_REFUSED)` : notAllowed(cx, 'ssh.shell');
      return acceptAndRefuse(accept, refuse(cx, 'ssh.shell', 'shell', why));
    }
    void reject;
    start(accept(), 'shell', null, { text: 'shell' });
  });

  session.on('exec', (accept, _reject, info) => {
    const line = info.command;
    if (afterCut(accept, line)) return;
    const decided = decideExec(cx, line);
    if (decided.refused !== null) return acceptAndRefuse(accept, refuse(cx, decided.rule, line, decided.refused));
    const scp = scpTransfer(line);
    start(accept(), 'exec', decided.forward, { text: line, onEnd: scp ? (status) => cx.session.recordStatement({ text: scp, fingerprint: null, decision: 'allowed', rule: 'ssh.file_transfer', rows: 0, duration_ms: 0, error: status }) : undefined });
  });

  session.on('subsystem', (accept, reject, info) => {
    if (afterCut(accept, `subsystem ${info.name}`)) return;
    if (info.name !== 'sftp') {
      const name = clip(String(info.name));
      note(refuse(cx, 'ssh.subsystem', `subsystem ${name}`, `the subsystem ${name} is not served through Airlock (AIRLOCK_SSH_REFUSED)`));
      return reject?.();
    }
    if (!role.ssh.file_transfer) {
      refuse(cx, 'ssh.file_transfer', 'subsystem sftp', notAllowed(cx, 'ssh.file_transfer'));
      return reject?.();
    }
    const ch = accept();
    start(ch, 'subsystem', null, { text: 'subsystem sftp' });
  });
}

/**
 * Sends a signal request to the host's channel. ssh2's ClientChannel.signal() sends nothing once our side sent EOF
 * (the client closed stdin, as `ssh host cmd </dev/null` does), yet the command still runs and a live cut must still
 * reach it, so the request goes through the channel's protocol object while the channel is open or half-closed.
 */
export function signalUpstream(up: ClientChannel, name: string): void {
  const c = up as unknown as { _client?: { _protocol?: { signal(id: number, sig: string): void } }; outgoing?: { id: number; state: string } };
  const state = c.outgoing?.state;
  if (!c._client?._protocol || !c.outgoing || (state !== 'open' && state !== 'eof')) return;
  try {
    c._client._protocol.signal(c.outgoing.id, name.replace(/^SIG/, ''));
  } catch {
    // an unknown signal name from the client: not passed on
  }
}

type ExecDecision = { refused: null; forward: string } | { refused: string; rule: string };

/**
 * An exec request's fate. With command rules on the role, the line is parsed as POSIX shell words (anything a shell
 * would expand or chain is refused: fail closed), checked, and the re-quoted argv goes upstream, never the raw line.
 * Without rules the role may run anything (as in its shell), so the line goes as typed; file-transfer programs are
 * still refused unless ssh.file_transfer, wherever the line names them (./file-transfer.ts).
 */
export function decideExec(cx: Pick<ChannelContext, 'plan'>, line: string): ExecDecision {
  const role = cx.plan.role;
  const rules = role.commands && (role.commands.allow.length > 0 || role.commands.deny.length > 0) ? role.commands : undefined;
  if (!role.ssh.file_transfer && runsFileTransfer(line)) {
    return { refused: `file transfer is not allowed for role ${role.name} (ssh.file_transfer is off in the policy), and this command runs or names scp, sftp, sftp-server or rsync (AIRLOCK_SSH_REFUSED)`, rule: 'ssh.file_transfer' };
  }
  const parsed = parseCommandLine(line);
  if ('error' in parsed) {
    if (rules) return { refused: `the command was refused: ${parsed.error}; with command rules on role ${role.name}, a command is plain words (no pipes, redirections, variables or ;) (AIRLOCK_COMMAND_REFUSED)`, rule: 'commands.parse' };
    return { refused: null, forward: line };
  }
  if (!rules) return { refused: null, forward: line };
  const d = checkCommand(parsed.argv, rules);
  if (d.decision === 'refused') return { refused: `the command was refused: ${d.reason ?? 'no rule of the role allows it'} (AIRLOCK_COMMAND_REFUSED)`, rule: d.rule ?? 'commands' };
  return { refused: null, forward: quoteArgv(parsed.argv) };
}

/** scp -t PATH (upload to the host) or scp -f PATH (download): what the audit says of a legacy scp exec. */
export function scpTransfer(line: string): string | null {
  const parsed = parseCommandLine(line);
  if ('error' in parsed || (parsed.argv[0] ?? '').split('/').pop() !== 'scp') return null;
  const argv = parsed.argv.slice(1);
  const flags = argv.filter((a) => a.startsWith('-')).join('');
  const path = argv.filter((a) => !a.startsWith('-')).join(' ') || '.';
  if (flags.includes('t')) return `scp upload ${path}`;
  if (flags.includes('f')) return `scp download ${path}`;
  return null;
}

/**
 * Pipes both ways with backpressure (stream pipes pause the side whose peer's window is full), taps output (and input
 * when asked) into the recording, and, when the upstream command ends, passes its exit status or signal back before
 * closing the client channel. `onEnd` gets the exit status text (null for 0).
 */
function relay(cx: ChannelContext, ch: ServerChannel, up: ClientChannel, rec: Recording | null, recordInput: boolean | null, onEnd: (status: string | null) => void): void {
  const bytes = cx.bytes;
  const sftp = rec === null ? makeSftpAudit((e) => cx.session.recordStatement({ text: describeSftp(e), fingerprint: null, decision: 'allowed', rule: 'ssh.file_transfer', rows: 0, duration_ms: 0, error: null })) : null;
  up.on('error', () => {});
  const tapOut = (d: Buffer): void => {
    if (bytes) bytes.toClient += d.length;
    rec?.output(d);
    sftp?.server(d); // the host's replies: which requests are answered, handles opened, bytes read
  };
  up.on('data', tapOut);
  up.stderr.on('data', (d: Buffer) => {
    if (bytes) bytes.toClient += d.length;
    rec?.output(d);
  });
  up.pipe(ch, { end: false });
  (up.stderr as Readable).pipe(ch.stderr as Writable, { end: false });
  if (!sftp) {
    ch.on('data', (d: Buffer) => {
      if (bytes) bytes.toUpstream += d.length;
      if (recordInput) rec?.input(d);
    });
    ch.pipe(up); // the client's EOF becomes the host's EOF (ClientChannel.end sends EOF, keeps reading)
  } else {
    // sftp: each chunk is read by the audit before it may go on; one the audit refuses never reaches the host.
    let stopped = false;
    ch.on('data', (d: Buffer) => {
      if (stopped) return;
      const why = sftp.client(d);
      if (why !== null) {
        stopped = true;
        const text = `the sftp session was ended: ${why} (AIRLOCK_SSH_REFUSED)`;
        if (cx.refusal()) cx.session.recordStatement({ text: `sftp ${why}`, fingerprint: null, decision: 'refused', rule: 'ssh.file_transfer', rows: 0, duration_ms: 0, error: text });
        ch.stderr.write(`airlock: ${text}\r\n`);
        up.unpipe(ch);
        up.close();
        ch.exit(1);
        ch.end();
        return;
      }
      if (bytes) bytes.toUpstream += d.length;
      if (!up.write(d)) {
        ch.pause();
        up.once('drain', () => ch.resume());
      }
    });
    ch.once('end', () => void (stopped || up.end()));
  }

  let exit: { code: number | null; signal?: string } | null = null;
  up.on('exit', (code: number | null, signal?: string) => void (exit = { code, signal }));
  let outEnded = false;
  let errEnded = false;
  let closed = false;
  let finished = false;
  const finish = (): void => {
    if (finished || !(closed && outEnded && errEnded)) return;
    finished = true;
    sftp?.end();
    if (exit?.code !== null && exit?.code !== undefined) ch.exit(exit.code);
    else if (exit?.signal) ch.exit(exit.signal.replace(/^SIG/, ''), false, '');
    ch.end();
    onEnd(exit === null ? 'no exit status' : exit.code === 0 ? null : exit.code !== null ? `exit status ${exit.code}` : `signal ${exit.signal}`);
  };
  up.once('end', () => void ((outEnded = true), finish()));
  up.stderr.once('end', () => void ((errEnded = true), finish()));
  // ssh2 ends both readable sides when the host closes the channel, so 'end' follows even without an EOF.
  up.once('close', () => void ((closed = true), finish()));
  // The client closed its side (or went away): the host's command gets its channel closed too.
  ch.once('close', () => {
    up.close();
    if (!finished) {
      finished = true;
      sftp?.end();
      onEnd(exit === null ? 'closed by the client' : exit.code === 0 ? null : `exit status ${exit.code ?? exit.signal}`);
    }
  });
}
