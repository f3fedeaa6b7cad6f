'use strict';
// The Node SDK's insert benchmark: ROWS rows of the 10 columns of bench/native (TypedArrays for
// numbers, arrays of strings, an array of Dates for the DateTime), inserted into
// granary-server in blocks of 1 048 576 rows with LZ4. Prints one JSON object.
// Usage: node node_insert.js PACKAGE_DIR HOST:PORT ROWS
const [packageDir, address, rowsText] = process.argv.slice(2);
const { Client } = require(packageDir);
const [host, port] = address.split(':');
const rows = Number(rowsText);

const EVENTS = ['view', 'click', 'scroll', 'play', 'pause', 'seek', 'share', 'close'];
const COUNTRIES = ['US', 'DE', 'FR', 'JP', 'BR', 'IN'];
const STATUS = [200, 200, 200, 301, 404, 500];
const URLS = Array.from({ length: 1000 }, (_, i) => `https://example.com/page/${i}`);

function columns(n) {
  const id = new BigUint64Array(n);
  const user = new Uint32Array(n);
  const ts = new Array(n);
  const seconds = new Map();
  const event = new Array(n);
  const url = new Array(n);
  const duration = new Float64Array(n);
  const score = new Float32Array(n);
  const status = new Uint16Array(n);
  const country = new Array(n);
  const flag = new Uint8Array(n);
  for (let i = 0; i < n; i += 1) {
    id[i] = BigInt(i);
    user[i] = (i * 7919) % 100_003;
    const second = 1_700_000_000 + Math.floor(i / 10);
    if (!seconds.has(second)) seconds.set(second, new Date(second * 1000));
    ts[i] = seconds.get(second);
    event[i] = EVENTS[i % 8];
    url[i] = URLS[i % 1000];
    duration[i] = (i % 10_000) / 8;
    score[i] = (i % 100) / 4;
    status[i] = STATUS[i % 6];
    country[i] = COUNTRIES[i % 6];
    flag[i] = i % 2;
  }
  return { id, user_id: user, ts, event, url, duration, score, status, country, flag };
}

(async () => {
  const client = new Client({ host, port: Number(port) });
  await client.execute('DROP TABLE IF EXISTS bench_sdk_node');
  await client.execute(`CREATE TABLE bench_sdk_node (id UInt64, user_id UInt32, ts DateTime,
    event LowCardinality(String), url String, duration Float64, score Float32, status UInt16,
    country String, flag UInt8) ENGINE = MergeTree ORDER BY id`);
  const data = columns(rows);
  const started = process.hrtime.bigint();
  await client.insert('bench_sdk_node', data);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { rows: [[count]] } = await client.query('SELECT count() FROM bench_sdk_node');
  if (count !== BigInt(rows)) throw new Error(`${count} rows after inserting ${rows}`);
  console.log(JSON.stringify({ engine: 'granary-node', rows, seconds: Number(seconds.toFixed(3)), rows_per_second: Math.round(rows / seconds) }));
  await client.close();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
