'use strict';
// The Node SDK against a granary-server: every type it maps in and out, NULLs, empty and 1M-row
// inserts, streaming, settings and parameters, errors with their codes.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, GranaryError, ServerError, ConnectionError } = require('granary');
const { startServer } = require('./server.js');

let server;
let client;
before(async () => {
  server = await startServer();
  client = new Client({ port: server.port });
  await client.execute('CREATE DATABASE node_sdk');
  client = new Client({ port: server.port, database: 'node_sdk' });
});
after(async () => {
  await client.close();
  await server.stop();
});

async function table(name, columns) {
  await client.execute(`DROP TABLE IF EXISTS ${name}`);
  await client.execute(`CREATE TABLE ${name} (${columns}) ENGINE = MergeTree ORDER BY tuple()`);
}

test('every mapped type round-trips', async () => {
  await table('every_type', `id UInt32, u8 UInt8, u16 UInt16, u64 UInt64, i8 Int8, i32 Int32, i64 Int64,
    f32 Float32, f64 Float64, b Bool, s String, lc LowCardinality(String), d Date, dt DateTime,
    dt64 DateTime64(3), dec Decimal(18, 2), n Nullable(Int32), ns Nullable(String), arr Array(UInt16)`);
  const result = await client.insert('every_type', {
    id: new Uint32Array([1, 2]),
    u8: new Uint8Array([255, 0]),
    u16: [65535, 0],
    u64: new BigUint64Array([18446744073709551615n, 0n]),
    i8: new Int8Array([-128, 127]),
    i32: [-2147483648, 2147483647],
    i64: [-9223372036854775808n, 9223372036854775807n],
    f32: new Float32Array([1.5, -0.25]),
    f64: [0.1, 1e300],
    b: [true, false],
    s: ['héllo', ''],
    lc: ['low', 'low'],
    d: [new Date('2024-02-29T00:00:00Z'), new Date('1970-01-01T00:00:00Z')],
    dt: [new Date('2024-02-29T23:59:58Z'), new Date(86400000)],
    dt64: [new Date('2024-02-29T23:59:58.123Z'), new Date(1)],
    dec: [-12345.67, 0.01],
    n: [null, 42],
    ns: ['x', null],
  });
  assert.deepEqual([result.rows, result.blocks, result.attempts], [2, 1, 1]);
  const { columns, rows } = await client.query('SELECT * FROM every_type ORDER BY id');
  assert.equal(columns.find((column) => column.name === 'lc').type, 'LowCardinality(String)');
  const names = columns.map((column) => column.name);
  const first = Object.fromEntries(names.map((name, index) => [name, rows[0][index]]));
  assert.deepEqual(first, {
    id: 1, u8: 255, u16: 65535, u64: 18446744073709551615n, i8: -128, i32: -2147483648,
    i64: -9223372036854775808n, f32: 1.5, f64: 0.1, b: true, s: 'héllo', lc: 'low', d: '2024-02-29',
    dt: new Date('2024-02-29T23:59:58Z'), dt64: new Date('2024-02-29T23:59:58.123Z'),
    dec: '-12345.67', n: null, ns: 'x', arr: '[]',
  });
  const objects = await client.queryObjects('SELECT id, i64, n, ns FROM every_type ORDER BY id');
  assert.deepEqual(objects, [
    { id: 1, i64: -9223372036854775808n, n: null, ns: 'x' },
    { id: 2, i64: 9223372036854775807n, n: 42, ns: null },
  ]);
});

test('types without a JavaScript form go in as text and come back as text', async () => {
  await table('as_text', `id UInt8, u UUID, v4 IPv4, v6 IPv6, i128 Int128, u256 UInt256, fs FixedString(3),
    dec Decimal(18, 2), d32 Date32, nu Nullable(UUID)`);
  const row = {
    id: [1],
    u: ['01234567-89ab-cdef-0123-456789abcdef'],
    v4: ['10.1.2.3'],
    v6: ['2001:db8::1'],
    i128: ['-170141183460469231731687303715884105728'],
    u256: ['115792089237316195423570985008687907853269984665640564039457584007913129639935'],
    fs: ['ab'],
    dec: ['-12345.67'],
    d32: ['1900-01-01'],
    nu: [null],
  };
  await client.insert('as_text', row);
  const [got] = await client.queryObjects('SELECT * FROM as_text');
  assert.deepEqual(got, {
    id: 1, u: row.u[0], v4: row.v4[0], v6: row.v6[0], i128: row.i128[0], u256: row.u256[0],
    fs: 'ab\0', dec: row.dec[0], d32: row.d32[0], nu: null,
  });
  await assert.rejects(client.insert('as_text', { id: [2], u: ['not a uuid'] }), (error) => error.codeName === 'CANNOT_PARSE_UUID');
  await assert.rejects(client.insert('as_text', { id: [2], fs: ['abcd'] }), (error) => error.codeName === 'TOO_LARGE_STRING_SIZE');
});

