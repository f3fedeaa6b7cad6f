/** Granary's Node.js client: bulk columnar inserts that land exactly once, and queries, over
 * ClickHouse's native protocol. */

export interface ClientOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** The native protocol port; default 9000. */
  port?: number;
  /** Default `default`. */
  user?: string;
  password?: string;
  /** The database queries run in; the user's default when absent. */
  database?: string;
  /** Data block compression; default `lz4`. */
  compression?: 'lz4' | 'zstd' | 'none' | null;
  connectTimeoutMs?: number;
  receiveTimeoutMs?: number;
  /** Tries in all after a connection failure (inserts resume from the first unacknowledged block); default 5. */
  retries?: number;
}

/** A column of an insert: a TypedArray (BigInt64Array / BigUint64Array for 64-bit integers), or an
 * array of strings, numbers, bigints, booleans or Dates, with null for NULL. Strings are read as
 * the column's type where it has no JavaScript form (UUID, IPv4/IPv6, (U)Int128/256, FixedString,
 * Decimal, Date). Array columns take arrays, Tuple columns arrays of their elements, Map columns
 * objects or Maps. */
export type ColumnValues =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Float32Array | Float64Array
  | Array<string | null | undefined>
  | Array<number | null | undefined>
  | Array<bigint | null | undefined>
  | Array<boolean | null | undefined>
  | Array<Date | null | undefined>
  | Array<unknown[] | null | undefined>
  | Array<Record<string, unknown> | Map<unknown, unknown> | null | undefined>;

export interface InsertOptions {
  /** Inserts with the same token and rows land once. Block `n` is sent with `<dedupToken>:<n>`;
   * without a token the client makes one per call. */
  dedupToken?: string;
  /** Rows per block (one part each); default 1 048 576. Keep it when retrying with a token. */
  blockRows?: number;
  settings?: Record<string, string | number | boolean>;
}

export interface InsertResult {
  rows: number;
  blocks: number;
  /** Tries it took (1 without a retry). */
  attempts: number;
  /** The deduplication token used. */
  token: string;
}

export interface QueryOptions {
  settings?: Record<string, string | number | boolean>;
  /** Values of the query's `{name:Type}` placeholders. */
  parameters?: Record<string, string | number | boolean>;
  queryId?: string;
}

/** A value of a result: numbers up to 32-bit integers and floats; bigint for (U)Int64; boolean
 * for Bool; Date for DateTime/DateTime64; ClickHouse's text form (string) for every other type;
 * null for NULL. */
export type Value = number | bigint | boolean | Date | string | null;

export interface Result {
  columns: Array<{ name: string; type: string }>;
  rows: Value[][];
}

export interface Summary {
  readRows: number;
  readBytes: number;
  writtenRows: number;
  writtenBytes: number;
}

export class Client {
  constructor(options?: ClientOptions);
  /** Connects now; otherwise the first call connects. */
  connect(): Promise<void>;
  /** Inserts the columns (name → values) into `table` exactly once; retried calls with the same
   * `dedupToken` write nothing twice. */
  insert(table: string, columns: Record<string, ColumnValues>, options?: InsertOptions): Promise<InsertResult>;
  query(sql: string, options?: QueryOptions): Promise<Result>;
  queryObjects(sql: string, options?: QueryOptions): Promise<Array<Record<string, Value>>>;
  /** The result's batches as they arrive; leaving the loop early cancels the query. */
  iterate(sql: string, options?: QueryOptions): AsyncIterableIterator<Result>;
  execute(sql: string, options?: QueryOptions): Promise<Summary>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** An error with ClickHouse's code. */
export class GranaryError extends Error {
  /** ClickHouse's error code (60 for UNKNOWN_TABLE). */
  code: number;
  /** ClickHouse's name for the code. */
  codeName: string;
  /** Whether repeating the call could succeed (inserts: with the same token). */
  retryable: boolean;
}
/** The server refused the request. */
export class ServerError extends GranaryError {}
/** The connection could not be opened or broke. */
export class ConnectionError extends GranaryError {}
