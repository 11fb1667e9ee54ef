// Loading a policy: a valid file compiles; every kind of bad input is reported with file, line, column and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePolicy, loadPolicyFile, formatProblem, PolicyError, type PolicyProblem } from '../../src/policy/load.js';

/** A valid policy, one entry per line, so a fixture can change line N and the problem must name line N. */
const VALID: readonly string[] = [
  'version: 1', // 1
  'principals:', // 2
  '  - { name: alice, groups: [eng] }', // 3
  '  - { name: bob, groups: [dba] }', // 4
  'resources:', // 5
  '  - name: orders', // 6
  '    kind: postgres', // 7
  '    address: "127.0.0.1:5432"', // 8
  '    credential:', // 9
  '      username: airlock', // 10
  '      password: { env: ORDERS_PW }', // 11
  'roles:', // 12
  '  - name: read', // 13
  '    resources: { names: [orders] }', // 14
  '    max_duration: 4h', // 15
  '    requestable_by: { groups: [eng] }', // 16
  '    approval:', // 17
  '      approver_groups: [dba]', // 18
  '      auto_approve:', // 19
  '        - { requester_groups: [eng], max_duration: 1h }', // 20
  '    justification: { ticket_pattern: "^OPS-[0-9]+$" }', // 21
];

/** The valid policy with some lines replaced (line numbers are 1-based) and lines appended; other lines keep their numbers. */
function fixture(replace: Record<number, string> = {}, append: string[] = []): string {
  const lines = VALID.map((l, i) => replace[i + 1] ?? l);
  return [...lines, ...append].join('\n') + '\n';
}

function problemsOf(text: string, file = 'policy.yaml'): { error: PolicyError; problems: PolicyProblem[] } {
  try {
    parsePolicy(text, file);
  } catch (e) {
    assert.ok(e instanceof PolicyError, `expected a PolicyError, got ${String(e)}`);
    return { error: e, problems: e.problems };
  }
  assert.fail('expected the policy to be refused');
}

interface Expect {
  line: number;
  column?: number;
  field: string;
  message: RegExp;
}

/** Exactly these problems, in this order, each in policy.yaml at the given line and field. */
function expectProblems(text: string, expected: Expect[]): PolicyError {
  const { error, problems } = problemsOf(text);
  assert.equal(problems.length, expected.length, `problems: ${problems.map(formatProblem).join(' | ')}`);
  expected.forEach((x, i) => {
    const p = problems[i]!;
    assert.equal(p.file, 'policy.yaml');
    assert.equal(p.field, x.field, formatProblem(p));
    assert.equal(p.line, x.line, formatProblem(p));
    if (x.column !== undefined) assert.equal(p.column, x.column, formatProblem(p));
    assert.match(p.message, x.message, formatProblem(p));
  });
  return error;
}

test('a valid policy compiles, with defaults filled in', () => {
  const policy = parsePolicy(fixture(), 'policy.yaml');
  assert.equal(policy.file, 'policy.yaml');
  assert.match(policy.hash, /^[0-9a-f]{64}$/);
  const role = policy.role('read')!;
  assert.equal(role.max_duration, 4 * 3600);
  assert.equal(role.pending_timeout, 3600, 'pending_timeout defaults to 1h');
  assert.equal(role.approval.approvals, 1);
  assert.equal(role.approval.allow_self_approval, false);
  assert.equal(role.approval.auto_approve[0]!.max_duration, 3600);
  assert.equal(role.privileges.sql, 'read');
  assert.equal(role.justification.required, true);
  assert.equal(role.break_glass, false);
  const res = policy.resource('orders')!;
  assert.equal(res.credential?.mode, 'per_grant_role');
  assert.deepEqual(res.credential?.password, { env: 'ORDERS_PW' });
  assert.deepEqual(res.labels, {});
  assert.equal(policy.principal('alice')?.kind, 'user');
  assert.ok(policy.roleCovers(role, res));
  assert.deepEqual(policy.rolesFor(res).map((r) => r.name), ['read']);
  assert.ok(policy.principal('admin'), 'the bootstrap admin always exists');
});

