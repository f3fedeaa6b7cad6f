'use strict';
// The README's quick start runs as written (saved as quickstart.mjs, the test server's port for
// 9000), against the installed package.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startServer } = require('./server.js');

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

test('the README quick start runs', () => {
  const readme = fs.readFileSync(path.join(__dirname, 'README.md'), 'utf8');
  const code = readme.match(/```js\n([\s\S]*?)```/)[1];
  assert.ok(code.includes('port: 9000'));
  const file = path.join(__dirname, 'quickstart.mjs');
  fs.writeFileSync(file, code.replace('port: 9000', `port: ${server.port}`));
  const printed = execFileSync(process.execPath, [file], { encoding: 'utf8' });
  assert.equal(printed.trim(), '[ { n: 3n } ]');
});
