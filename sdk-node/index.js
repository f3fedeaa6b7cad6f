'use strict';
// Granary's Node.js client. The native addon (granary.node, Rust) does the work: codec, blocks,
// deduplication tokens, retries. This file sorts a caller's columns into the forms the addon
// takes, shapes results into rows or objects, and turns errors into GranaryError.

const native = require('./granary.node');

/** An error with ClickHouse's `code` (number) and `codeName`, and whether retrying may help. */
class GranaryError extends Error {
  constructor(message, code, codeName, retryable) {
    super(message);
    this.name = 'GranaryError';
    this.code = code;
    this.codeName = codeName;
    this.retryable = retryable;
  }
}
/** The server refused the request. */
class ServerError extends GranaryError {
  constructor(...args) {
    super(...args);
    this.name = 'ServerError';
  }
}
/** The connection could not be opened or broke; the outcome is unknown (retryable). */
class ConnectionError extends GranaryError {
  constructor(...args) {
    super(...args);
    this.name = 'ConnectionError';
  }
}

const TAG = /^\[granary (-?\d+) (\S+) (server|connection|retryable|client)\] /s;

function wrapError(error) {
  const found = typeof error?.message === 'string' && error.message.match(TAG);
  if (!found) return error;
  const [tag, code, codeName, kind] = found;
  const message = error.message.slice(tag.length);
  const Kind = kind === 'server' ? ServerError : kind === 'connection' ? ConnectionError : GranaryError;
  return new Kind(message, Number(code), codeName, kind === 'connection' || kind === 'retryable');
}

async function call(promise) {
  try {
    return await promise;
  } catch (error) {
    throw wrapError(error);
  }
}

