// The CancelRequest token bucket: 50 at once, then 20 a second per address (an IPv6 /64 is one), logged once a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelRateLimit, addressKey } from '../../src/gateway/postgres/cancel-rate-limit.js';

test('defaults: a burst of 50, then 20 a second; other addresses are not affected', () => {
  let now = 1000;
  const lim = new CancelRateLimit({}, () => now);
  const results = Array.from({ length: 60 }, () => lim.take('10.0.0.1'));
  assert.equal(results.filter((r) => r === 'allowed').length, 50);
  assert.deepEqual(results.slice(50), ['throttled_first', ...Array<string>(9).fill('throttled')]);
  assert.equal(lim.take('10.0.0.2'), 'allowed');
  now += 100; // 2 tokens
  assert.deepEqual([lim.take('10.0.0.1'), lim.take('10.0.0.1'), lim.take('10.0.0.1')], ['allowed', 'allowed', 'throttled']);
  now += 10_000; // refilled to the burst, not beyond
  assert.equal(Array.from({ length: 60 }, () => lim.take('10.0.0.1')).filter((r) => r === 'allowed').length, 50);
});

test('the first over-limit event per address is reported once a minute, not per packet', () => {
  let now = 0;
  const lim = new CancelRateLimit({ perSecond: 1, burst: 1 }, () => now);
  assert.equal(lim.take('a'), 'allowed');
  assert.equal(lim.take('a'), 'throttled_first');
  const reports: string[] = [];
  for (let i = 0; i < 600; i++) {
    now += 100;
    const r = lim.take('a');
    if (r !== 'allowed') reports.push(r);
  }
  assert.equal(reports.filter((r) => r === 'throttled_first').length, 1, 'one report within the minute');
  now += 60_000;
  lim.take('a');
  assert.equal(lim.take('a'), 'throttled_first');
});

test('IPv6 addresses share a bucket per /64; the table of addresses is bounded', () => {
  assert.equal(addressKey('2001:db8:1:2::5'), addressKey('2001:db8:1:2:ffff::1'));
  assert.notEqual(addressKey('2001:db8:1:2::5'), addressKey('2001:db8:1:3::5'));
  assert.equal(addressKey('127.0.0.2'), '127.0.0.2');
  const lim = new CancelRateLimit({ maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) lim.take(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(lim.addresses, 100);
});