test('arrays, tuples and maps go in from nested arrays, objects and Maps', async () => {
  await table('nested', `id UInt8, a Array(UInt16), s Array(Nullable(String)), m Map(String, UInt64),
    n Array(Array(Int32)), t Tuple(UInt8, String), tn Tuple(Float64, Int64)`);
  await client.insert('nested', {
    id: [1, 2, 3],
    a: [[1, 2, 3], [], [65535]],
    s: [['x', null], [], ['y']],
    m: [{ k: 1, l: 2 }, new Map([['z', 9]]), {}],
    n: [[[1], [2, 3]], [], [[]]],
    t: [[7, 'seven'], [0, ''], [255, "it's"]],
    tn: [[0.5, 1], [-1, -2], [0, 0]],
  });
  const rows = await client.queryObjects('SELECT * FROM nested ORDER BY id');
  assert.deepEqual(rows, [
    { id: 1, a: '[1,2,3]', s: "['x',NULL]", m: "{'k':1,'l':2}", n: '[[1],[2,3]]', t: "(7,'seven')", tn: '(0.5,1)' },
    { id: 2, a: '[]', s: '[]', m: "{'z':9}", n: '[]', t: "(0,'')", tn: '(-1,-2)' },
    { id: 3, a: '[65535]', s: "['y']", m: '{}', n: '[[]]', t: "(255,'it\\'s')", tn: '(0,0)' },
  ]);
  await assert.rejects(client.insert('nested', { id: [4], t: [[1, 'a', 'b']] }), (error) => error.codeName === 'TYPE_MISMATCH');
});

test('empty inserts and a million rows in blocks', async () => {
  await table('million', 'k UInt64, v Float64, s LowCardinality(String)');
  assert.equal((await client.insert('million', { k: [] })).rows, 0);
  const n = 1_000_000;
  const k = new BigUint64Array(n);
  const v = new Float64Array(n);
  const s = new Array(n);
  for (let i = 0; i < n; i += 1) {
    k[i] = BigInt(i);
    v[i] = i / 4;
    s[i] = `s${i % 5}`;
  }
  const result = await client.insert('million', { k, v, s }, { blockRows: 300_000 });
  assert.deepEqual([result.rows, result.blocks], [n, 4]);
  const [[count, sum, distinct]] = (await client.query('SELECT count(), sum(k), uniqExact(s) FROM million')).rows;
  assert.deepEqual([count, sum, distinct], [BigInt(n), BigInt((n * (n - 1)) / 2), 5n]);
  const parts = await client.query("SELECT count() FROM system.parts WHERE table = 'million' AND active AND database = 'node_sdk'");
  assert.equal(parts.rows[0][0], 4n);
  // Streaming it back batch by batch; leaving the loop early cancels the query.
  let rows = 0;
  let batches = 0;
  for await (const batch of client.iterate('SELECT k FROM million')) {
    rows += batch.rows.length;
    batches += 1;
  }
  assert.equal(rows, n);
  assert.ok(batches > 1);
  for await (const batch of client.iterate('SELECT * FROM numbers(100000000)')) {
    assert.ok(batch.rows.length > 0);
    break;
  }
  assert.deepEqual((await client.query('SELECT 1')).rows, [[1]]);
});

test('settings and parameters reach the server', async () => {
  const { rows } = await client.query('SELECT {n:UInt8} + 1, {s:String}', { parameters: { n: 41, s: "it's" } });
  assert.deepEqual(rows, [[42, "it's"]]);
  await assert.rejects(client.query('SELECT number FROM numbers(100)', { settings: { max_result_rows: 10 } }), (error) => {
    assert.ok(error instanceof ServerError);
    assert.equal(error.codeName, 'TOO_MANY_ROWS_OR_BYTES');
    return true;
  });
});

test('errors carry ClickHouse codes and the client goes on', async () => {
  await assert.rejects(client.query('SELECT * FROM no_such_table'), (error) => {
    assert.ok(error instanceof ServerError && error instanceof GranaryError);
    assert.deepEqual([error.code, error.codeName, error.retryable], [60, 'UNKNOWN_TABLE', false]);
    return true;
  });
  await table('typed', 'k UInt32, s String');
  await assert.rejects(client.insert('typed', { k: [-1] }), (error) => error.codeName === 'TYPE_MISMATCH');
  await assert.rejects(client.insert('typed', { k: [1], s: [null] }), (error) => error.code === 349);
  await assert.rejects(client.insert('typed', { k: [1, 2], s: ['a'] }), (error) => error.codeName === 'SIZES_OF_COLUMNS_DOESNT_MATCH');
  await assert.rejects(client.insert('typed', { s: [1.5] }), (error) => error instanceof ServerError);
  await assert.rejects(client.insert('typed', { k: 'nope' }), TypeError);
  assert.deepEqual((await client.query('SELECT count() FROM typed')).rows, [[0n]]);
  const refused = new Client({ port: 1, retries: 1, connectTimeoutMs: 2000 });
  await assert.rejects(refused.ping(), (error) => error instanceof ConnectionError && error.retryable);
  assert.throws(() => new Client({ compression: 'snappy' }), /unknown compression/);
  await client.ping();
});
