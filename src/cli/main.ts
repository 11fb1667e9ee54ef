// The airlock command line: every command takes --json; exit codes 0 ok, 1 error, 2 usage, 3 refused by policy.
// Each command group lives in its own module; what only one command needs (the server, the store, the policy
// parser) is imported inside that command's action, so `airlock --help` or `airlock whoami` start in a blink.
import { Command, CommanderError } from 'commander';
import { EXIT, printError, printJson } from './output.js';
import { registerServerCommands } from './server-commands.js';
import { registerAccountCommands } from './account-commands.js';
import { registerRequestCommands } from './request-commands.js';
import { registerGrantCommands } from './grant-commands.js';
import { registerLockCommands } from './lock-commands.js';
import { registerSessionCommands } from './session-commands.js';
import { registerTokenCommands } from './token-commands.js';
import { registerAuditCommands } from './audit-commands.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerConnectCommands } from './connect-commands.js';
import { registerPasswdCommand } from './passwd-command.js';
import { registerRecordingCommands } from './recording-commands.js';
import { registerSshCommands } from './ssh-commands.js';
import { registerExecCommand } from './exec-command.js';
import { registerMcpCommand } from './mcp-command.js';
import { registerReviewCommands } from './review-commands.js';
import { registerNotificationCommands } from './notification-commands.js';
import { registerCredentialCommands } from './credential-commands.js';
import { registerReportCommands } from './report-commands.js';

export { run, type Ctx } from './command.js';

export function buildProgram(): Command {
  const program = new Command('airlock')
    .description('Just-in-time, time-bound, audited access to production.')
    .option('--json', 'print only JSON')
    .option('--server <url>', 'Airlock server URL (default: AIRLOCK_SERVER, saved login, or http://127.0.0.1:8080)')
    .option('--token <token>', 'access token (default: AIRLOCK_TOKEN or saved login)')
    .exitOverride();
  registerServerCommands(program);
  registerAccountCommands(program);
  registerRequestCommands(program);
  registerGrantCommands(program);
  registerLockCommands(program);
  registerSessionCommands(program);
  // After the sessions command, which it adds `sessions watch` to.
  registerRecordingCommands(program);
  registerTokenCommands(program);
  registerAuditCommands(program);
  registerPolicyCommands(program);
  registerConnectCommands(program);
  registerSshCommands(program);
  registerPasswdCommand(program);
  registerExecCommand(program);
  registerMcpCommand(program);
  registerReviewCommands(program);
  registerNotificationCommands(program);
  registerCredentialCommands(program);
  registerReportCommands(program);
  return program;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Usage errors point to the failing command's own help; with --json commander's text is held back (main prints one
 * JSON error instead) and help comes as {"help": "…"}. Returns the command whose usage failed, once it has.
 */
function routeCommanderOutput(program: Command, json: boolean): () => Command {
  let failed = program;
  const visit = (cmd: Command) => {
    cmd.showHelpAfterError(`(see: ${commandPath(cmd)} --help)`);
    cmd.configureOutput({
      outputError: (text, write) => {
        failed = cmd;
        write(text.replace(/^error: /, 'airlock: '));
      },
      writeErr: (text) => {
        failed = cmd;
        if (!json) process.stderr.write(text);
      },
      writeOut: (text) => (json ? printJson({ help: text }) : process.stdout.write(text)),
    });
    cmd.commands.forEach(visit);
  };
  visit(program);
  return () => failed;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const json = argv.includes('--json');
  const failedCommand = routeCommanderOutput(program, json);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) {
        process.exitCode = EXIT.ok; // --help
        return;
      }
      const cmd = failedCommand();
      // commander.help with a non-zero code: a command group (`airlock token`) was called without its subcommand.
      const detail = e.code === 'commander.help' ? `${commandPath(cmd)} needs a subcommand` : e.message.replace(/^error: /, '');
      if (json) printJson({ error: { code: 'AIRLOCK_USAGE', detail, help: `${commandPath(cmd)} --help` } });
      process.exitCode = EXIT.usage;
      return;
    }
    printError(e, json);
    process.exitCode = EXIT.error;
  }
}
