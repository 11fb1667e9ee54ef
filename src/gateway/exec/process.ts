// One command of an exec session as a process group of its own on the gateway's host: with a pseudo-terminal
// (node-pty) for interactive use, or with pipes; a minimal environment; and an end that leaves no process behind.
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as pty from 'node-pty';

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 500;

export interface ExecProcessOptions {
  argv: string[];
  env: Record<string, string>;
  tty: { cols: number; rows: number } | null;
  onStdout(data: Buffer): void;
  onStderr(data: Buffer): void;
  /** The command ended and its output has been read. */
  onExit(code: number | null, signal: string | null): void;
}

export interface ExecProcess {
  readonly pid: number;
  write(data: Buffer): void;
  /** No more input (pipes only; a terminal reads ^D from the user instead). */
  endInput(): void;
  resize(cols: number, rows: number): void;
  /**
   * Stops reading the command's output (its pipes or terminal) until resume(): the command then blocks on its next
   * write once the kernel's buffer is full, so a slow client holds it back instead of filling the gateway's memory.
   */
  pause(): void;
  resume(): void;
  /** SIGTERM to the whole process group (and any descendant that left it), SIGKILL after KILL_GRACE_MS; resolves when none is left. */
  kill(): Promise<void>;
}

interface ProcEntry {
  pid: number;
  ppid: number;
  pgrp: number;
  zombie: boolean;
}

/** The processes of this host (Linux /proc); null where there is no /proc. */
function processes(): ProcEntry[] | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return null;
  }
  const out: ProcEntry[] = [];
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: the fields after the last ")" are fixed.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(e), zombie: f[0] === 'Z' || f[0] === 'X', ppid: Number(f[1]), pgrp: Number(f[2]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every live (not zombie) process in group `group` or descended from `root`, which is its leader. */
function remaining(root: number): number[] | null {
  const all = processes();
  if (!all) return null;
  const want = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!want.has(p.pid) && want.has(p.ppid)) {
        want.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter((p) => !p.zombie && (p.pgrp === root || want.has(p.pid))).map((p) => p.pid);
}

function signal(pids: number[], group: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-group, sig);
  } catch {
    // the group is empty
  }
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // gone
    }
  }
}

/** Whether anything of the command is left: from /proc where there is one, else by signalling the group. */
function anyLeft(root: number): boolean {
  const r = remaining(root);
  if (r) return r.length > 0;
  try {
    process.kill(-root, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function startExecProcess(o: ExecProcessOptions): ExecProcess {
  const [file, ...args] = o.argv;
  if (!file) throw new Error('empty argv');
  let exited = false;
  let exitWaiters: (() => void)[] = [];
  const exitedNow = (): void => {
    exited = true;
    for (const w of exitWaiters) w();
    exitWaiters = [];
  };
  let handle: { pid: number; write(d: Buffer): void; endInput(): void; resize(c: number, r: number): void; pause(): void; resume(): void };

  if (o.tty) {
    // forkpty: the child is a session and process group leader, so -pid is its group.
    const p = pty.spawn(file, args, { name: o.env.TERM ?? 'xterm-256color', cols: o.tty.cols, rows: o.tty.rows, cwd: o.env.HOME ?? '/', env: o.env, encoding: null });
    p.onData((d) => o.onStdout(typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d)));
    p.onExit(({ exitCode, signal: sig }) => {
      exitedNow();
      o.onExit(sig ? null : exitCode, sig ? signalName(sig) : null);
    });
    handle = { pid: p.pid, write: (d) => p.write(d), endInput: () => {}, resize: (c, r) => p.resize(c, r), pause: () => p.pause(), resume: () => p.resume() };
  } else {
    const child: ChildProcess = spawnChild(file, args, { detached: true, env: o.env, cwd: o.env.HOME ?? '/', stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => o.onStdout(d));
    child.stderr!.on('data', (d: Buffer) => o.onStderr(d));
    child.stdin!.on('error', () => {}); // the command stopped reading: its input is dropped
    let pid = child.pid ?? -1;
    child.on('error', (e: NodeJS.ErrnoException) => {
      // The program could not be started (not found, not executable): an exit like a shell's 127/126.
      o.onStderr(Buffer.from(`airlock: cannot run ${file}: ${e.code ?? e.message}\n`));
      exitedNow();
      o.onExit(e.code === 'ENOENT' ? 127 : 126, null);
    });
    // 'close' (output read to the end) rather than 'exit': nothing the command printed is lost.
    child.on('close', (code, sig) => {
      if (exited) return;
      exitedNow();
      o.onExit(code, sig);
    });
    // Leftovers of a command that ended (a background job holding its output open) go with it.
    child.on('exit', () => {
      if (pid > 0 && anyLeft(pid)) void killTree(pid);
    });
    handle = {
      pid,
      write: (d) => void child.stdin!.write(d),
      endInput: () => void child.stdin!.end(),
      resize: () => {},
      pause: () => (child.stdout!.pause(), child.stderr!.pause()),
      resume: () => (child.stdout!.resume(), child.stderr!.resume()),
    };
    pid = child.pid ?? -1;
  }

  async function killTree(pid: number): Promise<void> {
    if (pid <= 0) return;
    signal(remaining(pid) ?? [], pid, 'SIGTERM');
    const until = Date.now() + KILL_GRACE_MS;
    while (Date.now() < until && anyLeft(pid)) await new Promise((r) => setTimeout(r, 20));
    if (anyLeft(pid)) signal(remaining(pid) ?? [], pid, 'SIGKILL');
  }

  return {
    pid: handle.pid,
    write: (d) => {
      if (!exited) handle.write(d);
    },
    endInput: () => handle.endInput(),
    resize: (c, r) => {
      if (!exited) handle.resize(c, r);
    },
    pause: () => {
      if (!exited) handle.pause();
    },
    resume: () => handle.resume(),
    async kill() {
      // Output is read to its end (the client is gone or going; the session drops it), so the exit is seen.
      handle.resume();
      await killTree(handle.pid);
      if (!exited) await new Promise<void>((r) => {
        exitWaiters.push(r);
        setTimeout(r, 2000).unref();
      });
    },
  };
}

function signalName(n: number): string {
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM' };
  return names[n] ?? `SIG${n}`;
}
