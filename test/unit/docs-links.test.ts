// The README and docs link only to files inside the repository, and every such link reaches a file that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DOCS = ['README.md', 'BENCHMARKS.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Markdown link targets `](target)` and bare mentions of a path outside the repository like `../shared/…`. */
function linksOf(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

test('README and docs link only to files in the repository, and those files exist', () => {
  const problems: string[] = [];
  for (const doc of DOCS) {
    const file = join(ROOT, doc);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (/\.\.\/shared\//.test(text)) problems.push(`${doc} mentions ../shared/, which is outside the repository`);
    for (const target of linksOf(text)) {
      if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
      const path = resolve(dirname(file), target.split('#')[0]!);
      const rel = relative(ROOT, path);
      if (rel.startsWith('..') || rel.split(sep)[0] === '..') problems.push(`${doc} links ${target}, outside the repository`);
      else if (!existsSync(path)) problems.push(`${doc} links ${target}, which does not exist`);
    }
  }
  assert.deepEqual(problems, []);
});

test('docs/architecture.md names only source files that exist', () => {
  const text = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const missing = [...text.matchAll(/`((?:src|test|bin)\/[\w./-]+\.(?:ts|js))`/g)].map((m) => m[1]!).filter((p) => !existsSync(join(ROOT, p)));
  assert.deepEqual(missing, [], 'docs/architecture.md must stay true to the code');
});