const TYPED = new Map([
  [Int8Array, 'int8'], [Uint8Array, 'uint8'], [Int16Array, 'int16'], [Uint16Array, 'uint16'],
  [Int32Array, 'int32'], [Uint32Array, 'uint32'], [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'], [Float32Array, 'float32'], [Float64Array, 'float64'],
]);

/** One column in the form the addon takes. */
function columnInput(name, values) {
  const kind = TYPED.get(values?.constructor);
  if (kind) {
    return { name, kind, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  }
  if (!Array.isArray(values)) {
    throw new TypeError(`column ${name}: expected a TypedArray or an array, got ${typeof values}`);
  }
  const first = values.find((value) => value !== null && value !== undefined);
  const nullable = (value) => (value === undefined ? null : value);
  if (first === undefined || typeof first === 'string') {
    return { name, kind: 'string', strings: values.map(nullable) };
  }
  if (typeof first === 'number') return { name, kind: 'number', numbers: values.map(nullable) };
  if (typeof first === 'bigint') return { name, kind: 'bigint', bigints: values.map(nullable) };
  if (typeof first === 'boolean') return { name, kind: 'boolean', booleans: values.map(nullable) };
  if (first instanceof Date) {
    return { name, kind: 'date', numbers: values.map((value) => (value == null ? null : value.getTime())) };
  }
  if (Array.isArray(first) || first instanceof Map || typeof first === 'object') {
    return nestedInput(name, values, Array.isArray(first));
  }
  throw new TypeError(`column ${name}: values of type ${typeof first} are not supported`);
}

/** Values of one JavaScript type as they are; mixed ones (a Tuple's elements) as text, which the
 * client reads as each element's type. */
function uniformOrText(values) {
  const kinds = new Set();
  for (const value of values) {
    if (value !== null && value !== undefined) kinds.add(value instanceof Date ? 'date' : typeof value);
  }
  if (kinds.size <= 1) return values;
  return values.map((value) => (value === null || value === undefined ? null : String(value)));
}

/** An Array or Tuple column (values are arrays) or a Map column (values are objects or Maps), flattened:
 * Int32 offsets, a null mask, and the items (or the keys and the values) as child columns. */
function nestedInput(name, values, isList) {
  const offsets = new Int32Array(values.length + 1);
  const nulls = new Uint8Array(values.length);
  const items = [];
  const keys = [];
  for (let row = 0; row < values.length; row += 1) {
    const value = values[row];
    if (value === null || value === undefined) {
      nulls[row] = 1;
    } else if (isList) {
      for (const item of value) items.push(item);
    } else {
      const entries = value instanceof Map ? value.entries() : Object.entries(value);
      for (const [key, item] of entries) {
        keys.push(key);
        items.push(item);
      }
    }
    offsets[row + 1] = isList ? items.length : keys.length;
  }
  const children = isList
    ? [columnInput(`${name}.item`, uniformOrText(items))]
    : [columnInput(`${name}.key`, keys), columnInput(`${name}.value`, items)];
  return {
    name,
    kind: isList ? 'list' : 'map',
    bytes: new Uint8Array(offsets.buffer),
    children,
    nulls: nulls.some((flag) => flag) ? nulls : undefined,
  };
}

/** The values of a result column as a JavaScript array (NULLs as null). */
function columnValues(column, rows) {
  const out = new Array(rows);
  const nulls = column.nulls;
  for (let row = 0; row < rows; row += 1) {
    if (nulls && nulls[row]) {
      out[row] = null;
      continue;
    }
    switch (column.kind) {
      case 'number': out[row] = column.numbers[row]; break;
      case 'bigint': out[row] = column.bigints[row]; break;
      case 'ubigint': out[row] = column.ubigints[row]; break;
      case 'boolean': out[row] = column.numbers[row] !== 0; break;
      case 'date': out[row] = new Date(column.numbers[row]); break;
      default: out[row] = column.strings[row];
    }
  }
  return out;
}

function shape(result) {
  const values = result.columns.map((column) => columnValues(column, result.rows));
  const rows = new Array(result.rows);
  for (let row = 0; row < result.rows; row += 1) rows[row] = values.map((column) => column[row]);
  return {
    columns: result.columns.map((column) => ({ name: column.name, type: column.type })),
    rows,
  };
}

function stringMap(values) {
  if (values == null) return undefined;
  const out = {};
  for (const [key, value] of Object.entries(values)) {
    out[key] = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
  }
  return out;
}

function queryOptions(options = {}) {
  return {
    settings: stringMap(options.settings),
    parameters: stringMap(options.parameters),
    queryId: options.queryId,
  };
}

/** A connection to a Granary (or ClickHouse) server's native protocol port. */
class Client {
  constructor(options = {}) {
    this.native = new native.NativeClient({
      host: options.host,
      port: options.port,
      user: options.user,
      password: options.password,
      database: options.database,
      compression: options.compression === null ? 'none' : options.compression,
      connectTimeoutMs: options.connectTimeoutMs,
      receiveTimeoutMs: options.receiveTimeoutMs,
      retries: options.retries,
    });
  }

  /** Connects now; otherwise the first call connects. */
  connect() {
    return call(this.native.connect());
  }

  /** Inserts columns (name → TypedArray or array) into `table` exactly once. */
  insert(table, columns, options = {}) {
    let inputs;
    try {
      inputs = Object.entries(columns).map(([name, values]) => columnInput(name, values));
    } catch (error) {
      return Promise.reject(error);
    }
    return call(
      this.native.insert(table, inputs, {
        dedupToken: options.dedupToken,
        blockRows: options.blockRows,
        settings: stringMap(options.settings),
      }),
    );
  }

  /** Runs a query: `{ columns: [{ name, type }], rows: [[...], ...] }`. */
  async query(sql, options) {
    return shape(await call(this.native.query(sql, queryOptions(options))));
  }

  /** Runs a query: one object per row, keyed by column name. */
  async queryObjects(sql, options) {
    const { columns, rows } = await this.query(sql, options);
    return rows.map((row) => Object.fromEntries(columns.map((column, index) => [column.name, row[index]])));
  }

  /** Runs a query and yields its batches (`{ columns, rows }`) as they arrive; leaving the loop
   * early cancels the query. */
  async *iterate(sql, options) {
    const cursor = await call(this.native.cursor(sql, queryOptions(options)));
    try {
      for (;;) {
        const batch = await call(cursor.next());
        if (batch === null) return;
        yield shape(batch);
      }
    } finally {
      await cursor.close();
    }
  }

  /** Runs a statement, dropping any rows: `{ readRows, readBytes, writtenRows, writtenBytes }`. */
  execute(sql, options) {
    return call(this.native.execute(sql, queryOptions(options)));
  }

  ping() {
    return call(this.native.ping());
  }

  close() {
    return call(this.native.close());
  }
}

module.exports = { Client, GranaryError, ServerError, ConnectionError };
