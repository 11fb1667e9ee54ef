// The refusals of the masking check, worded for the person who sent the statement: which masked column, what the
// statement does with it, and what to write instead.
import { MaskRefusal, PREDICATE_CLAUSES, WRITE_CLAUSES, sourceOf, type Ctx, type Derived, type Masked } from './model.js';

const HEAD = 'airlock: statement refused by rule masking: ';

function refuse(column: string, text: string): never {
  // A refusal is an answer, not a fault: capturing a stack trace would cost more than the whole check.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    throw new MaskRefusal(column, HEAD + text);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function shortName(full: string): string {
  return full.slice(full.lastIndexOf('.') + 1);
}

/** A masked value reaches something that computes with it (or a derived value is used at all). */
export function refuseUse(ctx: Ctx, p: Masked | Derived, how: string): never {
  const col = sourceOf(p);
  const through = p.kind === 'derived' ? p.how : how;
  const lead = `the column ${col} is masked for role ${ctx.role}, and`;
  if (ctx.copy) refuseCopy(col);
  if (p.kind === 'derived' && p.view !== undefined) {
    refuse(col, `the view column ${p.view} is computed from the masked column ${col} (role ${ctx.role}), so the gateway could not mask it; select ${col} itself, or name the view's other columns instead of using * or that column`);
  }
  if (WRITE_CLAUSES.has(ctx.clause)) {
    const via = through === '' ? '' : ` (through ${through})`;
    refuse(col, `${lead} the ${ctx.clause === 'UPDATE SET' ? 'UPDATE' : ctx.clause} would write it${via} into a table, where it would no longer be masked; masked values cannot be copied into tables`);
  }
  if (PREDICATE_CLAUSES.has(ctx.clause)) {
    refuse(col, `${lead} the ${ctx.clause} clause uses it through ${through}, which could reveal its value in an error or a side channel; compare the column itself (${shortName(col)} = '…', LIKE, IN, IS NULL) or leave it out`);
  }
  refuse(col, `${lead} the ${ctx.clause} uses it through ${through}, whose result the gateway could not mask; select the column itself (it is shown masked) and compute on the client, or leave it out`);
}

/** predicates: refuse — a masked column anywhere but as a plain result column. */
export function refusePredicate(ctx: Ctx, p: Masked, where: string): never {
  const col = sourceOf(p);
  refuse(col, `the column ${col} is masked for role ${ctx.role}, and this role may not use masked columns in ${where}; select the column only as a result column (it is shown masked)`);
}

export function refuseCopy(col: string): never {
  refuse(col, `COPY cannot be masked, and this COPY reads the masked column ${col}; select the columns instead, or use the console's CSV export`);
}

export function refuseServerCopy(program: boolean): never {
  refuse('', `${program ? 'COPY … PROGRAM runs a program on the database server' : 'COPY to or from a server file reads or writes the server\'s files'}, which can read tables' data files or connect to the database past the gateway, so masked columns would come back unmasked; use COPY … TO STDOUT / FROM STDIN (psql's \\copy)`);
}

export function refuseUsingJoin(ctx: Ctx, col: string, name: string): never {
  refuse(col, `the column ${col} is masked for role ${ctx.role}, and JOIN … USING / NATURAL JOIN merges it into a new column ${name} the gateway could not mask; write JOIN … ON a.${name} = b.${name} instead`);
}

export function refuseAttribute(ctx: Ctx, p: Derived, ref: string, fn: string): never {
  refuse(p.source, `the column ${p.source} is masked for role ${ctx.role}, and ${ref} names no column, so PostgreSQL would call ${fn}() on (or cast) the whole row, which includes it; name the columns you need`);
}

export function refuseUserFunction(ctx: Ctx, name: string, why: string): never {
  refuse('', `role ${ctx.role} sees masked columns in this database, and ${why.replace('%s', name)}; select the columns you need directly`);
}

export function refuseHiddenSql(name: string, why: string): never {
  refuse('', `the function ${name} ${why}, which the gateway cannot check for masked columns`);
}

export function refuseStatistics(name: string): never {
  refuse('', `${name} holds sample values of table columns, masked ones included; it cannot be read in a session with masked columns`);
}

export function refuseToast(name: string): never {
  refuse('', `${name} holds the stored values of another table's columns, masked ones included`);
}

export function refuseNewer(ctx: Ctx, name: string): never {
  refuse('', `the relation ${name} is newer than this session's view of the database, or does not exist (role ${ctx.role} sees masked columns, which the gateway resolved when the session started); reconnect to use it`);
}

export function refuseStatement(ctx: Ctx, verb: string, why: string): never {
  refuse('', `role ${ctx.role} sees masked columns in this database, and ${verb} ${why}`);
}

export function refuseUnparsed(error: string): never {
  refuse('', `the statement could not be parsed to check it for masked columns: ${error}`);
}
