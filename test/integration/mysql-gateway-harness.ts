// The Airlock server in-process with a MySQL resource on the machine's MariaDB: a test database and an upstream user
// of its own (dropped afterwards), tokens and grants through the API, and clients through the MySQL gateway.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import mysql from 'mysql2/promise';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';

export const MARIADB = { host: process.env.AIRLOCK_TEST_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.AIRLOCK_TEST_MYSQL_PORT ?? 3306), user: process.env.AIRLOCK_TEST_MYSQL_USER ?? 'root', password: process.env.AIRLOCK_TEST_MYSQL_PASSWORD ?? '' };

export async function adminQuery(sql: string, params: unknown[] = []): Promise<unknown[]> {
  const c = await mysql.createConnection({ ...MARIADB, multipleStatements: false });
  try {
    const [rows] = await c.query(sql, params);
    return rows as unknown[];
  } finally {
    await c.end();
  }
}

export interface MysqlHarness {
  airlock: InProcessAirlock;
  db: string;
  /** A second schema on the server that the resource does not cover. */
  other: string;
  gw: { host: string; port: number; ca: string };
  token(principal?: string): Promise<string>;
  /** The requester (alice by her token, or another engineer) asks for `role` on shop-db, bob approves; the grant id. */
  grant(role: 'write' | 'read' | 'capped', requesterToken: string): Promise<string>;
  bobToken: string;
  /** The upstream MySQL user the resource's injected credential names. */
  upstreamUser: string;
  /** Connections the upstream user has open on the server (root's view of the process list). */
  upstreamThreads(): Promise<number>;
  events(action: string): Promise<{ action: string; details: Record<string, unknown> }[]>;
  close(): Promise<void>;
}

