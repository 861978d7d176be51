#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ by `npm install` (prepare) or `npm run build`.
let main;
try {
  ({ main } = require('../dist/src/cli/main.js'));
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('flowwarden is not built yet: run `npm run build` (npm install does it too).\n');
    process.exit(2);
  }
  throw e;
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`flowwarden: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
