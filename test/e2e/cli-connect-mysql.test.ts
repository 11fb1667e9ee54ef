// `airlock connect`, `airlock gateways` and `airlock resources` for a MySQL resource, through the real CLI and server:
// the settings a mariadb/mysql client needs, the password only in MYSQL_PWD, and clear refusals for the wrong client.
// The MySQL listener's address is set on the running server here (its front-end is tested on its own).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../support/server-process.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';

const POLICY = `version: 1
principals: [{ name: alice, groups: [eng] }, { name: bob, groups: [dba] }]
resources:
  - { name: shop-db, kind: mysql, address: "127.0.0.1:3306", databases: [shop, shop_archive], credential: { username: root, password: { env: AIRLOCK_TEST_NONE }, mode: injected } }
  - { name: orders, kind: postgres, address: "127.0.0.1:5432", database: orders }
roles:
  - { name: read, resources: { names: [shop-db, orders] }, max_duration: 4h, requestable_by: { groups: [eng] }, approval: { approver_groups: [dba] } }
`;

let s: InProcessAirlock;
let alice: string;
let grantId: string;
const mysqlPort = 3307 + Math.floor(Math.random() * 1000);
const home = mkdtempSync(join(tmpdir(), 'airlock-cli-mysql-'));
const env = { AIRLOCK_CONFIG_DIR: join(home, 'config') };

/** A stand-in `mariadb`/`mysql` first on PATH that reports the argv and whether MYSQL_PWD held the password. */
function fakeClient(name: string, version: string): Record<string, string> {
  const bin = mkdtempSync(join(home, 'bin-'));
  writeFileSync(join(bin, name), `#!/bin/sh\nif [ "$1" = --version ]; then echo "${version}"; exit 0; fi\nprintf '%s\\n' "$@" > "${bin}/argv"\nprintf '%s' "$MYSQL_PWD" > "${bin}/pwd"\nexit 7\n`);
  chmodSync(join(bin, name), 0o755);
  return { ...env, PATH: `${bin}:${process.env.PATH}`, FAKE_DIR: bin };
}

before(async () => {
  s = await startAirlock({ policy: POLICY });
  const pg = s.server.gateways.postgres!;
  s.server.gateways.mysql = { host: '127.0.0.1', port: mysqlPort, ca: pg.ca, ca_path: pg.ca_path };
  alice = await s.token('alice');
  grantId = await s.grant(alice, await s.token('bob'), 'shop-db', 'read', '1h');
});

after(async () => {
  await s?.stop();
});

test('the API and `airlock gateways` list every listener: postgres and mysql, one CA', async () => {
  const g = await s.api<{ postgres: { port: number; ca: string }; mysql: { host: string; port: number; ca: string }; listeners: { kind: string; port: number }[]; ca: string }>(alice, 'GET', '/api/v1/gateways');
  assert.deepEqual(g.listeners.map((l) => [l.kind, l.port]), [['postgres', s.gateway.port], ['mysql', mysqlPort]]);
  assert.equal(g.mysql.ca, g.postgres.ca);
  assert.equal(g.ca, g.postgres.ca);
  const human = await cli({ url: s.server.apiUrl }, alice, ['gateways'], { env });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`^KIND\\s+ADDRESS\\s+CLIENTS\\s+TLS\\npostgres\\s+127\\.0\\.0\\.1:${s.gateway.port}\\s+psql, libpq, JDBC\\s+required\\nmysql\\s+127\\.0\\.0\\.1:${mysqlPort}\\s+mariadb, mysql, mysql2\\s+required\\nCA: \\S+\\.crt\\n$`));
  const j = (await cli({ url: s.server.apiUrl }, alice, ['gateways', '--json'], { env })).json();
  assert.deepEqual(j.listeners, [{ kind: 'postgres', host: '127.0.0.1', port: s.gateway.port }, { kind: 'mysql', host: '127.0.0.1', port: mysqlPort }]);
  assert.equal(readFileSync(j.ca_file, 'utf8'), g.ca);
});

