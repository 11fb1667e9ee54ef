// The console's Sessions page in Chromium: Play opens a recorded SSH session in asciinema-player (its output on
// screen); Watch shows a live session as it happens, new output appearing without a reload, until it ends; a recording
// that fails its seal shows the server's sentence instead. The browser signs in with its cookie like any console page.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { ensureConsoleBuilt, launchBrowser, person, screenshot, signInWithToken, type Person } from '../support/browser.js';
import { startRecordingsAirlock, type RecordingsAirlock } from '../integration/recordings-harness.js';

describe('recordings in the console', () => {
  let a: RecordingsAirlock;
  let browser: Browser;
  let sec: Person;
  let deploy: { id: string };
  before(async () => {
    ensureConsoleBuilt();
    a = await startRecordingsAirlock();
    deploy = await a.record('alice', 'bastion', [[0, '$ systemctl restart payments\r\n'], [20, 'payments restarted OK-4242\r\n']]);
    browser = await launchBrowser();
    sec = await person(browser, 'sec');
    await signInWithToken(sec, a.server.apiUrl, a.tokens.sec);
  });
  after(async () => {
    await browser?.close();
    await a?.stop();
  });

  test('Play shows the recorded output in the player', async () => {
    const { page } = sec;
    await page.goto(`${a.server.apiUrl}/sessions`);
    const row = page.locator(`[data-testid="ended-session"][data-session-id="${deploy.id}"]`);
    await row.getByRole('button', { name: /Play the recording of alice's session on bastion/ }).click();
    const player = page.getByTestId('recording-player');
    await player.getByText('payments restarted OK-4242').waitFor();
    assert.match((await player.textContent()) ?? '', /systemctl restart payments/);
    await screenshot(page, 'recording-played');
    const { events } = await a.api<{ events: { actor: string; details: Record<string, unknown> }[] }>(a.adminToken, 'GET', '/api/v1/audit/events?action=recording.viewed');
    assert.ok(events.some((e) => e.actor === 'sec' && e.details.session_id === deploy.id), 'viewing in the console is audited');
    assert.deepEqual(sec.errors, []);
  });

  test('Watch shows a live session as it happens, next to Kill', async () => {
    const { page } = sec;
    const live = await a.open('alice', 'bastion', 'bash');
    live.recording.output('alice@bastion:~$ ');
    await page.goto(`${a.server.apiUrl}/sessions`);
    const row = page.locator(`[data-testid="live-session"][data-session-id="${live.session.id}"]`);
    await row.getByRole('button', { name: /^Kill/ }).waitFor();
    await row.getByRole('button', { name: /Watch alice's session on bastion/ }).click();
    const player = page.getByTestId('live-player');
    await player.getByText('alice@bastion:~$').waitFor();
    live.recording.output('tail -f /var/log/payments.log\r\nLIVE-LINE-7781 charge accepted\r\n');
    await player.getByText('LIVE-LINE-7781 charge accepted').waitFor();
    await screenshot(page, 'recording-live');
    await live.end();
    const { events } = await a.api<{ events: { actor: string; details: Record<string, unknown> }[] }>(a.adminToken, 'GET', '/api/v1/audit/events?action=session.watched');
    assert.deepEqual(events.filter((e) => e.details.session_id === live.session.id).map((e) => e.actor), ['sec']);
    assert.deepEqual(sec.errors, []);
  });

  test('a recording that fails its seal is not played; the page says why', async () => {
    const { page } = sec;
    const list = await a.api<{ recordings: { session_id: string; file: string }[] }>(a.tokens.sec, 'GET', '/api/v1/recordings');
    const file = join(a.dir, 'data', list.recordings.find((r) => r.session_id === deploy.id)!.file);
    copyFileSync(file, `${file}.orig`);
    try {
      writeFileSync(file, readFileSync(file, 'utf8').replace('OK-4242', 'OK-4243'));
      await page.goto(`${a.server.apiUrl}/sessions`);
      await page.locator(`[data-testid="ended-session"][data-session-id="${deploy.id}"]`).getByRole('button', { name: /Play/ }).click();
      const alert = page.getByTestId('recording-player').getByRole('alert');
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /does not match the seal in its session\.end event \(edited/);
      assert.equal(await page.getByText('OK-4243').count(), 0);
    } finally {
      copyFileSync(`${file}.orig`, file);
      rmSync(`${file}.orig`);
    }
  });
});
