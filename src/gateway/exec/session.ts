// The exec front-end: a session on a resource of kind exec (planned like any gateway session), its target, its
// commands (checked against the role's command rules, run from the resource's argv template, one at a time), the
// recording, and the live cut. Transport-neutral: the API's websocket (src/api/routes-exec.ts) is one ExecChannel.
import { AirlockError, type ErrorCode } from '../../domain/errors.js';
import type { Principal } from '../../domain/model.js';
import { checkCommand, displayArgv, parseCommandLine } from '../../inspect/commands.js';
import type { Recording } from '../../audit/recordings.js';
import { openSession, recordRefusal, type GatewaySession, type LoginToken } from '../core/session-lifecycle.js';
import type { GatewayDeps, SessionPlan } from '../types.js';
import { buildArgv, chooseTarget } from './template.js';
import { startExecProcess, type ExecProcess } from './process.js';

/** What the gateway sends a client besides its output. */
export type ExecServerMessage =
  | { type: 'ready'; session_id: string; resource: string; target: string; tty: boolean }
  | { type: 'exit'; code: number | null; signal: string | null }
  | { type: 'error'; code: ErrorCode; message: string };

/** How the session reaches its client (a websocket, an SSH channel). */
export interface ExecChannel {
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
  send(message: ExecServerMessage): void;
  /** Closes the connection; the session has ended. */
  close(): void;
  /**
   * Backpressure: the channel calls flow.pause() when more output waits to reach the client than it holds (a slow
   * client), and flow.resume() once it has drained; the session stops reading the command's output meanwhile.
   */
  setFlow?(flow: { pause(): void; resume(): void }): void;
}

export interface ExecOpening {
  principal: Principal;
  token: LoginToken;
  resource: string;
  /** A target from the resource's list; the first when absent. */
  target?: string;
  /** A terminal of this size, or none (pipes). */
  tty: { cols: number; rows: number } | null;
  /** Variables the client asks for: only LANG, LC_*, TERM and COLORTERM, and only those the role's ssh.env allows, are kept. */
  env?: Record<string, string>;
  source: string | null;
  application_name: string | null;
}

export interface ExecSession {
  readonly id: string;
  /** Runs a command (its argv; the resource's default_command when absent). One at a time. */
  run(argv: string[] | undefined): void;
  /** Runs a command line, read as strict shell words (src/inspect/commands.ts); shell syntax is refused and audited. */
  runLine(line: string): void;
  stdin(data: Buffer): void;
  /** No more input for the running command. */
  eof(): void;
  resize(cols: number, rows: number): void;
  /** The client went away or broke the protocol: ends the session (and any command) with `reason`. */
  close(reason: string, error?: { code: ErrorCode; message: string }): Promise<void>;
  /** Settles once the session has ended and session.end is written. */
  readonly ended: Promise<void>;
}

/**
 * The only variables ever taken from a client, and then only when the role's ssh.env lists them too: the template's
 * program runs on the gateway's own host, so an allowlist, not a blocklist (LD_PRELOAD, GCONV_PATH, *_PROXY…, however
 * a role is written).
 */
