// `npm start` in a checkout: rebuilds the server (tsc → dist/) and the console (Vite → dist/web) when missing or
// older than their sources, so a pulled change is never served from an old build. Plain JavaScript: tsx is not needed.
import { execSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The newest modification time of the files under these paths (0 when none exist). */
function newest(...paths) {
  let t = 0;
  for (const p of paths) {
    let s;
    try {
      s = statSync(p);
    } catch {
      continue;
    }
    if (s.isDirectory()) for (const name of readdirSync(p)) t = Math.max(t, newest(join(p, name)));
    else t = Math.max(t, s.mtimeMs);
  }
  return t;
}

const builds = [
  { what: 'the server', output: 'dist/cli/main.js', sources: ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'], script: 'build:server' },
  { what: 'the console', output: 'dist/web/index.html', sources: ['web', 'package-lock.json'], script: 'build:web' },
];
for (const b of builds) {
  const built = newest(b.output);
  if (built > 0 && built >= newest(...b.sources)) continue;
  console.error(`Building ${b.what} (${built ? 'its sources changed' : 'not built yet'})…`);
  execSync(`npm run --silent ${b.script}`, { stdio: 'inherit' });
}
