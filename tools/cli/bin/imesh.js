#!/usr/bin/env node
'use strict';
// The imesh CLI; the code lives in ../dist/cli.js, built from src/cli.ts by `npm run build` (tsc -b).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const cliPath = join(__dirname, '..', 'dist', 'cli.js');
if (!existsSync(cliPath)) {
  process.stderr.write('imesh: not built yet; run "npm run build" at the repository root\n');
  process.exit(1);
}

require(cliPath)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`imesh: ${error && error.stack ? error.stack : error}\n`);
      process.exitCode = 1;
    },
  );
