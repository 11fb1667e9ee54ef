// Starts a worker thread on one of our modules, from sources under tsx as well as from compiled JavaScript.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts `module` (a path like './parse-worker', without extension) next to the caller's module `base`
 * (import.meta.url), with the caller's own extension. Under tsx (sources are .ts) the worker registers tsx itself:
 * hooks registered in the parent, as bin/airlock.js does, are not inherited by worker threads.
 */
export function startWorker(base: string, module: string, options: WorkerOptions = {}): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(`${module}.js`, base), options);
  const entry = new URL(`${module}.ts`, base).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
