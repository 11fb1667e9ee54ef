// Settings that change how the server reads statement text are refused under any guardrail: otherwise a write
// could hide inside what the parser takes for a string literal (standard_conforming_strings off, SJIS and friends).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initInspect, makeInspector, makeParseCache } from '../../src/inspect/index.js';

before(() => initInspect());

const cases: [string, boolean][] = [
  ['SET standard_conforming_strings = off', false],
  ["SET standard_conforming_strings TO 'off'", false],
  ['SET standard_conforming_strings = false', false],
  ['SET SESSION standard_conforming_strings = 0', false],
  ['SET LOCAL standard_conforming_strings = off', false],
  ['SET standard_conforming_strings = on', true],
  ['RESET standard_conforming_strings', true],
  ['SET backslash_quote = on', false],
  ["SET client_encoding = 'SJIS'", false],
  ["SET client_encoding TO 'shift_jis_2004'", false],
  ["SET NAMES 'BIG5'", false],
  ["SET client_encoding = 'GBK'", false],
  ["SET client_encoding = 'UTF8'", true],
  ["SET client_encoding = 'LATIN1'", false],
  ["SET client_encoding = 'win932'", false],
  ["SET NAMES 'S.JIS'", false],
  ["SET client_encoding = 'utf-8'", true],
  ["SELECT set_config('standard_conforming_strings', 'off', false)", false],
  ["SELECT pg_catalog.set_config('client_encoding', 'sjis', false)", false],
  ["SELECT set_config(name, 'off', false) FROM (VALUES ('standard_conforming_strings')) v(name)", false],
  ["SELECT set_config('application_name', 'x', false)", true],
  ["SELECT 1; SET standard_conforming_strings = off", false],
];

test('under write guardrails (require_where), text settings are refused and ordinary ones pass', () => {
  const insp = makeInspector({ require_where: true }, makeParseCache());
  for (const [sql, allowed] of cases) {
    const d = insp.inspect(sql);
    assert.equal(d.allowed, allowed, `${sql} → ${d.rule}: ${d.message}`);
    if (!allowed) {
      assert.equal(d.rule, 'text_setting', sql);
      assert.match(d.message!, /^airlock: statement refused by rule text_setting: /);
    }
  }
});

test('read-only roles refuse them too (by the same rule, before anything else)', () => {
  const insp = makeInspector({ read_only: true }, makeParseCache());
  const d = insp.inspect('SET standard_conforming_strings = off');
  assert.equal(d.rule, 'text_setting');
});

test('a role without guardrails is not restricted', () => {
  const insp = makeInspector({}, makeParseCache());
  assert.equal(insp.inspect('SET standard_conforming_strings = off').allowed, true);
});

test('a set_config() that passed does not vouch for one of the same shape with other constants (no shape-cache reuse)', () => {
  const cache = makeParseCache();
  const insp = makeInspector({ require_where: true }, cache);
  for (const [ok, bad] of [["'client_encoding', 'UTF8'", "'client_encoding', 'SJIS'"], ["'standard_conforming_strings', 'on'", "'standard_conforming_strings', 'off'"]]) {
    assert.equal(insp.inspect(`SELECT set_config(${ok}, false)`).allowed, true);
    assert.equal(insp.inspect(`SELECT set_config(${bad}, false)`).rule, 'text_setting');
  }
});
