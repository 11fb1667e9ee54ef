// The SSH gateway with the real OpenSSH client and a real sshd: exec with exit codes, env allowlist, command rules,
// refusals shown as banners, port forwarding refused, and the audit of each command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSshHarness, type SshHarness } from './ssh-gateway-harness.js';

let h: SshHarness;
before(async () => {
  h = await startSshHarness();
});
after(async () => {
  await h?.close();
});

test('no grant: the refusal and what to do are shown to the ssh user, and audited', async () => {
  const t = await h.token('carol');
  const r = await h.run(t, 'carol%bastion', ['true']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /airlock: no active grant for bastion — request one: airlock request bastion --role \w+ --for 1h --reason "…" \(AIRLOCK_NO_GRANT\)/);
  const refused = (await h.events('session.refused')).filter((e) => e.actor === 'carol');
  assert.equal(refused.at(-1)?.details.airlock_code, 'AIRLOCK_NO_GRANT');
});

test('a wrong token and a malformed user name are refused with a message', async () => {
  const bad = await h.run('alk_not_a_real_token_at_all_xxxxxxxxxxxx', 'alice%bastion', ['true']);
  assert.equal(bad.code, 255);
  assert.match(bad.stderr, /airlock: .*token.*\(AIRLOCK_TOKEN_INVALID\)/);
  const t = await h.token();
  const noSep = await h.run(t, 'alice', ['true']);
  assert.equal(noSep.code, 255);
  assert.match(noSep.stderr, /user name must be <principal>%<resource>/);
});

test('exec: output, exit status passed back, env allowlist, and each command audited', async () => {
  const t = await h.token();
  await h.grant('shell');
  const r = await h.run(t, 'alice%bastion', ['-o', 'SendEnv=SSHTEST_OK SSHTEST_NO', 'echo', 'hi-$SSHTEST_OK-$SSHTEST_NO;', 'exit', '3'], { });
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'hi-yes-\n');
  assert.match(r.stderr, /airlock: the environment variable SSHTEST_NO was not passed on/);
  const stmts = (await h.events('statement')).filter((e) => e.actor === 'alice');
  const ran = stmts.find((e) => String(e.details.text).startsWith('echo hi-'));
  assert.equal(ran?.details.decision, 'allowed');
  assert.equal(ran?.details.error, 'exit status 3');
  const env = stmts.find((e) => e.details.text === 'env SSHTEST_NO');
  assert.equal(env?.details.decision, 'refused');
  assert.equal(env?.details.rule, 'ssh.env');
});
