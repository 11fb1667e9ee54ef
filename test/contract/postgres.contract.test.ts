// The gateway contract (gateway-contract.ts) for the PostgreSQL front-end: node-postgres through the real gateway, TLS
// verified against the Airlock CA, to two fresh databases on the tests' PostgreSQL.
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { adminUrl, createTestDatabase } from '../support/pg.js';
import { runGatewayContract, type ContractSession } from './gateway-contract.js';

runGatewayContract({
  protocol: 'postgres',
  serverOptions: { pgListen: { host: '127.0.0.1', port: 0 } },

  async prepare() {
    const [a, b] = [await createTestDatabase('airlock_contract'), await createTestDatabase('airlock_contract')];
    const url = new URL(adminUrl());
    // The tests' server trusts local logins unless its URL carries a password; either way this is what is sent.
    const password = decodeURIComponent(url.password) || `contract-${randomBytes(12).toString('hex')}`;
    return {
      resource: (name) => `  - name: ${name}
    kind: postgres
    address: "${url.hostname}:${url.port || 5432}"
    databases: [${a.name}, ${b.name}]
    credential: { username: ${decodeURIComponent(url.username) || 'postgres'}, password: { env: CONTRACT_PG_PASSWORD }, mode: injected }`,
      databases: [a.name, b.name],
      uncovered: 'postgres',
      env: { CONTRACT_PG_PASSWORD: password },
      secrets: password.length >= 8 ? [password] : [],
      drop: async () => {
        await a.drop();
        await b.drop();
      },
    };
  },

  sleepSql: (seconds) => `select pg_sleep(${seconds})`,

  async connect(server, login): Promise<ContractSession> {
    const gw = server.gateways.postgres!;
    const c = new pg.Client({
      host: gw.host, port: gw.port, user: login.principal, password: login.token,
      database: login.database === undefined ? login.resource : `${login.resource}/${login.database}`,
      ssl: { ca: gw.ca, servername: 'localhost' }, connectionTimeoutMillis: 10_000,
    });
    let told: unknown = null;
    c.on('error', (e) => void (told ??= e));
    const ended = new Promise<{ at: number; error: unknown }>((resolve) => c.on('end', () => resolve({ at: Date.now(), error: told })));
    await c.connect();
    return {
      query: async (sql) => (await c.query(sql)).rows,
      garbage: (bytes) => void (c as unknown as { connection: { stream: { write(b: Buffer): void } } }).connection.stream.write(bytes),
      ended,
      close: () => c.end(),
    };
  },

  describe(err) {
    const e = err as { code?: string; message?: string; detail?: string; hint?: string };
    return { code: String(e.code ?? ''), text: [e.message, e.detail, e.hint].filter(Boolean).join('\n') };
  },
});
