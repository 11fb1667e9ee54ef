// Settings that change how the server reads statement text. If a client could turn standard_conforming_strings
// off, or switch to an encoding other than the UTF-8 the gateway decodes (SJIS, whose multibyte characters can end
// in a backslash or quote byte, or any other), the server would split a string differently from the parser the
// guardrails use, and a write could hide inside what looks like a literal.

import { isSessionEncoding } from './encodings.js';
import { isObj, type Obj } from './tree-walk.js';

const TRUE_WORDS = new Set(['on', 'true', 'yes', '1', 't', 'y']);

function constText(node: unknown): string | null {
  const c: unknown = isObj(node) ? node.A_Const : undefined;
  if (!isObj(c)) return null;
  if (isObj(c.sval)) return String(c.sval.sval ?? '');
  if (isObj(c.ival)) return String(c.ival.ival ?? 0);
  if (isObj(c.boolval)) return c.boolval.boolval === true ? 'on' : 'off';
  return null;
}

/** Why a SET or RESET of `name` to `args` would change how text is read, or null when it is harmless. */
function settingRisk(name: string, value: string | null, reset: boolean): string | null {
  switch (name) {
    case 'standard_conforming_strings':
      if (!reset && value !== null && TRUE_WORDS.has(value.toLowerCase())) return null;
      return reset ? null : 'turning standard_conforming_strings off changes how the server reads string literals';
    case 'backslash_quote':
      return 'backslash_quote changes how the server reads quotes in string literals';
    case 'client_encoding':
      if (reset) return null; // back to the login's UTF8, which the gateway always sets upstream
      if (value !== null && isSessionEncoding(value)) return null;
      return `client encoding ${value ?? '(computed)'} is not UTF8, the only encoding in which the server reads statements as the gateway does`;
    default:
      return null;
  }
}

/** SET/RESET of a text setting, or set_config() on one anywhere in the statement. */
export function textSettingRisk(stmt: unknown): string | null {
  if (!isObj(stmt)) return null;
  const set: unknown = stmt.VariableSetStmt;
  if (isObj(set)) {
    const kind = String(set.kind);
    if (kind === 'VAR_SET_VALUE' || kind === 'VAR_RESET' || kind === 'VAR_SET_DEFAULT') {
      const args = Array.isArray(set.args) ? set.args : [];
      return settingRisk(String(set.name ?? '').toLowerCase(), args.length === 1 ? constText(args[0]) : null, kind !== 'VAR_SET_VALUE');
    }
    return null;
  }
  return findSetConfig(stmt);
}

function findSetConfig(node: unknown): string | null {
  if (Array.isArray(node)) {
    for (const x of node) {
      const r = findSetConfig(x);
      if (r) return r;
    }
    return null;
  }
  if (!isObj(node)) return null;
  const call: unknown = node.FuncCall;
  if (isObj(call) && isSetConfig(call)) {
    const args = Array.isArray(call.args) ? call.args : [];
    const name = args.length > 0 ? constText(args[0]) : null;
    // A setting name computed at run time could be any of them.
    if (name === null) return 'set_config() with a computed setting name may change how the server reads string literals';
    const risk = settingRisk(name.toLowerCase(), args.length > 1 ? constText(args[1]) : null, false);
    if (risk) return risk;
  }
  for (const k of Object.keys(node)) {
    const r = findSetConfig((node as Obj)[k]);
    if (r) return r;
  }
  return null;
}

function isSetConfig(call: Obj): boolean {
  if (!Array.isArray(call.funcname) || call.funcname.length === 0) return false;
  const last: unknown = call.funcname[call.funcname.length - 1];
  return isObj(last) && isObj(last.String) && String(last.String.sval).toLowerCase() === 'set_config';
}

/**
 * True when the statement calls set_config() anywhere: whether it is allowed depends on its constants (the setting's
 * name and value), so its analysis must never be reused for another text of the same shape.
 */
export function callsSetConfig(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(callsSetConfig);
  if (!isObj(node)) return false;
  const call: unknown = node.FuncCall;
  if (isObj(call) && isSetConfig(call)) return true;
  for (const k of Object.keys(node)) if (callsSetConfig((node as Obj)[k])) return true;
  return false;
}
