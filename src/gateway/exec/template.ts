// The argv an exec session runs on the gateway's host: the resource's template with its target and command filled in,
// word for word. Never a shell string: a target or argument holding "; rm -rf /" is one argument, nothing more.
import { AirlockError } from '../../domain/errors.js';
import type { ResourceDef } from '../../policy/schema.js';

export type ExecTemplate = NonNullable<ResourceDef['exec']>;

/** The target a session asked for, if the resource lists it; the first listed when it asked for none. */
export function chooseTarget(resource: ResourceDef, asked: string | undefined): string {
  const targets = resource.exec?.targets ?? [];
  if (asked === undefined || asked === '') {
    const first = targets[0];
    if (first === undefined) throw new AirlockError('AIRLOCK_EXEC_TARGET_NOT_ALLOWED', `resource ${resource.name} lists no targets; an admin can add them under exec.targets`);
    return first;
  }
  if (targets.includes(asked)) return asked;
  throw new AirlockError(
    'AIRLOCK_EXEC_TARGET_NOT_ALLOWED',
    `resource ${resource.name} has no target "${asked.slice(0, 100)}"; its targets are ${targets.map((t) => `"${t}"`).join(', ')} (airlock exec ${resource.name} --target <one of these>); an admin can add targets to the resource in the policy`,
    { resource: resource.name, target: asked.slice(0, 100), allowed: targets },
  );
}

/**
 * The template with `{target}` replaced by one word, `{command}` by the command's words (each its own argument) and
 * `{tty}` by `-t` with a terminal or by nothing without. Only whole-word placeholders exist (the policy checks it).
 */
export function buildArgv(template: ExecTemplate, target: string, command: readonly string[], tty: boolean): string[] {
  const out: string[] = [];
  for (const word of template.command) {
    if (word === '{target}') out.push(target);
    else if (word === '{command}') out.push(...command);
    else if (word === '{tty}') {
      if (tty) out.push('-t');
    } else out.push(word);
  }
  return out;
}
