// Every error code in the catalog is documented, so a user can look up any code Airlock prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS } from '../../src/domain/errors.js';

test('docs/errors.md lists every error code', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ERRORS)) assert.ok(doc.includes(`\`${code}\``), `${code} is missing from docs/errors.md`);
});
