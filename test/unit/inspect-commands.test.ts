// Exec command rules: hostile command lines are refused with a way forward, rules match on the parsed argv, quoting
// for a remote shell round-trips, and no quoting or path spelling slips a command past a deny rule.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { checkCommand, parseCommandLine, quoteArgv, ruleProblem } from '../../src/inspect/commands.js';

function argv(line: string): string[] {
  const r = parseCommandLine(line);
  if ('error' in r) assert.fail(`${JSON.stringify(line)} was refused: ${r.error}`);
  return r.argv;
}

function refused(line: string): string {
  const r = parseCommandLine(line);
  if (!('error' in r)) assert.fail(`${JSON.stringify(line)} was read as ${JSON.stringify(r.argv)}`);
  return r.error;
}

describe('parseCommandLine', () => {
  test('reads shell words with quotes and escapes', () => {
    assert.deepEqual(argv('ls -la /tmp'), ['ls', '-la', '/tmp']);
    assert.deepEqual(argv('  ls\t -la  '), ['ls', '-la']);
    assert.deepEqual(argv("echo 'a b' \"c d\" e\\ f"), ['echo', 'a b', 'c d', 'e f']);
    assert.deepEqual(argv("echo 'it'\\''s'"), ['echo', "it's"]);
    assert.deepEqual(argv('echo "a\\"b\\\\c\\$d\\`e\\n"'), ['echo', 'a"b\\c$d`e\\n']);
    assert.deepEqual(argv("echo '' \"\""), ['echo', '', '']);
    assert.deepEqual(argv("echo '$(id) `id` ; | & > * ~ # { !'"), ['echo', '$(id) `id` ; | & > * ~ # { !']);
    assert.deepEqual(argv('grep -r a=b ./x~y'), ['grep', '-r', 'a=b', './x~y']);
  });

  test('reads quoted newlines and unicode words as they are', () => {
    assert.deepEqual(argv("printf 'a\nb'"), ['printf', 'a\nb']);
    assert.deepEqual(argv('echo héllo 日本 🚀'), ['echo', 'héllo', '日本', '🚀']);
    assert.deepEqual(argv("'FOO=1' ls"), ['FOO=1', 'ls']);
    assert.deepEqual(argv('env FOO=1 ls'), ['env', 'FOO=1', 'ls']);
    assert.deepEqual(argv('dd if=/dev/zero of=x'), ['dd', 'if=/dev/zero', 'of=x']);
  });

  const hostile: Array<[string, RegExp]> = [
    ['ls;rm -rf /', /second command/],
    ['ls ; rm -rf /', /second command/],
    ['ls $(id)', /not expanded/],
    ['ls `id`', /command substitution/],
    ['ls &&id', /more than one command/],
    ['ls & id', /more than one command/],
    ['ls|sh', /pipe/],
    ['ls ||sh', /pipe/],
    ['ls\nid', /newline/],
    ['ls\rid', /newline/],
    ['ls >x', /redirection/],
    ['ls 2>&1', /redirection/],
    ['cat <x', /redirection/],
    ['(id)', /subshell/],
    ["echo $'\\x41'", /not expanded/],
    ['echo $HOME', /not expanded/],
    ['echo ${HOME}', /not expanded/],
    ['echo "$HOME"', /inside double quotes/],
    ['echo "`id`"', /inside double quotes/],
    ['echo "$(id)"', /inside double quotes/],
    ['FOO=1 ls', /assignment/],
    ['LD_PRELOAD=/tmp/x.so ls', /assignment/],
    ['ls *.txt', /pattern/],
    ['ls file?', /pattern/],
    ['ls [ab]', /pattern/],
    ['ls ~', /home directory/],
    ['ls ~root/x', /home directory/],
    ['echo {a,b}', /brace/],
    ['ls # comment', /comment/],
    ['! ls', /negation/],
    ["echo 'never closed", /single quote is never closed/],
    ['echo "never closed', /double quote is never closed/],
    ['echo "a\\', /double quote is never closed/],
    ['echo a\\', /ends with a backslash/],
    ['echo a\\\nb', /line continuation/],
    ['', /no command/],
    ['   \t ', /no command/],
    ["'' ls", /program name is empty/],
    ['ls\0x', /U\+0000/],
    ["echo 'a\0b'", /U\+0000/],
    ['ls\u202e', /U\+202E/],
    ['ls \u200b-la', /U\+200B/],
    ['ls\u2028id', /U\+2028/],
    ['ls\u00a0-la', /U\+00A0/],
    ['ls\x1b[31m', /U\+001B/],
    ["echo '\x1b]0;x\x07'", /U\+001B/],
    ['ls \x7f', /U\+007F/],
    ['ls \ud800', /U\+D800/],
    ['ls\\\tx', /after a backslash/],
  ];
  for (const [line, why] of hostile) {
    test(`refuses ${JSON.stringify(line)}`, () => assert.match(refused(line), why));
  }

  test('every refusal says what to write instead or what to remove', () => {
    for (const [line] of hostile) assert.match(refused(line), /write|run|quote|remove|close|name|use|pass/i, line);
  });

  test('refuses a line longer than 64 KiB', () => {
    assert.match(refused(`echo ${'a'.repeat(70_000)}`), /longer than/);
  });
});