test('the hash depends on the content, not on how it is written', () => {
  const block = parsePolicy(fixture());
  const flow = parsePolicy(fixture({ 11: '      password: {env: "ORDERS_PW"}', 20: '        - max_duration: 60m\n          requester_groups: [eng]' }));
  assert.equal(flow.hash, block.hash, '60m and 1h, flow and block style, key order: the same policy');
  const other = parsePolicy(fixture({ 15: '    max_duration: 5h' }));
  assert.notEqual(other.hash, block.hash);
});

test('malformed YAML: tabs, bad indentation, an unclosed quote', () => {
  // The tab is the problem; the parser then also sees the next item out of line with the tabbed one.
  expectProblems(fixture({ 3: '\t- { name: alice, groups: [eng] }' }), [
    { line: 3, column: 1, field: '', message: /^YAML: Tabs are not allowed as indentation/ },
    { line: 4, column: 3, field: '', message: /^YAML: All sequence items must start at the same column/ },
  ]);
  expectProblems(fixture({ 8: '   address: "127.0.0.1:5432"' }), [
    { line: 8, column: 1, field: '', message: /^YAML: Sequence item without - indicator/ },
    { line: 9, column: 1, field: '', message: /^YAML: All mapping items must start at the same column/ },
  ]);
  // An over-indented line continues the value above it, so YAML reports the value where it starts (line 7).
  expectProblems(fixture({ 8: '     address: "127.0.0.1:5432"' }), [
    { line: 7, column: 11, field: '', message: /^YAML: Nested mappings are not allowed in compact mappings/ },
    { line: 7, column: 11, field: '', message: /^YAML: Implicit keys need to be on a single line/ },
  ]);
  // The parser runs out of text at the end of the file; the problem must point at the quote that was opened.
  expectProblems(fixture({ 8: '    address: "127.0.0.1:5432' }), [{ line: 8, column: 14, field: '', message: /^YAML: Missing closing "quote/ }]);
  expectProblems(fixture({ 18: "      approver_groups: ['dba]" }), [
    { line: 18, column: 25, field: '', message: /^YAML: Missing closing 'quote/ },
    { line: 22, column: 1, field: '', message: /^YAML: Flow sequence .* must .* end with a \]/ },
  ]);
});

test('a duplicate key is refused and names its field', () => {
  expectProblems(fixture({ 16: '    max_duration: 2h' }), [{ line: 16, column: 5, field: 'roles[0].max_duration', message: /unique/ }]);
});

test('unknown fields: at the top level and inside a role (strict objects)', () => {
  expectProblems(fixture({}, ['colour: blue']), [{ line: 22, column: 1, field: 'colour', message: /unknown field "colour"/ }]);
  expectProblems(fixture({}, ['    owner: team-a']), [{ line: 22, column: 5, field: 'roles[0].owner', message: /unknown field "owner"/ }]);
  expectProblems(fixture({ 10: '      user: airlock' }), [
    { line: 10, column: 7, field: 'resources[0].credential.username', message: /required field "username" is missing/ },
    { line: 10, column: 7, field: 'resources[0].credential.user', message: /unknown field "user"/ },
  ]);
});

test('missing required fields point at the entry that lacks them', () => {
  expectProblems(fixture({ 15: '' }), [{ line: 13, field: 'roles[0].max_duration', message: /required field "max_duration" is missing/ }]);
  expectProblems(fixture({ 7: '' }), [{ line: 6, field: 'resources[0].kind', message: /required field "kind" is missing/ }]);
  expectProblems(fixture({ 1: '' }), [{ line: 2, field: 'version', message: /required field "version" is missing/ }]);
});

test('wrong types', () => {
  expectProblems(fixture({ 3: '  - { name: alice, groups: eng }', 7: '    kind: oracle', 8: '    address: 5432', 18: '      approver_groups: [dba]\n      approvals: two' }, []), [
    { line: 3, field: 'principals[0].groups', message: /expected array/ },
    { line: 7, field: 'resources[0].kind', message: /postgres/ },
    { line: 8, field: 'resources[0].address', message: /expected string/ },
    { line: 19, field: 'roles[0].approval.approvals', message: /expected number/ },
  ]);
  expectProblems(fixture({}, ['    break_glass: "yes"']), [{ line: 22, field: 'roles[0].break_glass', message: /expected boolean/ }]);
  expectProblems(fixture({ 1: 'version: 2' }), [{ line: 1, field: 'version', message: /1/ }]);
});

test('bad durations: "forever", "0m", "-1h", a bare number', () => {
  for (const bad of ['forever', '0m', '-1h', '1h30', '"90"']) {
    expectProblems(fixture({ 15: `    max_duration: ${bad}` }), [{ line: 15, column: 19, field: 'roles[0].max_duration', message: new RegExp(`"${bad.replaceAll('"', '')}" is not a duration; write e.g. 30m`) }]);
  }
  expectProblems(fixture({ 15: '    max_duration: 90' }), [{ line: 15, column: 19, field: 'roles[0].max_duration', message: /90 has no unit; write e.g. 90s, 30m, 1h/ }]);
  expectProblems(fixture({}, ['    pending_timeout: 0s']), [{ line: 22, field: 'roles[0].pending_timeout', message: /is not a duration/ }]);
});

test('a bad regular expression', () => {
  expectProblems(fixture({ 21: '    justification: { ticket_pattern: "^OPS-([0-9]+$" }' }), [{ line: 21, field: 'roles[0].justification.ticket_pattern', message: /not a valid regular expression/ }]);
});

test('a bad time zone, and a window that wraps midnight', () => {
  expectProblems(fixture({ 20: '        - { requester_groups: [eng], time_window: { from: "09:00", to: "17:00", zone: Mars/Olympus } }' }), [
    { line: 20, field: 'roles[0].approval.auto_approve[0].time_window.zone', message: /IANA time zone/ },
  ]);
  expectProblems(fixture({ 20: '        - { requester_groups: [eng], time_window: { from: "22:00", to: "06:00" } }' }), [
    { line: 20, field: 'roles[0].approval.auto_approve[0].time_window.to', message: /later than "from"/ },
  ]);
  expectProblems(fixture({ 20: '        - { requester_groups: [eng], time_window: { from: "9:00", to: "17:00" } }' }), [
    { line: 20, field: 'roles[0].approval.auto_approve[0].time_window.from', message: /HH:MM/ },
  ]);
});

test('duplicate names', () => {
  expectProblems(fixture({ 4: '  - { name: alice, groups: [dba] }' }), [{ line: 4, column: 13, field: 'principals[1].name', message: /"alice" is defined twice \(first at principals\[0\]\)/ }]);
  expectProblems(fixture({}, ['  - { name: read, resources: { names: [orders] }, max_duration: 1h, requestable_by: { groups: [eng] }, approval: { approver_groups: [dba] } }']), [
    { line: 22, field: 'roles[1].name', message: /"read" is defined twice/ },
  ]);
});

test('references to things that do not exist', () => {
  expectProblems(fixture({ 14: '    resources: { names: [orders, billing] }' }), [{ line: 14, column: 34, field: 'roles[0].resources.names[1]', message: /unknown resource "billing"/ }]);
  expectProblems(fixture({ 16: '    requestable_by: { groups: [eng], principals: [mallory] }' }), [{ line: 16, field: 'roles[0].requestable_by.principals[0]', message: /unknown principal "mallory"/ }]);
  expectProblems(fixture({ 18: '      approver_principals: [bob]\n      approvals: 2' }), [{ line: 19, field: 'roles[0].approval.approvals', message: /needs 2 approvals but names only 1/ }]);
});

test('an auto-approval ceiling above the role max_duration', () => {
  expectProblems(fixture({ 20: '        - { requester_groups: [eng], max_duration: 8h }' }), [
    { line: 20, field: 'roles[0].approval.auto_approve[0].max_duration', message: /longer than the role's max_duration/ },
  ]);
});

test('every problem is listed at once, not only the first', () => {
  const error = expectProblems(fixture({ 3: '  - { name: alice, groups: eng }', 7: '    kind: oracle', 15: '    max_duration: forever', 21: '    justification: { ticket_pattern: "(" }' }, ['    colour: blue']), [
    { line: 3, field: 'principals[0].groups', message: /expected array/ },
    { line: 7, field: 'resources[0].kind', message: /postgres/ },
    { line: 15, field: 'roles[0].max_duration', message: /"forever" is not a duration/ },
    { line: 21, field: 'roles[0].justification.ticket_pattern', message: /regular expression/ },
    { line: 22, field: 'roles[0].colour', message: /unknown field/ },
  ]);
  const lines = error.message.split('\n');
  assert.equal(lines.length, 5, 'one line of the message per problem');
  assert.match(lines[0]!, /^policy\.yaml:3:\d+: principals\[0\]\.groups: /);
  // Cross-references are checked once the document itself is valid; those problems are listed together too.
  expectProblems(fixture({ 4: '  - { name: alice, groups: [dba] }', 14: '    resources: { names: [billing] }', 20: '        - { requester_groups: [eng], max_duration: 5h }' }), [
    { line: 4, field: 'principals[1].name', message: /defined twice/ },
    { line: 14, field: 'roles[0].resources.names[0]', message: /unknown resource "billing"/ },
    { line: 20, field: 'roles[0].approval.auto_approve[0].max_duration', message: /ceiling/ },
  ]);
});

test('an inline password is refused, and the secret never appears in the error', () => {
  const SECRET = 'hunter2';
  const check = (text: string, expected: Expect[]) => {
    const error = expectProblems(text, expected);
    assert.ok(!error.message.includes(SECRET), error.message);
    assert.ok(!String(error.stack).includes(SECRET));
    assert.ok(!JSON.stringify(error.problems).includes(SECRET));
  };
  check(fixture({ 11: `      password: "${SECRET}"` }), [{ line: 11, column: 17, field: 'resources[0].credential.password', message: /inline secret is not allowed.*\{ env: VARIABLE \} or \{ file: / }]);
  check(fixture({ 11: `      password: ${SECRET}` }), [{ line: 11, field: 'resources[0].credential.password', message: /inline secret is not allowed/ }]);
  check(fixture({ 11: `      password: { value: ${SECRET} }` }), [{ line: 11, field: 'resources[0].credential.password', message: /reference/ }]);
  check(fixture({ 11: `      password: { env: ORDERS_PW, value: "${SECRET}" }` }), [{ line: 11, field: 'resources[0].credential.password.value', message: /unknown field "value"/ }]);
  check(fixture({ 11: `      password: { env: "${SECRET} x" }` }), [{ line: 11, field: 'resources[0].credential.password.env', message: /an environment variable name/ }]);
  assert.deepEqual(parsePolicy(fixture({ 11: '      password: { file: /run/secrets/orders }' })).resource('orders')?.credential?.password, { file: '/run/secrets/orders' });
});

test('loadPolicyFile names the file it read, or says it cannot read it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
  try {
    const file = join(dir, 'airlock.yaml');
    writeFileSync(file, fixture({ 15: '    max_duration: forever' }));
    try {
      loadPolicyFile(file);
      assert.fail('expected a PolicyError');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      assert.equal(e.problems[0]!.file, file);
      assert.ok(e.message.startsWith(`${file}:15:19: roles[0].max_duration: `), e.message);
    }
    writeFileSync(file, fixture());
    assert.equal(loadPolicyFile(file).file, file);
    try {
      loadPolicyFile(join(dir, 'missing.yaml'));
      assert.fail('expected a PolicyError');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      assert.match(e.message, /cannot read the policy file: ENOENT/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an empty file is a policy without a version', () => {
  expectProblems('', [{ line: 1, field: 'version', message: /required field "version" is missing/ }]);
  assert.equal(parsePolicy('version: 1\n').roles.length, 0, 'the sole required field: everything else has a default');
});

test('examples/airlock.yaml loads', () => {
  const policy = loadPolicyFile(join(import.meta.dirname, '../../examples/airlock.yaml'));
  for (const name of ['alice', 'bob', 'carol']) assert.ok(policy.principal(name), name);
  assert.ok(policy.principals.some((p) => p.kind === 'agent'));
  const demo = policy.resource('demo-orders');
  assert.equal(demo?.kind, 'postgres');
  assert.equal(demo?.database, 'orders');
  assert.equal(demo?.labels.env, 'demo');
  assert.deepEqual(demo?.credential?.password, { env: 'AIRLOCK_DEMO_PG_PASSWORD' });
  assert.equal(demo?.credential?.username, 'airlock_admin');
  assert.ok(policy.resources.some((r) => r.kind === 'ssh'));
  const shop = policy.resource('shop-db')!;
  assert.deepEqual([shop.kind, shop.credential?.mode, shop.databases], ['mysql', 'per_grant_user', ['shop', 'shop_archive']]);
  assert.deepEqual(policy.rolesFor(shop).map((r) => r.name), ['shop-read', 'prod-admin']);
  const read = policy.role('read')!;
  assert.equal(read.privileges.sql, 'read');
  assert.ok(policy.roleCovers(read, demo!));
  assert.ok(read.approval.auto_approve.some((r) => r.max_duration !== undefined && r.max_duration <= 3600 && r.time_window !== undefined));
  assert.ok(read.justification.ticket_pattern && read.justification.hint);
  const write = policy.role('write')!;
  assert.equal(write.approval.approvals, 2);
  assert.equal(write.break_glass, true);
  assert.ok(policy.isAdmin(policy.principal('carol')!) || policy.isAdmin(policy.principal('bob')!) || policy.isAdmin(policy.principal('alice')!));
});

test('examples/demo.yaml loads as npm start fills it in, with a support role that masks e-mail and phone', () => {
  const text = readFileSync(join(import.meta.dirname, '../../examples/demo.yaml'), 'utf8').replace('${DEMO_PG_PORT}', '5999').replace('${DEMO_BOX_DIR}', '/tmp/demo-box');
  const policy = parsePolicy(text);
  const support = policy.role('support')!;
  assert.ok(policy.roleCovers(support, policy.resource('demo-orders')!));
  assert.equal(support.privileges.sql, 'read');
  assert.deepEqual(support.masking?.rules.map((r) => [r.column, r.method]), [['customers.email', 'email'], ['customers.phone', 'partial']]);
  assert.ok(support.approval.auto_approve.some((r) => r.requester_groups.includes('engineers')), 'alice gets it without waiting for a person');
});

test('a command rule that cannot be read is a policy error at its line, with the reader\'s reason', () => {
  expectProblems(fixture({}, ['    commands:', '      allow: ["ls ...", "ls ; rm"]', '      deny: ["rm ... -f", "ok"]']), [
    { line: 23, column: 25, field: 'roles[0].commands.allow[1]', message: /^the command rule cannot be read: ';' would run a second command/ },
    { line: 24, column: 14, field: 'roles[0].commands.deny[0]', message: /^the command rule cannot be read: \.\.\. may only be the last word of a rule/ },
  ]);
  const role = parsePolicy(fixture({}, ['    commands: { allow: ["ls ...", "git log *"], deny: ["rm"] }'])).role('read')!;
  assert.deepEqual(role.commands, { allow: ['ls ...', 'git log *'], deny: ['rm'] });
});

test('ssh.agent_forwarding and ssh.x11 are refused while the gateway does not relay them', () => {
  expectProblems(fixture({}, ['    ssh: { agent_forwarding: true, x11: true }']), [
    { line: 22, field: 'roles[0].ssh.agent_forwarding', message: /^agent forwarding \(ssh -A\) is not supported yet: the SSH gateway refuses it in every session; remove agent_forwarding or set it to false/ },
    { line: 22, field: 'roles[0].ssh.x11', message: /^X11 forwarding \(ssh -X\) is not supported yet: .* remove x11 or set it to false/ },
  ]);
  const role = parsePolicy(fixture({}, ['    ssh: { agent_forwarding: false, x11: false }'])).role('read')!;
  assert.deepEqual([role.ssh.agent_forwarding, role.ssh.x11], [false, false], 'the fields are kept, and false is accepted');
});

test('ssh.shell: false without commands.allow is refused: any command could start a shell', () => {
  expectProblems(fixture({}, ['    ssh: { shell: false }']), [{ line: 22, field: 'roles[0].ssh.shell', message: /ssh\.shell: false needs commands\.allow: .*any command could start a shell/ }]);
  expectProblems(fixture({}, ['    ssh: { shell: false }', '    commands: { deny: ["rm ..."] }']), [{ line: 22, field: 'roles[0].ssh.shell', message: /needs commands\.allow/ }]);
  assert.doesNotThrow(() => parsePolicy(fixture({}, ['    ssh: { shell: false }', '    commands: { allow: ["uptime"] }']), 'policy.yaml'));
});
