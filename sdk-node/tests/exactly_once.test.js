'use strict';
// Exactly-once inserts through a proxy that cuts connections at random points — inside a block
// on its way to the server, or after the server wrote a block but before its answer arrived.
// Every trial ends with exactly the rows that were sent.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { Client } = require('granary');
const { startServer } = require('./server.js');

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

/** A seeded generator (mulberry32), so a failing trial can be replayed. */
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Forwards to the server; the first `cuts` connections are cut after a random number of bytes
 * of the client's data (up) or of the server's answers (down). */
async function cuttingProxy(port, cuts, random, spans) {
  let connections = 0;
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let cut = null;
    if (connections <= cuts) {
      const direction = random() < 0.5 ? 'up' : 'down';
      cut = { direction, after: 1 + Math.floor(random() * spans[direction]) };
    }
    const pump = (from, to, direction) => {
      let passed = 0;
      from.on('data', (data) => {
        if (cut && cut.direction === direction && passed + data.length >= cut.after) {
          to.write(data.subarray(0, cut.after - passed));
          client.destroy();
          upstream.destroy();
          return;
        }
        passed += data.length;
        to.write(data);
      });
    };
    pump(client, upstream, 'up');
    pump(upstream, client, 'down');
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: proxy.address().port,
    connections: () => connections,
    close: () => {
      for (const socket of sockets) socket.destroy();
      proxy.close();
    },
  };
}

test('inserts land exactly once through random cuts', async () => {
  const direct = new Client({ port: server.port });
  await direct.execute('CREATE TABLE once (trial UInt32, k UInt64, v Float64) ENGINE = MergeTree ORDER BY (trial, k)');
  const rows = 60_000;
  const trials = 15;
  let attempts = 0;
  for (let trial = 0; trial < trials; trial += 1) {
    const random = seeded(trial + 1);
    const k = new BigUint64Array(rows);
    const v = new Float64Array(rows);
    for (let i = 0; i < rows; i += 1) {
      k[i] = BigInt(i);
      v[i] = random();
    }
    const proxy = await cuttingProxy(server.port, 3, random, { up: rows * 20, down: 2000 });
    const flaky = new Client({ port: proxy.port, compression: 'none', retries: 10 });
    try {
      const result = await flaky.insert('once', { trial: new Uint32Array(rows).fill(trial), k, v }, {
        dedupToken: `trial-${trial}`,
        blockRows: 5_000,
      });
      assert.equal(result.rows, rows);
      attempts += result.attempts;
    } finally {
      await flaky.close();
      proxy.close();
    }
    const { rows: got } = await direct.query(`SELECT count(), uniqExact(k) FROM once WHERE trial = ${trial}`);
    assert.deepEqual(got, [[BigInt(rows), BigInt(rows)]], `trial ${trial}`);
  }
  assert.deepEqual((await direct.query('SELECT count() FROM once')).rows, [[BigInt(rows * trials)]]);
  // The proxies did cut, and the client went on after each cut.
  assert.ok(attempts > 2 * trials, `${attempts} attempts in ${trials} trials`);
  // A repeated call with the same token writes nothing.
  const k = new BigUint64Array([1n, 2n, 3n]);
  await direct.insert('once', { trial: [99, 99, 99], k }, { dedupToken: 'again' });
  await direct.insert('once', { trial: [99, 99, 99], k }, { dedupToken: 'again' });
  assert.deepEqual((await direct.query('SELECT count() FROM once WHERE trial = 99')).rows, [[3n]]);
  await direct.close();
});