describe('checkCommand', () => {
  const rules = { allow: ['ls ...', 'cat /var/log/*.log', 'systemctl status ?*', "grep -r 'a b' ...", 'journalctl -u app'], deny: ['ls /root ...', 'rm ...'] };

  test('no rules: everything runs', () => {
    assert.equal(checkCommand(['rm', '-rf', '/'], undefined).decision, 'allowed');
    assert.equal(checkCommand(['rm', '-rf', '/'], { allow: [], deny: [] }).decision, 'allowed');
  });

  test('allow rules: exact words, globs within one word, ... for any further arguments', () => {
    assert.equal(checkCommand(['ls'], rules).decision, 'allowed');
    assert.equal(checkCommand(['ls', '-la', '/tmp'], rules).decision, 'allowed');
    assert.equal(checkCommand(['cat', '/var/log/syslog.log'], rules).decision, 'allowed');
    assert.equal(checkCommand(['cat', '/var/log/a/b.log'], rules).decision, 'refused', 'a * never crosses a "/": cat /var/log/*.log reads only the files in /var/log');
    assert.equal(checkCommand(['cat', '/var/log/x.log', '/etc/shadow'], rules).decision, 'refused', 'without ... the length is exact');
    assert.equal(checkCommand(['cat', '/var/log/', 'x.log'], rules).decision, 'refused', 'a * never spans two argv elements');
    assert.equal(checkCommand(['systemctl', 'status', 'nginx'], rules).decision, 'allowed');
    assert.equal(checkCommand(['systemctl', 'status', ''], rules).decision, 'refused');
    assert.equal(checkCommand(['systemctl', 'stop', 'nginx'], rules).decision, 'refused');
    assert.equal(checkCommand(['grep', '-r', 'a b', 'x'], rules).decision, 'allowed');
    assert.equal(checkCommand(['grep', '-r', 'a', 'b'], rules).decision, 'refused');
    assert.equal(checkCommand(['journalctl', '-u', 'app'], rules).decision, 'allowed');
    assert.equal(checkCommand(['journalctl', '-u', 'app', '-f'], rules).decision, 'refused');
    const no = checkCommand(['id'], rules);
    assert.deepEqual([no.decision, no.rule], ['refused', 'commands.allow']);
    assert.match(no.reason, /allows only: ls \.\.\./);
  });

  test('allow rules name the program exactly: ls does not allow /bin/ls or ./ls', () => {
    assert.equal(checkCommand(['/bin/ls'], rules).decision, 'refused');
    assert.equal(checkCommand(['./ls'], rules).decision, 'refused');
    assert.equal(checkCommand(['/bin/ls'], { allow: ['/bin/ls ...'], deny: [] }).decision, 'allowed');
  });

  test('deny wins over allow and names its rule', () => {
    const d = checkCommand(['ls', '/root', '-la'], rules);
    assert.deepEqual([d.decision, d.rule], ['refused', 'commands.deny: ls /root ...']);
    assert.equal(checkCommand(['rm', '-rf', '/'], { allow: ['rm ...'], deny: ['rm ...'] }).rule, 'commands.deny: rm ...');
  });

  test('path rules: * and ? stop at "/", ** crosses it; . and .. and // never get out of an allowed directory, nor round a denied path', () => {
    const logs = { allow: ['cat /var/log/app/*.log', 'tail -n ? /var/log/**'], deny: ['cat /var/log/app/secret*', 'tail -f /var/log/auth.log'] };
    for (const line of [
      'cat /var/log/app/../outside.log', 'cat /var/log/app/../../etc/shadow.log', 'cat /var/log/app/x/../../../etc/passwd.log', 'cat /var/log/app//a.log',
      'cat /var/log/app/./a.log', 'cat /var/log/app/sub/a.log', 'cat ../var/log/app/a.log', 'tail -n 5 /var/log/../../etc/shadow', 'tail -n 5 /var/log/./x/../../etc/passwd',
    ]) assert.equal(checkCommand(argv(line), logs).decision, 'refused', line);
    assert.equal(checkCommand(argv('cat /var/log/app/a.log'), logs).decision, 'allowed');
    assert.equal(checkCommand(argv('tail -n 5 /var/log/nginx/access.log'), logs).decision, 'allowed', '** crosses directories');
    // A denied path by another spelling is still denied (the allow list would refuse most of these on its own too).
    const deny = { allow: [], deny: ['cat /var/log/app/secret*', 'tail -f /var/log/auth.log'] };
    for (const line of ['cat /var/log/app/secret1.log', 'cat /var/log/app/./secret1.log', 'cat /var/log//app/secret1.log', 'cat /var/log/x/../app/secret1.log', 'cat /var/log/app/.//secret.txt', 'tail -f /var/log/./auth.log', 'tail -f /var//log/auth.log', 'tail -f /var/log/nginx/../auth.log']) {
      assert.equal(checkCommand(argv(line), deny).decision, 'refused', line);
    }
    assert.equal(checkCommand(argv('cat /var/log/app/public.log'), deny).decision, 'allowed');
  });

  test('a quoted * or ... in a rule is literal', () => {
    const r = { allow: ["echo '*'", "echo '...'"], deny: [] };
    assert.equal(checkCommand(['echo', '*'], r).decision, 'allowed');
    assert.equal(checkCommand(['echo', 'x'], r).decision, 'refused');
    assert.equal(checkCommand(['echo', '...'], r).decision, 'allowed');
    assert.equal(checkCommand(['echo', 'a', 'b'], r).decision, 'refused');
  });

  test('a rule that cannot be read: as allow it allows nothing, as deny it refuses everything', () => {
    assert.match(ruleProblem('ls; id') ?? '', /second command/);
    assert.match(ruleProblem('ls ... -la') ?? '', /last word/);
    assert.equal(ruleProblem('ls ...'), null);
    assert.equal(checkCommand(['ls'], { allow: ['ls $(x)'], deny: [] }).decision, 'refused');
    const d = checkCommand(['ls'], { allow: [], deny: ["rm 'x"] });
    assert.deepEqual([d.decision, d.rule], ['refused', "commands.deny: rm 'x"]);
    assert.match(d.reason, /cannot be read/);
  });

  test('a deny rule without a slash also refuses the program by any path', () => {
    for (const line of ['rm -rf /', "r''m -rf /", '"rm" -rf /', '\\rm -rf /', '/bin/rm -rf /', './rm -rf /', '../../usr/bin/rm -rf /', '/usr/bin/r"m" -rf /']) {
      const d = checkCommand(argv(line), { allow: [], deny: ['rm ...'] });
      assert.deepEqual([d.decision, d.rule], ['refused', 'commands.deny: rm ...'], line);
    }
    // A deny rule with a slash names one path: /bin/rm does not refuse rm (write both, or use an allow list).
    assert.equal(checkCommand(['rm', 'x'], { allow: [], deny: ['/bin/rm ...'] }).decision, 'allowed');
    // Another program that deletes is another program: deny lists are a guard rail, allow lists the control.
    assert.equal(checkCommand(['unlink', 'x'], { allow: [], deny: ['rm ...'] }).decision, 'allowed');
  });
});

