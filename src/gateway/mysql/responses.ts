// Where a server's response to one command ends, read from its packets as they pass: OK, ERR, result sets with or
// without EOF packets (CLIENT_DEPRECATE_EOF), several results (SERVER_MORE_RESULTS_EXISTS), a prepare's OK with its
// parameter and column definitions, and text or binary rows, which are counted.
import { ProtocolError, STATUS, readLenenc, statusOf } from './packets.js';

export type ResponseKind = 'result' | 'prepare' | 'field_list' | 'one_packet' | 'none';

type State = 'first' | 'columns' | 'columns_eof' | 'rows' | 'prepare_params' | 'prepare_params_eof' | 'prepare_columns' | 'prepare_columns_eof' | 'field_list' | 'done';

export class ResponseTracker {
  private state: State;
  private left = 0;
  private prepColumns = 0;
  /** Rows in every result of this response. */
  rows = 0;
  /** Rows of the current result (max_rows applies per result set). */
  rowsThisResult = 0;
  /** Affected rows of the last OK (writes). */
  affected = 0;
  error: { code: number; sqlstate: string; message: string } | null = null;
  /** After a prepare: the statement id and its parameter count. */
  prepared: { id: number; params: number } | null = null;
  /** The last status flags seen (transaction state). */
  status = 0;

  constructor(
    readonly kind: ResponseKind,
    private readonly deprecateEof: boolean,
  ) {
    this.state = kind === 'none' ? 'done' : kind === 'field_list' ? 'field_list' : 'first';
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /**
   * What the next packet is to the result masker: the start of a response or of a further result ('first'), a column
   * definition of a result set, a row (or the result's end), or anything else.
   */
  get phase(): 'first' | 'columns' | 'rows' | 'other' {
    const s = this.state;
    return s === 'first' || s === 'columns' || s === 'rows' ? s : 'other';
  }

  /** True while rows stream (a guardrail may cut the result here). */
  get inRows(): boolean {
    return this.state === 'rows';
  }

  /**
   * One logical packet's start: `head` holds at least its first bytes (all of it when under 16 MiB), `length` its
   * wire length. Returns true when this packet is a row.
   */
  feed(head: Buffer, length: number): boolean {
    const b = head[0];
    switch (this.state) {
      case 'first':
        if (this.kind === 'one_packet') {
          if (b === 0xff) this.err(head);
          else if (b === 0x00 || b === 0xfe) this.status = statusOf(head);
          this.state = 'done';
          return false;
        }
        if (b === 0x00) {
          if (this.kind === 'prepare') return this.prepareOk(head);
          return this.ok(head), false;
        }
        if (b === 0xff) return this.err(head), false;
        if (b === 0xfb) throw new ProtocolError('the database server asked for a LOCAL INFILE, which the gateway does not allow');
        this.left = readLenenc(head, 0).value;
        if (this.left === 0) throw new ProtocolError('a result set with no columns');
        this.rowsThisResult = 0;
        this.state = 'columns';
        return false;
      case 'columns':
        if (--this.left === 0) this.state = this.deprecateEof ? 'rows' : 'columns_eof';
        return false;
      case 'columns_eof':
        this.expectEof(head, length);
        // A cursor opened by COM_STMT_EXECUTE: rows come later with COM_STMT_FETCH, which the gateway refuses.
        this.state = this.status & STATUS.CURSOR_EXISTS ? 'done' : 'rows';
        return false;
      case 'rows':
        if (b === 0xff) return this.err(head), false;
        if (b === 0xfe && length < 0xffffff && (length < 9 || this.deprecateEof)) {
          this.status = statusOf(head);
          this.state = this.status & STATUS.MORE_RESULTS_EXISTS ? 'first' : 'done';
          return false;
        }
        this.rows++;
        this.rowsThisResult++;
        return true;
      case 'prepare_params':
        if (--this.left === 0) this.state = this.deprecateEof ? this.afterParams() : 'prepare_params_eof';
        return false;
      case 'prepare_params_eof':
        this.expectEof(head, length);
        this.state = this.afterParams();
        return false;
      case 'prepare_columns':
        if (--this.left === 0) this.state = this.deprecateEof ? 'done' : 'prepare_columns_eof';
        return false;
      case 'prepare_columns_eof':
        this.expectEof(head, length);
        this.state = 'done';
        return false;
      case 'field_list':
        if (b === 0xff) return this.err(head), false;
        if (b === 0xfe && length < 9) this.state = 'done';
        else if (b === 0xfe && this.deprecateEof && length < 0xffffff) this.state = 'done';
        return false;
      case 'done':
        throw new ProtocolError('the database server sent more than its response');
    }
  }

  private ok(head: Buffer): void {
    this.affected += readLenenc(head, 1).value;
    this.status = statusOf(head);
    this.state = this.status & STATUS.MORE_RESULTS_EXISTS ? 'first' : 'done';
  }

  private err(head: Buffer): void {
    const code = head.length >= 3 ? head.readUInt16LE(1) : 0;
    const hasState = head.length >= 9 && head[3] === 0x23;
    this.error = { code, sqlstate: hasState ? head.subarray(4, 9).toString('latin1') : 'HY000', message: head.subarray(hasState ? 9 : 3).toString('utf8').slice(0, 1000) };
    this.state = 'done';
  }

  private prepareOk(head: Buffer): boolean {
    if (head.length < 12) throw new ProtocolError('a short prepare response');
    const id = head.readUInt32LE(1);
    this.prepColumns = head.readUInt16LE(5);
    const params = head.readUInt16LE(7);
    this.prepared = { id, params };
    if (params > 0) {
      this.left = params;
      this.state = 'prepare_params';
    } else this.state = this.afterParams();
    return false;
  }

  private afterParams(): State {
    if (this.prepColumns === 0) return 'done';
    this.left = this.prepColumns;
    return 'prepare_columns';
  }

  private expectEof(head: Buffer, length: number): void {
    if (head[0] !== 0xfe || length >= 9) throw new ProtocolError('the database server sent no EOF after the column definitions');
    this.status = statusOf(head);
  }
}