const FROM_CLIENT = /^(LANG|LC_[A-Z_]+|TERM|COLORTERM)$/;
/** What the template's program gets from the gateway's own environment (for kubectl/docker's configuration). */
const FROM_GATEWAY = ['PATH', 'HOME', 'LANG', 'KUBECONFIG', 'DOCKER_HOST', 'DOCKER_CONFIG', 'DOCKER_CONTEXT'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function allowedName(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** The environment of a command: PATH, HOME, LANG (and kubectl/docker settings) of the gateway, TERM, allowed client variables. */
export function commandEnv(role: SessionPlan['role'], client: Record<string, string> | undefined, tty: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of FROM_GATEWAY) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  env.PATH ??= DEFAULT_PATH;
  env.HOME ??= '/';
  for (const [k, v] of Object.entries(client ?? {})) {
    if (!FROM_CLIENT.test(k) || v.includes('\0') || v.length > 4096) continue;
    if (allowedName(k, role.ssh.env)) env[k] = v;
  }
  if (tty) env.TERM = /^[A-Za-z0-9._+-]{1,64}$/.test(env.TERM ?? '') ? env.TERM! : 'xterm-256color';
  else delete env.TERM;
  return env;
}

/**
 * Plans and opens an exec session; throws AirlockError (no grant, locked, unknown resource, target not allowed,
 * audit unavailable) after recording the refusal, so the caller only tells its client.
 */
export async function openExecSession(deps: GatewayDeps, o: ExecOpening, channel: ExecChannel): Promise<ExecSession> {
  const refuse = async (err: unknown, principal: string | null, resource: string | null): Promise<never> => {
    const e = err instanceof AirlockError ? err : new AirlockError('AIRLOCK_INTERNAL', 'the exec session could not be opened; see the server log');
    if (!(err instanceof AirlockError)) deps.log.error({ err: String(err) }, 'exec gateway: could not open a session');
    await recordRefusal(deps, { protocol: 'exec', principal, resource, source: o.source, code: e.code, airlock_code: e.code, reason: e.message });
    throw e;
  };
  let plan: SessionPlan;
  let target: string;
  try {
    plan = await deps.access.planSession(o.principal, o.resource, undefined, 'exec');
  } catch (e) {
    return refuse(e, o.principal.name, o.resource);
  }
  try {
    target = chooseTarget(plan.resource, o.target);
    if (!deps.recordings) throw new AirlockError('AIRLOCK_INTERNAL', 'exec sessions are recorded, and this server has no recordings directory; ask an admin');
  } catch (e) {
    return refuse(e, o.principal.name, o.resource);
  }
  // session.start names the target where a database session names its database.
  plan = { ...plan, upstream: { ...plan.upstream, database: target } };
  const session = await openSession(deps, { protocol: 'exec', plan, source: o.source, token: o.token, application_name: o.application_name }).catch((e: unknown) => refuse(e, null, null));
  const size = o.tty ?? { cols: 80, rows: 24 };
  let recording: Recording;
  try {
    recording = deps.recordings!.start({ session_id: session.id, width: size.cols, height: size.rows, record_input: plan.role.ssh.record_input, title: `${plan.resource.name} ${target}`, env: o.tty ? { TERM: commandEnv(plan.role, o.env, true).TERM! } : {} });
  } catch (e) {
    deps.log.error({ err: String(e), session_id: session.id }, 'exec gateway: could not start the recording');
    const err = new AirlockError('AIRLOCK_INTERNAL', 'the session could not be recorded, so it was not opened; ask an admin to check the data directory');
    await session.end(err.message);
    throw err;
  }
  return new ExecSessionImpl(deps, plan, target, o, channel, session, recording);
}

class ExecSessionImpl implements ExecSession {
  readonly id: string;
  readonly ended: Promise<void>;
  private child: ExecProcess | null = null;
  /** The channel asked to stop reading output until the client catches up (ExecChannel.setFlow). */
  private outputPaused = false;
  private running: { text: string; started: number } | null = null;
  private ending = false;
  private resolveEnded!: () => void;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly plan: SessionPlan,
    private readonly target: string,
    private readonly o: ExecOpening,
    private readonly channel: ExecChannel,
    private readonly session: GatewaySession,
    private readonly recording: Recording,
  ) {
    this.id = session.id;
    this.ended = new Promise((r) => (this.resolveEnded = r));
    session.registered({
      kill: (reason) => void this.cut(reason, 'AIRLOCK_SESSION_ENDED'),
      auditLost: (reason) => void this.cut(reason, 'AIRLOCK_AUDIT_UNAVAILABLE'),
      running: () => (this.running ? 1 : 0),
    });
    channel.setFlow?.({
      pause: () => {
        this.outputPaused = true;
        this.child?.pause();
      },
      resume: () => {
        this.outputPaused = false;
        this.child?.resume();
      },
    });
    channel.send({ type: 'ready', session_id: this.id, resource: plan.resource.name, target, tty: o.tty !== null });
  }

  run(asked: string[] | undefined): void {
    if (this.ending) return;
    if (this.running) {
      this.channel.send({ type: 'error', code: 'AIRLOCK_BAD_INPUT', message: 'a command is still running; wait for its exit before sending the next' });
      return;
    }
    const { role, resource } = this.plan;
    const rules = role.commands;
    const template = resource.exec!;
    let command: string[];
    let decision;
    if (asked && asked.length > 0) {
      command = asked;
      // The template's program may read a leading "-x" as its own option or "A=b" as a variable to set (env does,
      // even after --), which would run something other than what the rules saw: refused whatever the rules say.
      if (/^-|=/.test(command[0]!)) {
        return this.refused(displayArgv(command), 'commands.program', 'a program name cannot begin with "-" or hold "="; name the program to run first (e.g. env FOO=1 cmd, if the role allows env)');
      }
      decision = checkCommand(command, rules);
    } else {
      command = template.default_command;
      decision = (rules?.allow.length ?? 0) > 0 && !role.ssh.shell
        ? { decision: 'refused' as const, rule: 'commands.allow', reason: `role ${role.name} runs only the commands it lists (${rules!.allow.join(' | ')}), not a shell; name the command: airlock exec ${resource.name} -- <command>` }
        : checkCommand(command, { allow: [], deny: rules?.deny ?? [] });
    }
    const text = displayArgv(command);
    if (decision.decision === 'refused') return this.refused(text, decision.rule, decision.reason);
    this.running = { text, started: Date.now() };
    const tty = this.o.tty;
    try {
      this.child = startExecProcess({
        argv: buildArgv(template, this.target, command, tty !== null),
        env: commandEnv(role, this.o.env, tty !== null),
        tty,
        onStdout: (d) => {
          this.recording.output(d);
          this.channel.stdout(d);
        },
        onStderr: (d) => {
          this.recording.output(d);
          this.channel.stderr(d);
        },
        onExit: (code, signal) => this.exited(code, signal),
      });
      // The client has not caught up with the previous command's output yet.
      if (this.outputPaused) this.child.pause();
    } catch (e) {
      this.deps.log.error({ err: String(e), session_id: this.id }, 'exec gateway: could not start the command');
      this.exited(127, null);
    }
  }

  runLine(line: string): void {
    if (this.ending) return;
    const parsed = parseCommandLine(line);
    if ('argv' in parsed) return this.run(parsed.argv);
    this.refused(line.slice(0, 4096), 'commands.syntax', parsed.error);
  }

  private refused(text: string, rule: string | null, reason: string): void {
    this.session.recordStatement({ text, fingerprint: null, decision: 'refused', rule, rows: 0, duration_ms: 0, error: reason });
    const message = `command refused: ${reason}`;
    void this.close(message, { code: 'AIRLOCK_COMMAND_REFUSED', message });
  }

  private exited(code: number | null, signal: string | null): void {
    const r = this.running;
    this.running = null;
    this.child = null;
    if (!r) return;
    const error = signal ? `killed by ${signal}` : code === 0 ? null : `exit status ${code}`;
    this.session.recordStatement({ text: r.text, fingerprint: null, decision: 'allowed', rule: null, rows: 0, duration_ms: Date.now() - r.started, error });
    if (!this.ending) this.channel.send({ type: 'exit', code, signal });
  }

  stdin(data: Buffer): void {
    if (this.ending) return;
    this.recording.input(data);
    this.child?.write(data);
  }

  eof(): void {
    this.child?.endInput();
  }

  resize(cols: number, rows: number): void {
    if (this.ending || !this.o.tty) return;
    this.recording.resize(cols, rows);
    this.child?.resize(cols, rows);
  }

  /** The live cut: the user's terminal is told why, the connection closes, then the command's processes go. */
  private async cut(reason: string, code: ErrorCode): Promise<void> {
    const line = Buffer.from(`\r\nairlock: session ended — ${reason}\r\n`);
    if (!this.ending) {
      this.recording.output(line);
      this.channel.stdout(line);
    }
    await this.close(reason, { code, message: `session ended — ${reason}` });
  }

  async close(reason: string, error?: { code: ErrorCode; message: string }): Promise<void> {
    if (this.ending) return this.ended;
    this.ending = true;
    if (error) this.channel.send({ type: 'error', ...error });
    this.channel.close();
    try {
      await this.child?.kill();
    } catch (e) {
      this.deps.log.error({ err: String(e), session_id: this.id }, 'exec gateway: could not end the command');
    }
    // A command cut before its exit is still one command: its statement says how it ended.
    if (this.running) this.exited(null, 'SIGTERM');
    const seal = await this.recording.close().catch((e: unknown) => {
      this.deps.log.error({ err: String(e), session_id: this.id }, 'exec gateway: could not seal the recording');
      return null;
    });
    await this.session.end(reason, { recording: seal });
    this.resolveEnded();
  }
}