// Characters a command line refuses even in quotes; the round trip holds for every other string.
const UNREADABLE = /[\0-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const word = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !UNREADABLE.test(s));
const shellish = fc.string({ unit: fc.constantFrom('a', 'b', ' ', "'", '"', '\\', '$', '`', ';', '|', '&', '*', '\n', '\t', '=', '~', '#', '(', 'é', '🚀'), maxLength: 10 });

describe('properties', () => {
  test('quoteArgv then parseCommandLine gives back the argv', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(word, shellish), { minLength: 1, maxLength: 6 }), (a) => {
        fc.pre(a[0] !== '');
        assert.deepEqual(parseCommandLine(quoteArgv(a)), { argv: a });
      }),
      { numRuns: 2000 },
    );
  });

  test('the real sh runs quoteArgv(argv) as exactly argv', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(word, shellish), { minLength: 1, maxLength: 4 }), (a) => {
        const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${quoteArgv(a)}`], { encoding: 'utf8' });
        assert.deepEqual(out.split('\0').slice(0, -1), a);
      }),
      { numRuns: 100 },
    );
  });

  test('parseCommandLine never throws, and what it reads sh reads the same way', () => {
    fc.assert(
      fc.property(fc.oneof(shellish, fc.string({ maxLength: 20 })), (line) => {
        const r = parseCommandLine(line);
        if ('error' in r) return;
        const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
        assert.deepEqual(out.split('\0').slice(0, -1), r.argv, line);
      }),
      { numRuns: 300 },
    );
  });

  test('checkCommand never throws on any rule text, and a rule made of quoted words matches exactly those words', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(word, shellish), { minLength: 1, maxLength: 4 }), fc.string({ maxLength: 20 }), (a, junk) => {
        fc.pre(a[0] !== '');
        checkCommand(a, { allow: [junk], deny: [junk] });
        assert.equal(checkCommand(a, { allow: [quoteArgv(a)], deny: [] }).decision, 'allowed');
        assert.equal(checkCommand([...a, 'x'], { allow: [quoteArgv(a)], deny: [] }).decision, 'refused');
        assert.equal(checkCommand([...a, 'x'], { allow: [], deny: [`${quoteArgv(a)} ...`] }).decision, 'refused');
      }),
      { numRuns: 1000 },
    );
  });

  // For each way to spell "rm" (quotes, escapes, paths), the deny rule refuses it, whatever the arguments.
  test('no quoting or path variant gets past a deny rule', () => {
    const spellings = fc.array(fc.constantFrom("r''m", '"rm"', '\\rm', 'r\\m', "'r'\"m\"", 'rm', '/bin/rm', '/usr/bin/"rm"', './rm', "''rm"), { minLength: 1, maxLength: 1 });
    const args = fc.array(fc.constantFrom('-rf', '/', "'a b'", '"x"', '\\-f', '--'), { maxLength: 4 });
    fc.assert(
      fc.property(spellings, args, fc.constantFrom('rm ...', 'rm -rf ...', '"rm" ...', "r'm' ..."), ([prog], rest, rule) => {
        const parsed = argv([prog!, ...rest].join(' '));
        const d = checkCommand(parsed, { allow: ['rm ...', '/bin/rm ...'], deny: [rule] });
        if (rule.includes('-rf') && parsed[1] !== '-rf') return;
        assert.equal(d.decision, 'refused', `${prog} ${rest.join(' ')} under ${rule}`);
      }),
      { numRuns: 1000 },
    );
  });
});
