// Two servers in one process keep their metrics apart (each has its own registry, not prom-client's global one), and
// a server that stops leaves nothing of its metrics running (the file would not end otherwise).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { E2E_POLICY } from '../support/policies.js';
import { parseExposition, sampleValue } from '../support/metrics.js';

const running: InProcessAirlock[] = [];
after(async () => {
  for (const a of running) await a.stop();
});

async function scrape(a: InProcessAirlock) {
  const r = await fetch(`${a.server.apiUrl}/metrics`);
  assert.equal(r.status, 200);
  return parseExposition(await r.text());
}

test('two servers in one process: each scrape counts only its own requests', async () => {
  const one = await startAirlock({ policy: E2E_POLICY });
  running.push(one);
  const two = await startAirlock({ policy: E2E_POLICY });
  running.push(two);
  const alice = await one.token('alice');
  const bob = await one.token('bob');
  const req = await one.api<{ id: string }>(alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '1h', reason: 'OPS-3 one' });
  await one.api(bob, 'POST', `/api/v1/requests/${req.id}/deny`, { comment: 'no' });
  const [m1, m2] = [await scrape(one), await scrape(two)];
  assert.equal(sampleValue(m1, 'airlock_request_outcomes_total', { outcome: 'denied' }), 1);
  assert.equal(sampleValue(m2, 'airlock_request_outcomes_total', { outcome: 'denied' }), 0);
  assert.equal(sampleValue(m1, 'airlock_api_request_duration_seconds_count', { route: '/api/v1/requests/:id/deny' }), 1);
  assert.equal(sampleValue(m2, 'airlock_api_request_duration_seconds_count', { route: '/api/v1/requests/:id/deny' }), 0);
  assert.ok(sampleValue(m2, 'process_cpu_seconds_total') > 0, 'each registry has the process metrics too');
});
