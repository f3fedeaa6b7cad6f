// node-postgres against granary-server: text parameters typed by their places, named
// statements, pg-cursor batches without Sync in between, errors with their SQLSTATE.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const { Client } = require('pg');
const Cursor = require('pg-cursor');

const port = Number(process.env.GRANARY_PG_PORT);
if (!port) {
  throw new Error('GRANARY_PG_PORT is not set: run server/tests/clients/run.sh');
}
const database = 'node_' + crypto.randomBytes(6).toString('hex');

async function connect(name) {
  const client = new Client({ host: '127.0.0.1', port, user: 'default', database: name });
  await client.connect();
  return client;
}

test.before(async () => {
  const admin = await connect('default');
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
});

test.after(async () => {
  const admin = await connect('default');
  await admin.query(`DROP DATABASE IF EXISTS ${database}`);
  await admin.end();
});

test('parameters sent as text are typed by their places', async () => {
  const client = await connect(database);
  await client.query(
    'CREATE TABLE events (id Int32, big Int64, name String, day Date, at DateTime64(3), ok Bool,' +
      ' maybe Nullable(Int32), count UInt64) ENGINE = MergeTree ORDER BY id',
  );
  const at = new Date('2024-02-29T13:45:56.123Z');
  const inserted = await client.query({
    name: 'insert-event',
    text: 'INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
    values: [1, 9007199254740993n, "it's", '2024-02-29', at, true, null, '18446744073709551615'],
  });
  assert.strictEqual(inserted.command, 'INSERT');
  assert.strictEqual(inserted.rowCount, 1);
  for (let id = 2; id <= 4; id++) {
    await client.query({
      name: 'insert-event',
      text: 'INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      values: [id, id, `row ${id}`, '2024-03-01', at, false, id, id],
    });
  }
  const result = await client.query('SELECT * FROM events WHERE id = $1', [1]);
  assert.deepStrictEqual(result.rows, [
    {
      id: 1,
      big: '9007199254740993',
      name: "it's",
      day: new Date('2024-02-29T00:00:00.000Z'),
      at,
      ok: true,
      maybe: null,
      count: '18446744073709551615',
    },
  ]);
  const counted = await client.query('SELECT count(*) AS n FROM events WHERE name LIKE $1', ['row%']);
  assert.strictEqual(counted.rows[0].n, '3');
  await client.end();
});

test('pg-cursor reads a large result in batches', async () => {
  const client = await connect(database);
  const cursor = client.query(new Cursor('SELECT number FROM numbers(30000) WHERE number >= $1', [0]));
  let seen = 0;
  for (;;) {
    const rows = await cursor.read(1000);
    if (rows.length === 0) break;
    assert.strictEqual(rows[0].number, String(seen));
    seen += rows.length;
  }
  await cursor.close();
  assert.strictEqual(seen, 30000);
  await client.end();
});

test('errors carry their SQLSTATE and the connection stays usable', async () => {
  const client = await connect(database);
  await assert.rejects(client.query('SELECT * FROM missing'), { code: '42P01' });
  await assert.rejects(client.query('SELEC 1'), { code: '42601' });
  await assert.rejects(client.query('SELECT $1 FROM missing', [1]), { code: '42P01' });
  const result = await client.query('SELECT 1 AS one');
  assert.deepStrictEqual(result.rows, [{ one: 1 }]);
  await client.end();
});

test('arrays arrive as arrays, maps and tuples as JSON', async () => {
  const client = await connect(database);
  const result = await client.query(
    "SELECT [1, 2, 3] AS ints, ['a', 'b c', ''] AS strings, [[1.5, 2], [3, 4]] AS grid," +
      " map('k', 1) AS pairs, (1, 'x') AS pair",
  );
  assert.deepStrictEqual(result.rows[0], {
    ints: [1, 2, 3],
    strings: ['a', 'b c', ''],
    grid: [[1.5, 2], [3, 4]],
    pairs: { k: 1 },
    pair: [1, 'x'],
  });
  await client.end();
});
