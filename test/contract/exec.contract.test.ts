// The gateway contract (gateway-contract.ts) for the exec front-end: the websocket `airlock exec` speaks, to a local
// argv template (env -C <target> -- <command>) whose targets are temporary directories. One contract session is one
// exec session; each query is one command line run in it (its output lines are the rows); idle is the default shell
// waiting for input.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { execClient, type ExecClient } from '../support/exec-client.js';
import { runGatewayContract, type ContractSession } from './gateway-contract.js';

/** What the client was told: the error message, and the line written to its terminal. */
class ExecError extends Error {
  constructor(readonly code: string, message: string, readonly terminal: string) {
    super(message);
  }
}

const clients = new WeakMap<ContractSession, ExecClient>();
const targets = [realpathSync(mkdtempSync(join(tmpdir(), 'airlock-contract-exec-a-'))), realpathSync(mkdtempSync(join(tmpdir(), 'airlock-contract-exec-b-')))] as [string, string];
// A variable of the gateway's own environment: no command, error, log or API answer may show it.
const gatewaySecret = `contract-exec-${randomBytes(12).toString('hex')}`;

runGatewayContract({
  protocol: 'exec',
  serverOptions: {},
  texts: { one: 'echo one', answer: 'echo 42 answer', answerAudited: /^echo 42 answer$/, answerRows: null, redactsLiterals: false, missing: '/nonexistent/airlock-contract-missing' },
  sessionEndExtra: ['recording'],
  targets: { allowed: targets, refused: '/etc' },

  async prepare() {
    return {
      resource: (name) => `  - name: ${name}
    kind: exec
    exec:
      command: ["/usr/bin/env", "-C", "{target}", "--", "{command}"]
      targets: ["${targets[0]}", "${targets[1]}"]`,
      env: { CONTRACT_EXEC_GATEWAY_SECRET: gatewaySecret },
      secrets: [gatewaySecret],
      drop: async () => {
        for (const t of targets) rmSync(t, { recursive: true, force: true });
      },
    };
  },

  sleepSql: (seconds) => `sleep ${seconds}`,

  async connect(server, login): Promise<ContractSession> {
    const c = execClient(server.apiUrl, login.token, { principal: login.principal, resource: login.resource, target: login.database });
    const told = (): ExecError | null => {
      const e = c.errors[c.errors.length - 1];
      return e ? new ExecError(e.code, e.message, c.stdout()) : null;
    };
    try {
      await c.ready;
    } catch {
      await c.closed;
      throw told() ?? new ExecError('CLOSED', 'the connection closed before the session opened', c.stdout());
    }
    const ended = c.closed.then(({ at }) => ({ at, error: told() }));
    const s: ContractSession = {
      async query(line) {
        const from = c.stdout().length;
        c.exec(line);
        const r = await Promise.race([c.exit(), c.closed.then(() => null)]);
        if (r === null) throw told() ?? new ExecError('CLOSED', 'the session closed', c.stdout());
        if (r.code !== 0) throw new ExecError(`exit ${r.code ?? r.signal}`, c.stderr(), c.stdout());
        return c.stdout().slice(from).split('\n').filter((l) => l.length > 0);
      },
      garbage(bytes) {
        // Below the websocket framing, as a broken client would.
        (c.ws as unknown as { _socket: Socket })._socket.write(bytes);
      },
      ended,
      async close() {
        c.close();
        await c.closed;
      },
    };
    clients.set(s, c);
    return s;
  },

  async idle(s) {
    // The default shell, waiting for input: a session that has a process and does nothing.
    clients.get(s)!.exec(undefined);
  },

  describe(err) {
    const e = err as ExecError;
    return { code: String(e.code ?? ''), text: [`${e.code}: ${e.message}`, e.terminal].filter(Boolean).join('\n') };
  },
});
