// Whether an exec request's command line would run a file-transfer program (scp, sftp-server, rsync…), for roles
// without ssh.file_transfer. Looking only at the first word is not enough: `exec sftp-server`, `env scp -t x`,
// `true;s\cp -t x` and `rsync --rsync-path='exec rsync'` (which makes the host run `exec rsync --server …`) all
// hide the program. So: a line of plain words is checked on its program, and when that program runs others (exec,
// env, sudo, a shell…) every word after it is checked too; a line that is not plain words (shell syntax) is refused
// when any word in it, quotes and backslashes removed, names a file-transfer program.
//
// This is a guard rail, not a wall: a role that may run any command can still move bytes (`cat > file`, `base64`,
// a script). Only command rules (commands.allow) close that; docs/ssh-and-exec.md says so.
import { parseCommandLine } from '../../inspect/commands.js';

/** Programs that move files over an exec channel. */
export const FILE_TRANSFER_PROGRAMS: ReadonlySet<string> = new Set(['scp', 'sftp-server', 'sftp', 'internal-sftp', 'rsync']);

/** Programs that run another program named in their arguments (wrappers, shells, privilege tools). */
const RUNS_OTHERS = new Set([
  'exec', 'env', 'command', 'builtin', 'eval', 'source', '.', 'nice', 'nohup', 'sudo', 'doas', 'su', 'runuser',
  'busybox', 'toybox', 'timeout', 'stdbuf', 'setsid', 'xargs', 'time', 'chroot', 'ionice', 'chrt', 'taskset',
  'unshare', 'nsenter', 'flock', 'script', 'watch', 'strace', 'ltrace', 'setpriv', 'systemd-run', 'caffeinate',
  'sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'fish', 'csh', 'tcsh', 'rbash',
]);

const baseName = (word: string): string => word.split('/').pop() ?? '';

/**
 * The words of a text as a shell could join them: quotes, backslashes and empty expansions ($VAR, ${…}, $(…), `…`
 * without nesting) removed, then split on anything that cannot be part of a program's file name.
 */
function words(text: string): string[] {
  return text
    .replace(/\$\([^()]*\)|`[^`]*`|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]/g, '')
    .replace(/['"\\]/g, '')
    .split(/[^A-Za-z0-9_.+-]+/)
    .filter((w) => w.length > 0);
}

/** Whether any word of `text` names a file-transfer program. */
function mentionsTransfer(text: string): boolean {
  return words(text).some((w) => FILE_TRANSFER_PROGRAMS.has(baseName(w)));
}

/** Whether running `line` on the host would (or could plainly) run a file-transfer program. */
export function runsFileTransfer(line: string): boolean {
  const parsed = parseCommandLine(line);
  if ('error' in parsed) return mentionsTransfer(line);
  const argv = parsed.argv;
  const program = baseName(argv[0] ?? '');
  if (FILE_TRANSFER_PROGRAMS.has(program)) return true;
  // A wrapper's options differ from one to the next (env -S 'scp -t x', sudo -u u, timeout 5, busybox applets,
  // sh -c '…'): rather than parse each, every later word is read as a text that may name the program.
  if (RUNS_OTHERS.has(program)) return argv.slice(1).some((a) => mentionsTransfer(a));
  return false;
}
