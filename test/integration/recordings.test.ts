// Session recordings through the real server: the list (who sees what), the asciicast download and its audit event,
// a recording refused once it no longer matches its seal, `audit verify` with recordings (edited, truncated, missing),
// and a live session watched over server-sent events.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, truncateSync, rmSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRecordingsAirlock, type RecordingsAirlock } from './recordings-harness.js';

interface Listed {
  session_id: string;
  principal: string;
  resource: string;
  protocol: string;
  started_at: string;
  bytes: number;
  events: number;
  file: string;
}

/** Reads server-sent events from a response as they come; `next(pred)` waits for the first that matches. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const seen: { event: string; data: string }[] = [];
  let closed = false;
  async function pump(): Promise<void> {
    const { value, done } = await reader.read();
    if (done) {
      closed = true;
      return;
    }
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length) seen.push({ event, data: data.join('\n') });
    }
  }
  return {
    seen,
    async next(pred: (e: { event: string; data: string }) => boolean, what: string): Promise<{ event: string; data: string }> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        if (closed) assert.fail(`the stream closed before ${what}; seen: ${JSON.stringify(seen)}`);
        if (Date.now() > deadline) assert.fail(`no ${what} within 10 s; seen: ${JSON.stringify(seen)}`);
        await pump();
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

describe('session recordings', () => {
  let a: RecordingsAirlock;
  let first: { id: string };
  let second: { id: string };
  let eves: { id: string };
  before(async () => {
    a = await startRecordingsAirlock();
    first = await a.record('alice', 'bastion', [[0, '$ uptime\r\n'], [30, ' 10:01:02 up 3 days,  load average: 0.01\r\n'], [10, '$ exit\r\n']]);
    second = await a.record('alice', 'payments-pod', [[0, 'api-0$ cat /etc/hostname\r\napi-0\r\n']]);
    eves = await a.record('eve', 'bastion', [[0, 'eve was here\r\n']]);
  });
  after(async () => {
    await a?.stop();
  });

  test('the list: your own recordings, everyone\'s for auditors, filtered by principal and resource', async () => {
    const mine = (await a.api<{ recordings: Listed[] }>(a.tokens.alice, 'GET', '/api/v1/recordings')).recordings;
    assert.deepEqual(mine.map((r) => r.session_id).sort(), [first.id, second.id].sort());
    const pod = mine.find((r) => r.session_id === second.id)!;
    assert.equal(pod.protocol, 'exec');
    assert.equal(pod.resource, 'payments-pod');
    assert.ok(pod.bytes > 0 && pod.events === 1, JSON.stringify(pod));
    const all = (await a.api<{ recordings: Listed[] }>(a.tokens.sec, 'GET', '/api/v1/recordings')).recordings;
    assert.deepEqual(new Set(all.map((r) => r.session_id)), new Set([first.id, second.id, eves.id]));
    assert.deepEqual((await a.api<{ recordings: Listed[] }>(a.tokens.sec, 'GET', '/api/v1/recordings?principal=eve')).recordings.map((r) => r.session_id), [eves.id]);
    assert.deepEqual(new Set((await a.api<{ recordings: Listed[] }>(a.tokens.sec, 'GET', '/api/v1/recordings?resource=bastion')).recordings.map((r) => r.session_id)), new Set([first.id, eves.id]));
    const r = await a.get(a.tokens.eve, '/api/v1/recordings?principal=alice');
    assert.equal(r.status, 403);
    assert.equal(((await r.json()) as { code: string }).code, 'AIRLOCK_FORBIDDEN');
  });

  test('a recording is served as its asciicast file, and viewing it is audited; someone else\'s is not found', async () => {
    const r = await a.get(a.tokens.alice, `/api/v1/sessions/${first.id}/recording`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/x-asciicast');
    const text = await r.text();
    const lines = text.trimEnd().split('\n');
    const header = JSON.parse(lines[0]!) as { version: number; width: number; height: number; title: string };
    assert.equal(header.version, 2);
    assert.equal(header.width, 80);
    assert.match(header.title, /on bastion/);
    assert.deepEqual(lines.slice(1).map((l) => (JSON.parse(l) as [number, string, string])[2]).join(''), '$ uptime\r\n 10:01:02 up 3 days,  load average: 0.01\r\n$ exit\r\n');
    const times = lines.slice(1).map((l) => (JSON.parse(l) as [number])[0]);
    assert.ok(times[1]! >= 0.02, `the second chunk came 30 ms after the first: ${times}`);
    const { events } = await a.api<{ events: { actor: string; action: string; details: Record<string, unknown> }[] }>(a.adminToken, 'GET', '/api/v1/audit/events?action=recording.viewed');
    assert.ok(events.some((e) => e.actor === 'alice' && e.details.session_id === first.id), JSON.stringify(events));
    const other = await a.get(a.tokens.eve, `/api/v1/sessions/${first.id}/recording`);
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { code: string }).code, 'AIRLOCK_NOT_FOUND');
  });

  test('the OpenAPI document lists the recording routes', async () => {
    const doc = await a.api<{ paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> }>(a.adminToken, 'GET', '/api/v1/openapi.json');
    assert.ok(doc.paths['/api/v1/recordings']?.get);
    assert.ok(doc.paths['/api/v1/sessions/{id}/recording']?.get?.responses['200']?.content?.['application/x-asciicast']);
    assert.ok(doc.paths['/api/v1/sessions/{id}/live']?.get?.responses['200']?.content?.['text/event-stream']);
  });

  test('verify with recordings: each edited, truncated or deleted recording is named with its session; the download is refused', async () => {
    const ok = await a.api<{ ok: boolean; recordings: { ok: boolean; checked: number } }>(a.tokens.sec, 'GET', '/api/v1/audit/verify?recordings=true');
    assert.equal(ok.ok, true);
    assert.equal(ok.recordings.checked, 3);
    const dataDir = join(a.dir, 'data');
    const fileOf = async (id: string) => join(dataDir, (await a.api<{ recordings: Listed[] }>(a.tokens.sec, 'GET', '/api/v1/recordings')).recordings.find((r) => r.session_id === id)!.file);
    const [f1, f2, f3] = [await fileOf(first.id), await fileOf(second.id), await fileOf(eves.id)];
    const keep = (f: string) => copyFileSync(f, `${f}.orig`);
    const restore = (f: string) => copyFileSync(`${f}.orig`, f);
    [f1, f2, f3].forEach(keep);
    try {
      // One byte changed: "uptime" becomes "uptimE".
      const bytes = readFileSync(f1);
      const at = bytes.indexOf('uptime') + 5;
      bytes[at] = 'E'.charCodeAt(0);
      writeFileSync(f1, bytes);
      truncateSync(f2, readFileSync(f2).length - 3);
      rmSync(f3);
      const v = await a.api<{ ok: boolean; first_bad_seq?: number; recordings: { ok: boolean; checked: number; problems: { session_id: string; problem: string; detail: string }[] } }>(a.tokens.sec, 'GET', '/api/v1/audit/verify?recordings=true');
      assert.equal(v.ok, false);
      assert.equal(v.first_bad_seq, undefined, 'the chain itself is intact');
      assert.equal(v.recordings.ok, false);
      const byId = Object.fromEntries(v.recordings.problems.map((p) => [p.session_id, p]));
      assert.equal(byId[first.id]?.problem, 'edited');
      assert.match(byId[first.id]!.detail, /does not match its sealed SHA-256/);
      assert.equal(byId[second.id]?.problem, 'truncated');
      assert.equal(byId[eves.id]?.problem, 'missing');
      // Without recordings=true the answer is the chain's, as before.
      assert.equal((await a.api<{ ok: boolean; recordings?: unknown }>(a.tokens.sec, 'GET', '/api/v1/audit/verify')).recordings, undefined);

      const r = await a.get(a.tokens.alice, `/api/v1/sessions/${first.id}/recording`);
      assert.equal(r.status, 409);
      const p = (await r.json()) as { code: string; detail: string; details: { problem: string } };
      assert.equal(p.code, 'AIRLOCK_RECORDING_SEAL_BROKEN');
      assert.equal(p.details.problem, 'edited');
      assert.match(p.detail, /does not match the seal/);
      const gone = await a.get(a.tokens.sec, `/api/v1/sessions/${eves.id}/recording`);
      assert.equal(gone.status, 409);
      assert.equal(((await gone.json()) as { details: { problem: string } }).details.problem, 'missing');
      const { events } = await a.api<{ events: { actor: string; details: Record<string, unknown> }[] }>(a.adminToken, 'GET', '/api/v1/audit/events?action=recording.seal_broken');
      assert.ok(events.some((e) => e.actor === 'alice' && e.details.session_id === first.id && e.details.problem === 'edited'));
    } finally {
      [f1, f2, f3].forEach(restore);
      for (const f of [f1, f2, f3]) rmSync(`${f}.orig`);
    }
    assert.equal((await a.api<{ ok: boolean }>(a.tokens.sec, 'GET', '/api/v1/audit/verify?recordings=true')).ok, true);
  });

  test('a live session watched over server-sent events: the header, what was shown before, new output, the end; audited once per watcher', async () => {
    const live = await a.open('alice', 'bastion', 'top');
    live.recording.output('before the watcher came\r\n');
    const res = await a.get(a.tokens.sec, `/api/v1/sessions/${live.session.id}/live`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const sse = sseReader(res);
    try {
      const header = JSON.parse((await sse.next((e) => e.event === 'message' && e.data.startsWith('{'), 'the header')).data) as { version: number; width: number; time: number };
      assert.equal(header.version, 2);
      assert.equal(header.width, 80);
      assert.ok(header.time >= 0);
      await sse.next((e) => e.data.includes('before the watcher came'), 'the output shown before the watcher joined');
      live.recording.output('new line while watched\r\n');
      const ev = JSON.parse((await sse.next((e) => e.data.includes('new line while watched'), 'the new output')).data) as [number, string, string];
      assert.equal(ev[1], 'o');
      // Another person may not watch it, and cannot tell it exists.
      const eve = await a.get(a.tokens.eve, `/api/v1/sessions/${live.session.id}/live`);
      assert.equal(eve.status, 404);
      assert.equal(((await eve.json()) as { code: string }).code, 'AIRLOCK_NOT_FOUND');
      // An approver of the session's role may watch what the grantee does now.
      const bob = await a.get(a.tokens.bob, `/api/v1/sessions/${live.session.id}/live`);
      assert.equal(bob.status, 200, 'an approver of the role watches the live session');
      const bobSse = sseReader(bob);
      try {
        live.recording.output('seen by the approver\r\n');
        await bobSse.next((e) => e.data.includes('seen by the approver'), 'the approver sees new output');
      } finally {
        await bobSse.cancel();
      }
      await live.end();
      const end = JSON.parse((await sse.next((e) => e.event === 'end', 'the end event')).data) as { session_id: string };
      assert.equal(end.session_id, live.session.id);
    } finally {
      await sse.cancel();
    }
    const { events } = await a.api<{ events: { actor: string; details: Record<string, unknown> }[] }>(a.adminToken, 'GET', '/api/v1/audit/events?action=session.watched');
    assert.deepEqual(events.filter((e) => e.details.session_id === live.session.id).map((e) => [e.actor, e.details.principal]), [['sec', 'alice'], ['bob', 'alice']]);
    // Ended: not live any more, and its recording plays.
    const after = await a.get(a.tokens.sec, `/api/v1/sessions/${live.session.id}/live`);
    assert.equal(after.status, 404);
    const p = (await after.json()) as { code: string; detail: string };
    assert.equal(p.code, 'AIRLOCK_SESSION_NOT_LIVE');
    assert.match(p.detail, /has ended; replay its recording/);
    assert.match(await (await a.get(a.tokens.sec, `/api/v1/sessions/${live.session.id}/recording`)).text(), /new line while watched/);
  });
});
