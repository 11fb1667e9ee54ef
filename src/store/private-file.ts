// Private files made once (keys Airlock generates at first start): written whole with mode 0600, then put in place.
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Writes `text` to a new 0600 temporary file beside `path` (its directory made 0700 if absent) and returns its name. */
export function writePrivateTemp(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    // The umask can only remove bits, but set it explicitly so the mode never depends on the caller's environment.
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

/**
 * Creates `path` with `text` unless it exists: a complete temporary file is hard-linked into place, so two processes
 * starting together agree on one file (the first link wins) and nobody reads a half-written one.
 */
export function createPrivateFileOnce(path: string, text: string): void {
  const tmp = writePrivateTemp(path, text);
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Another process won the race; its file is the file.
  } finally {
    unlinkSync(tmp);
  }
}
