// A recorded or live terminal session in asciinema-player: a recording is fetched first (so a refusal, such as a
// recording that fails its seal, shows the server's sentence instead of a blank player), a live one follows the
// session's server-sent events with the player's eventsource driver.
import { useEffect, useRef, useState } from 'react';
import { create, type Player } from 'asciinema-player';
import 'asciinema-player/dist/bundle/asciinema-player.css';
import { ApiError } from '../api/client.js';
import { ErrorNote } from './ui.js';

/** Idle gaps in a replay are cut to this many seconds, as `airlock replay` does. */
const IDLE_LIMIT = 2;

async function fetchRecording(url: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(url, { credentials: 'same-origin', signal, cache: 'no-store' });
  const text = await res.text();
  if (!res.ok) {
    let p: { code?: string; detail?: string } = {};
    try {
      p = JSON.parse(text) as typeof p;
    } catch {
      p = {};
    }
    throw new ApiError(res.status, p.code ?? 'AIRLOCK_HTTP_ERROR', p.detail ?? `The server answered ${res.status}.`);
  }
  return text;
}

export function TerminalPlayer(props: { url: string; live: boolean; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(!props.live);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let player: Player | null = null;
    const abort = new AbortController();
    setError(undefined);
    if (props.live) {
      // bufferTime 0: output is shown as it arrives, not smoothed behind a delay.
      const source = { driver: 'eventsource', url: props.url, bufferTime: 0 } as unknown as Parameters<typeof create>[0];
      player = create(source, el, { autoPlay: true, fit: 'width', controls: false, terminalFontSize: 'small' });
    } else {
      setLoading(true);
      fetchRecording(props.url, abort.signal)
        .then((text) => {
          if (abort.signal.aborted) return;
          player = create({ data: text }, el, { autoPlay: true, idleTimeLimit: IDLE_LIMIT, fit: 'width', controls: true, terminalFontSize: 'small' });
        })
        .catch((e: unknown) => {
          if (!abort.signal.aborted) setError(e);
        })
        .finally(() => setLoading(false));
    }
    return () => {
      abort.abort();
      player?.dispose();
    };
  }, [props.url, props.live]);

  return (
    <div className="terminal-player" data-testid={props.live ? 'live-player' : 'recording-player'}>
      {loading && <p className="muted small">Loading the recording…</p>}
      {error !== undefined && <ErrorNote error={error} />}
      <div ref={box} aria-label={props.label} role="region" />
      {!props.live && error === undefined && !loading && <p className="hint">Pauses longer than {IDLE_LIMIT} s are cut to {IDLE_LIMIT} s. Viewing a recording is written to the audit log.</p>}
      {props.live && <p className="hint">Watch-only: the user does not see you, but the audit log records that you watched.</p>}
    </div>
  );
}
