#!/usr/bin/env node
// The airlock command: runs the compiled CLI in dist/ (`npm run build`); AIRLOCK_FROM_SOURCE=1 runs src/ through tsx
// instead (tests and development in a checkout, so they never run a stale build).
import { existsSync } from 'node:fs';

let main;
if (process.env.AIRLOCK_FROM_SOURCE === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
} else {
  const compiled = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(compiled)) {
    process.stderr.write('airlock: this checkout is not built yet: run `npm run build` (or set AIRLOCK_FROM_SOURCE=1 to run the sources through tsx). [AIRLOCK_NOT_BUILT]\n');
    process.exit(1);
  }
  ({ main } = await import(compiled.href));
}
await main(process.argv);
