'use strict';
// Starts a granary-server for the tests (GRANARY_SERVER names the binary) on free ports with a
// fresh data directory; `stop()` ends it and says whether it was still alive.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

async function startServer() {
  const binary = process.env.GRANARY_SERVER;
  if (!binary || !fs.existsSync(binary)) throw new Error(`GRANARY_SERVER is not a granary-server binary: ${binary}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'granary-node-'));
  const child = spawn(binary, ['--data-dir', path.join(work, 'data'), '--pg-addr', '127.0.0.1:0', '--native-addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GRANARY_LOG: 'info' },
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = log.match(/native protocol listening on 127\.0\.0\.1:(\d+)/);
      if (found) resolve(Number(found[1]));
    });
    child.on('exit', (code) => reject(new Error(`granary-server exited (${code}):\n${log}`)));
  });
  return {
    port,
    async stop() {
      const alive = child.exitCode === null;
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(work, { recursive: true, force: true });
      if (!alive) throw new Error(`granary-server died during the tests:\n${log}`);
    },
  };
}

module.exports = { startServer };