export async function startMysqlHarness(): Promise<MysqlHarness> {
  const suffix = randomBytes(5).toString('hex');
  const db = `airlock_t_${suffix}`;
  const other = `airlock_t_${suffix}_other`;
  const user = `airlock_t_${suffix}`;
  const password = randomBytes(12).toString('base64url');
  const env = `AIRLOCK_T_MYSQL_${suffix.toUpperCase()}`;
  await adminQuery(`CREATE DATABASE \`${db}\``);
  await adminQuery(`CREATE DATABASE \`${other}\``);
  await adminQuery(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await adminQuery(`CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}'`);
  for (const h of ['%', 'localhost']) await adminQuery(`GRANT ALL ON \`${db}\`.* TO '${user}'@'${h}'`);
  await adminQuery(`CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(100), note TEXT)`);
  await adminQuery(`INSERT INTO \`${db}\`.items VALUES (1, 'apple', 'red'), (2, 'pear', 'green'), (3, 'plum', 'blue')`);
  const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: carol, groups: [engineers] }
  - { name: dave, groups: [engineers] }
  - { name: erin, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: shop-db
    kind: mysql
    address: "${MARIADB.host}:${MARIADB.port}"
    database: ${db}
    credential: { username: ${user}, password: { env: ${env} }, mode: injected }
roles:
  - name: write
    resources: { names: [shop-db] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: capped
    resources: { names: [shop-db] }
    privileges: { sql: write }
    guardrails: { max_rows: 2 }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: read
    resources: { names: [shop-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
  const dropAll = async () => {
    await adminQuery(`DROP DATABASE IF EXISTS \`${db}\``);
    await adminQuery(`DROP DATABASE IF EXISTS \`${other}\``);
    for (const h of ['%', 'localhost']) await adminQuery(`DROP USER IF EXISTS '${user}'@'${h}'`);
  };
  let airlock: InProcessAirlock;
  try {
    airlock = await startAirlock({ policy, env: { [env]: password } });
  } catch (err) {
    await dropAll();
    throw err;
  }
  const g = airlock.server.gateways.mysql!;
  const bobToken = await airlock.token('bob');
  return {
    airlock,
    db,
    other,
    gw: { host: g.host, port: g.port, ca: g.ca },
    bobToken,
    upstreamUser: user,
    async upstreamThreads() {
      const rows = (await adminQuery('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?', [user])) as { n: number }[];
      return Number(rows[0]!.n);
    },
    token: (p = 'alice') => airlock.token(p),
    async grant(role, requesterToken) {
      const req = await airlock.api<{ id: string }>(requesterToken, 'POST', '/api/v1/requests', { resource: 'shop-db', role, duration: '30m', reason: 'OPS-13 test' });
      return (await airlock.api<{ grant_id: string }>(bobToken, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id;
    },
    async events(action) {
      const r = await airlock.api<{ events: { action: string; details: Record<string, unknown> }[] }>(bobToken, 'GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=500`);
      return r.events;
    },
    async close() {
      await airlock.stop();
      await dropAll();
    },
  };
}

/** Runs the Debian `mariadb` client; resolves with its exit code and output. */
export function mariadbCli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', ['--no-defaults', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** A bare-socket client: logs in with mysql_native_password, then sends whatever packets a test wants. */
export async function rawLogin(port: number, user: string, token: string, database: string, opts: { charset?: number } = {}): Promise<import('node:net').Socket> {
  const { connect } = await import('node:net');
  const { nativeProof } = await import('../../src/gateway/mysql/handshake.js');
  const sock = connect({ host: '127.0.0.1', port });
  sock.on('error', () => {});
  const read = () =>
    new Promise<Buffer>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3)) {
          sock.off('data', onData);
          resolve(buf.subarray(4, 4 + buf.readUIntLE(0, 3)));
        }
      };
      sock.on('data', onData);
      sock.once('close', () => reject(new Error('closed')));
    });
  const hello = await read();
  const verEnd = hello.indexOf(0, 1);
  const p1 = hello.subarray(verEnd + 5, verEnd + 13);
  const p2 = hello.subarray(verEnd + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10, verEnd + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 12);
  const proof = nativeProof(token, Buffer.concat([p1, p2]));
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE(0x0008 | 0x0200 | 0x8000 | 0x80000, 0);
  fixed.writeUInt32LE(1 << 24, 4);
  fixed[8] = opts.charset ?? 45;
  const body = Buffer.concat([fixed, Buffer.from(`${user}\0`), Buffer.from([proof.length]), proof, Buffer.from(`${database}\0`), Buffer.from('mysql_native_password\0')]);
  const head = Buffer.alloc(4);
  head.writeUIntLE(body.length, 0, 3);
  head[3] = 1;
  sock.write(Buffer.concat([head, body]));
  const ok = await read();
  if (ok[0] !== 0) throw new Error(`login refused: ${ok.subarray(9).toString()}`);
  return sock;
}

/** Commands on a raw session (rawLogin): each sent as one packet, its whole response read back (classic EOF framing). */
export interface RawSession {
  /** The response's packets: one OK, ERR or EOF, or a result set (column count, columns, EOF, rows, EOF). */
  command(payload: Buffer): Promise<Buffer[]>;
  /** A COM_QUERY; its rows as text (NULL as null), or the ERR as an Error with `errno`. */
  query(sql: string): Promise<(string | null)[][]>;
  closed: Promise<void>;
}

export function rawSession(sock: import('node:net').Socket): RawSession {
  const packets: Buffer[] = [];
  let wake: (() => void) | null = null;
  let buf = Buffer.alloc(0);
  let isClosed = false;
  const closed = new Promise<void>((r) => sock.once('close', () => ((isClosed = true), wake?.(), r())));
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3)) {
      const n = buf.readUIntLE(0, 3);
      packets.push(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
    }
    wake?.();
  });
  const next = async (): Promise<Buffer> => {
    for (;;) {
      const p = packets.shift();
      if (p) return p;
      if (isClosed) throw new Error('the gateway closed the connection');
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
  };
  const command = async (payload: Buffer): Promise<Buffer[]> => {
    const head = Buffer.alloc(4);
    head.writeUIntLE(payload.length, 0, 3);
    sock.write(Buffer.concat([head, payload]));
    const first = await next();
    if (first[0] === 0x00 || first[0] === 0xff || (first[0] === 0xfe && first.length < 9)) return [first];
    const out = [first];
    let eofs = 0;
    while (eofs < 2) {
      const p = await next();
      out.push(p);
      if (p[0] === 0xfe && p.length < 9) eofs++;
      else if (p[0] === 0xff) break;
    }
    return out;
  };
  return {
    command,
    closed,
    async query(sql) {
      const res = await command(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]));
      const err = res.find((p) => p[0] === 0xff);
      if (err) throw Object.assign(new Error(err.subarray(9).toString('utf8')), { errno: err.readUInt16LE(1) });
      if (res.length === 1) return [];
      const rows: (string | null)[][] = [];
      let past = 0;
      for (const p of res.slice(1)) {
        if (p[0] === 0xfe && p.length < 9) {
          past++;
          continue;
        }
        if (past !== 1) continue;
        const row: (string | null)[] = [];
        for (let off = 0; off < p.length; ) {
          if (p[off] === 0xfb) {
            row.push(null);
            off++;
            continue;
          }
          const [n, skip] = p[off]! < 0xfb ? [p[off]!, 1] : p[off] === 0xfc ? [p.readUInt16LE(off + 1), 3] : [p.readUIntLE(off + 1, 3), 4];
          row.push(p.subarray(off + skip, off + skip + n).toString('utf8'));
          off += skip + n;
        }
        rows.push(row);
      }
      return rows;
    },
  };
}

/** Polls `check` until it holds (a condition, not a fixed sleep). */
export async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a `SELECT SLEEP(30)` is running on the server. */
export async function sleepRunning(): Promise<boolean> {
  return ((await adminQuery("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(30)%'")) as { n: number }[])[0]!.n > 0;
}
