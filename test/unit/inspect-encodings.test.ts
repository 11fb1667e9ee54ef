// Encoding names are read the way PostgreSQL reads them (case and punctuation ignored, aliases known), and only UTF8
// is a session encoding: every spelling of SJIS, GBK, BIG5 and the rest is refused, at login and by SET.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { encodingOf, isSessionEncoding, initInspect, makeInspector, makeParseCache } from '../../src/inspect/index.js';
import { readStartupRequest, StartupRefusal } from '../../src/gateway/postgres/startup.js';

before(() => initInspect());

const SPELLINGS: [string, string | null][] = [
  ['UTF8', 'UTF8'], ['utf-8', 'UTF8'], ['Utf_8', 'UTF8'], [' UTF 8 ', 'UTF8'], ['unicode', 'UTF8'], ['U.T.F.8', 'UTF8'],
  ['SJIS', 'SJIS'], ['sjis ', 'SJIS'], ['S.JIS', 'SJIS'], ['s_jis', 'SJIS'], ['Shift_JIS', 'SJIS'], ['shift-jis', 'SJIS'],
  ['MS_Kanji', 'SJIS'], ['WIN932', 'SJIS'], ['windows-932', 'SJIS'], ['Win 932', 'SJIS'], ['SHIFT_JIS_2004', 'SHIFT_JIS_2004'],
  ['win936', 'GBK'], ['WINDOWS_936', 'GBK'], ['gbk', 'GBK'], ['G-B-K', 'GBK'], ['GB18030', 'GB18030'], ['gb-18030', 'GB18030'],
  ['Big-5', 'BIG5'], ['BIG5', 'BIG5'], ['WIN 950', 'BIG5'], ['windows950', 'BIG5'], ['UHC', 'UHC'], ['win949', 'UHC'],
  ['JOHAB', 'JOHAB'], ['johab\t', 'JOHAB'], ['LATIN1', 'LATIN1'], ['ISO-8859-1', 'LATIN1'], ['iso_8859_5', 'ISO_8859_5'],
  ['EUC-JP', 'EUC_JP'], ['koi8', 'KOI8R'], ['SQL_ASCII', 'SQL_ASCII'], ['win', 'WIN1251'], ['mule_internal', 'MULE_INTERNAL'],
  ['cp936', null], ['utf16', null], ['', null], ['x'.repeat(70) + 'utf8', null], ['\u212Aoi8', null],
];

test('encoding names normalize as pg_char_to_encoding does: drop non-alphanumerics, lower-case, look up the alias', () => {
  for (const [name, enc] of SPELLINGS) assert.equal(encodingOf(name), enc, JSON.stringify(name));
});

test('only UTF8 is a session encoding', () => {
  for (const [name, enc] of SPELLINGS) assert.equal(isSessionEncoding(name), enc === 'UTF8', JSON.stringify(name));
});

test('SET client_encoding, SET NAMES and set_config() to anything but UTF8 are refused, whatever the spelling', () => {
  const insp = makeInspector({ require_where: true }, makeParseCache());
  for (const [name, enc] of SPELLINGS) {
    const quoted = name.replace(/'/g, "''");
    for (const sql of [`SET client_encoding = '${quoted}'`, `SET NAMES '${quoted}'`, `SET SESSION client_encoding TO '${quoted}'`, `SELECT set_config('client_encoding', '${quoted}', false)`, `SELECT pg_catalog.set_config('CLIENT_ENCODING', '${quoted}', true)`]) {
      const d = insp.inspect(sql);
      assert.equal(d.allowed, enc === 'UTF8', `${sql}: ${d.message}`);
      if (!d.allowed) assert.equal(d.rule, 'text_setting', sql);
    }
  }
  for (const sql of ['RESET client_encoding', 'SET client_encoding TO DEFAULT', 'SET NAMES DEFAULT']) assert.equal(insp.inspect(sql).allowed, true, sql);
  for (const sql of ["SET client_encoding = 'utf8', 'sjis'", "SELECT set_config('client_encoding', current_setting('server_encoding'), false)", "SET \"client_encoding\" = 'sjis'"]) {
    assert.equal(insp.inspect(sql).rule, 'text_setting', sql);
  }
});

test('at login, client_encoding UTF8 (any spelling) or SQL_ASCII becomes UTF8; every other encoding is refused with its code', () => {
  for (const [name, enc] of SPELLINGS) {
    for (const params of [new Map([['user', 'alice'], ['client_encoding', name]]), new Map([['user', 'alice'], ['options', `-c client_encoding=${name.replace(/[\\\s]/g, (c) => `\\${c}`)}`]])]) {
      if (enc === 'UTF8' || enc === 'SQL_ASCII') {
        assert.equal(readStartupRequest(params).settings.client_encoding, 'UTF8', JSON.stringify(name));
      } else {
        assert.throws(() => readStartupRequest(params), (e: unknown) => e instanceof StartupRefusal && e.airlock === 'AIRLOCK_ENCODING_REFUSED' && /client_encoding=UTF8/.test(e.message), JSON.stringify(name));
      }
    }
  }
});