test('`airlock resources` names each resource\'s kind and the listener to use', async () => {
  const r = await cli({ url: s.server.apiUrl }, alice, ['resources'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^RESOURCE\\s+KIND\\s+LISTENER\\s+LABELS`));
  assert.match(r.stdout, new RegExp(`\\nshop-db\\s+mysql\\s+127\\.0\\.0\\.1:${mysqlPort}\\s+read\\s+4h`));
  assert.match(r.stdout, new RegExp(`\\norders\\s+postgres\\s+127\\.0\\.0\\.1:${s.gateway.port}\\s+read\\s+4h`));
  const j = (await cli({ url: s.server.apiUrl }, alice, ['resources', '--json'], { env })).json();
  assert.deepEqual(j.resources.map((x: { name: string; kind: string; listener: string }) => [x.name, x.kind, x.listener]), [['shop-db', 'mysql', `127.0.0.1:${mysqlPort}`], ['orders', 'postgres', `127.0.0.1:${s.gateway.port}`]]);
});

test('`airlock connect` on a mysql resource prints host, port, user, a grant-bound password, database and --ssl-ca', async () => {
  const r = await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const j = r.json();
  assert.deepEqual(Object.keys(j).sort(), ['command', 'database', 'expires_at', 'grant_id', 'host', 'password', 'port', 'ssl_ca', 'url', 'user']);
  assert.equal(j.grant_id, grantId);
  assert.deepEqual([j.host, j.port, j.user, j.database], ['127.0.0.1', mysqlPort, 'alice', 'shop-db']);
  assert.equal(readFileSync(j.ssl_ca, 'utf8'), s.gateway.ca);
  assert.equal(j.command, `mariadb -h 127.0.0.1 -P ${mysqlPort} -u alice --ssl-ca=${j.ssl_ca} --ssl-verify-server-cert shop-db`);
  assert.equal(j.url, `mysql://alice@127.0.0.1:${mysqlPort}/shop-db`);
  // The password is an access token bound to the grant, living no longer than it.
  const tokens = (await s.api<{ tokens: { grant_id: string | null; revoked_at: string | null; expires_at: string }[] }>(alice, 'GET', '/api/v1/tokens')).tokens.filter((t) => t.grant_id === grantId && !t.revoked_at);
  assert.equal(tokens.length, 1);
  assert.equal((await s.api<{ principal: { name: string } }>(j.password, 'GET', '/api/v1/whoami')).principal.name, 'alice');

  const other = (await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db', '--database', 'shop_archive', '--json'], { env })).json();
  assert.equal(other.database, 'shop-db/shop_archive');
  assert.equal(other.url, `mysql://alice@127.0.0.1:${mysqlPort}/shop-db%2Fshop_archive`);

  const human = await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db'], { env });
  assert.equal(human.code, 0, human.stderr);
  const lines = human.stdout.split('\n');
  assert.match(lines[0]!, new RegExp(`^# read on shop-db until .* \\(grant ${grantId}\\)$`));
  const pw = /^password: (alk_\S+)$/m.exec(human.stdout)?.[1];
  assert.ok(pw, human.stdout);
  assert.ok(lines.includes(`export MYSQL_PWD=${pw}`));
  const cmdLine = lines.find((l) => l.startsWith('mariadb '));
  assert.match(cmdLine!, new RegExp(`^mariadb -h 127\\.0\\.0\\.1 -P ${mysqlPort} -u alice --ssl-ca=\\S+ --ssl-verify-server-cert shop-db$`));
  assert.ok(!cmdLine!.includes(pw), 'the password is never on the command line');
  assert.match(human.stdout, /# Oracle MySQL 8 client: mysql -h 127\.0\.0\.1 .* --ssl-mode=VERIFY_IDENTITY shop-db/);
});

test('--exec mariadb and --exec mysql run the client with the settings as flags and the password only in MYSQL_PWD', async () => {
  for (const [name, version, verify] of [
    ['mariadb', 'mariadb  Ver 15.1 Distrib 10.11.19-MariaDB', '--ssl-verify-server-cert'],
    ['mysql', 'mysql  Ver 15.1 Distrib 10.11.19-MariaDB, for debian-linux-gnu', '--ssl-verify-server-cert'],
    ['mysql', 'mysql  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)', '--ssl-mode=VERIFY_IDENTITY'],
  ] as const) {
    const e = fakeClient(name, version);
    const r = await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db', '--exec', name, '--', '-e', 'select 1'], { env: e });
    assert.equal(r.code, 7, `the client's exit code is the command's: ${r.stderr}`);
    const argv = readFileSync(join(e.FAKE_DIR!, 'argv'), 'utf8').trimEnd().split('\n');
    const pwd = readFileSync(join(e.FAKE_DIR!, 'pwd'), 'utf8');
    assert.match(pwd, /^alk_/);
    assert.deepEqual(argv.filter((a) => !a.startsWith('--ssl-ca=')), ['-h', '127.0.0.1', '-P', String(mysqlPort), '-u', 'alice', verify, '--database=shop-db', '-e', 'select 1'], `${name} (${version})`);
    assert.ok(!argv.some((a) => a.includes(pwd)), 'the password is not in argv (nor in ps)');
    assert.equal(readFileSync(argv.find((a) => a.startsWith('--ssl-ca='))!.slice('--ssl-ca='.length), 'utf8'), s.gateway.ca);
  }
});

test('a client of the other protocol is refused with what to run instead', async () => {
  const psql = await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db', '--exec', 'psql'], { env });
  assert.equal(psql.code, 2);
  assert.equal(psql.stderr, 'airlock: shop-db is a mysql resource and psql speaks PostgreSQL\'s protocol; run: airlock connect shop-db --exec mariadb (or --exec mysql)\n');
  const maria = await cli({ url: s.server.apiUrl }, alice, ['connect', 'orders', '--exec', 'mariadb'], { env });
  assert.equal(maria.code, 2);
  assert.equal(maria.stderr, 'airlock: orders is a postgres resource and mariadb speaks MySQL\'s protocol; run: airlock connect orders --exec psql\n');
  const j = (await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db', '--exec', '/usr/bin/psql', '--json'], { env })).json();
  assert.equal(j.error.code, 'AIRLOCK_USAGE');
});

test('without a MySQL gateway, connect says how to turn it on', async () => {
  const saved = s.server.gateways.mysql;
  delete s.server.gateways.mysql;
  try {
    const r = await cli({ url: s.server.apiUrl }, alice, ['connect', 'shop-db'], { env });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'airlock: This server runs no MySQL gateway (airlock server --mysql-listen HOST:PORT).\n');
    const res = (await cli({ url: s.server.apiUrl }, alice, ['resources', '--json'], { env })).json();
    assert.equal(res.resources.find((x: { name: string }) => x.name === 'shop-db').listener, null);
  } finally {
    s.server.gateways.mysql = saved;
  }
});
