// file_transfer: false's look through a command line: the program behind wrappers and shell syntax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runsFileTransfer } from '../../src/gateway/ssh/file-transfer.js';

test('scp, sftp-server, sftp, internal-sftp and rsync are found behind wrappers and shell syntax', () => {
  for (const line of [
    'scp -t /x', '/usr/bin/rsync --server . /x', 'exec /usr/lib/openssh/sftp-server', 'true;s\\cp -t /path', 'env scp -t x',
    'env -i FOO=1 scp -t x', 'env -S "scp -t x"', 'command rsync --server', "rsync --rsync-path='exec rsync'", 'exec rsync --server -e.x . /tmp',
    'sh -c "s\'\'cp -t x"', 'sc$(true)p -t x', 's${X}cp -t x', 'sudo -u root /usr/bin/scp -f /x', 'nice -n5 internal-sftp', 'timeout 5 sftp host',
    'busybox sh -c "rsync"', 'xargs -0 scp', 'FOO=1 scp -t x', 'echo hi | rsync --server . /x',
  ]) assert.equal(runsFileTransfer(line), true, line);
});

test('other commands run, including ones whose file names only contain the words', () => {
  for (const line of ['ls -l', 'echo hi; id', 'cat /etc/rsyncd.conf', 'grep rsync /var/log/syslog', 'uptime', 'tail -f /var/log/scp-audit.log'])
    assert.equal(runsFileTransfer(line), false, line);
});
