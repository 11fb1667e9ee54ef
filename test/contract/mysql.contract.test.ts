// The gateway contract (gateway-contract.ts) for the MySQL/MariaDB front-end: mysql2 through the real gateway, TLS
// verified against the Airlock CA, to two fresh schemas on the machine's MariaDB.
import mysql from 'mysql2/promise';
import { createTestMysql } from '../support/mysql.js';
import { runGatewayContract, type ContractSession } from './gateway-contract.js';

runGatewayContract({
  protocol: 'mysql',
  serverOptions: { mysqlListen: { host: '127.0.0.1', port: 0 } },

  async prepare() {
    const a = await createTestMysql();
    const b = await createTestMysql();
    return {
      resource: (name) => `  - name: ${name}
    kind: mysql
    address: "${a.address}"
    databases: [${a.schema}, ${b.schema}]
    credential: { username: ${a.admin.user}, password: { env: CONTRACT_MYSQL_PASSWORD }, mode: injected }`,
      databases: [a.schema, b.schema],
      uncovered: a.otherSchema,
      env: { CONTRACT_MYSQL_PASSWORD: a.admin.password },
      secrets: [a.admin.password],
      drop: async () => {
        await a.drop();
        await b.drop();
      },
    };
  },

  sleepSql: (seconds) => `select sleep(${seconds})`,

  async connect(server, login): Promise<ContractSession> {
    const gw = server.gateways.mysql!;
    const c = await mysql.createConnection({
      host: gw.host, port: gw.port, user: login.principal, password: login.token,
      database: login.database === undefined ? login.resource : `${login.resource}/${login.database}`,
      ssl: { ca: gw.ca }, connectTimeout: 10_000,
    });
    let told: unknown = null;
    c.on('error', (e: unknown) => void (told ??= e));
    const stream = (c as unknown as { connection: { stream: { write(b: Buffer): void; once(ev: 'close', f: () => void): void } } }).connection.stream;
    const ended = new Promise<{ at: number; error: unknown }>((resolve) => stream.once('close', () => resolve({ at: Date.now(), error: told })));
    return {
      query: async (sql) => (await c.query(sql))[0] as unknown[],
      garbage: (bytes) => void stream.write(bytes),
      ended,
      close: () => c.end(),
    };
  },

  describe(err) {
    const e = err as { errno?: number; code?: string; message?: string; sqlMessage?: string };
    return { code: String(e.errno ?? e.code ?? ''), text: [e.message, e.sqlMessage].filter(Boolean).join('\n') };
  },
});
