// Probes for load balancers and orchestrators: /healthz (the process answers) and /readyz (it can serve), no auth.
import type { FastifyInstance } from 'fastify';

export interface ReadinessCheck {
  ok: boolean;
  /** What was seen, for a person reading the answer: "policy 3f2a…", "the audit writer failed: …". */
  detail: string;
}

/** Named checks, each run on every /readyz; one that throws counts as failed with its message. */
export type Readiness = Record<string, () => Promise<ReadinessCheck> | ReadinessCheck>;

/** A probe that hangs is a failed probe: each check gets this long. */
const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: () => Promise<ReadinessCheck> | ReadinessCheck): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<ReadinessCheck>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS / 1000} s` }), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    return { ok: false, detail: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealth(app: FastifyInstance, deps: { version: string; readiness?: Readiness }): void {
  app.get('/healthz', { schema: { hide: true } }, async function healthz(_req, reply) {
    return reply.header('cache-control', 'no-store').send({ ok: true, version: deps.version });
  });
  app.get('/readyz', { schema: { hide: true } }, async function readyz(_req, reply) {
    const names = Object.keys(deps.readiness ?? {});
    const results = await Promise.all(names.map((n) => runCheck(deps.readiness![n]!)));
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
    const failing = names.filter((_n, i) => !results[i]!.ok);
    reply.header('cache-control', 'no-store');
    if (failing.length === 0) return reply.send({ ok: true, version: deps.version, checks });
    return reply.status(503).send({
      ok: false,
      code: 'AIRLOCK_NOT_READY',
      detail: `Not ready: ${failing.map((n) => `${n} (${checks[n]!.detail})`).join('; ')}.`,
      failing,
      version: deps.version,
      checks,
    });
  });
}
