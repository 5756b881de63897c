#!/usr/bin/env node
// The `tributary` command's launcher: plain JavaScript, so that any Node.js can run it far
// enough to say which Node.js the CLI needs (the minimum is package.json's `engines`).
import { existsSync, readFileSync } from 'node:fs';

const { engines, version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
);
const minimum = Number(/\d+/.exec(engines.node)?.[0]);
const major = Number(process.versions.node.split('.')[0]);
const fail = (message) => {
  process.stderr.write(`tributary: ${message}\n`);
  process.exit(1);
};
if (major < minimum) {
  fail(
    `needs Node.js ${minimum} or newer; this is Node.js ${process.versions.node}. Install a newer Node.js, or in a Tributary checkout run 'npx tributary', which uses the Node.js that npm install brought.`,
  );
}

// `tributary --version`: the package's, which any Node.js can print.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  process.stdout.write(`${version}\n`);
  process.exit(0);
}

// A checkout runs the CLI's source (on a Node.js that strips types, as `npx tributary` there
// does); the published package, which ships no source, runs the compiled CLI.
const source = new URL('../cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(source) && process.features.typescript) {
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  fail(
    `this Node.js (${process.versions.node}) cannot run the CLI's TypeScript source: run 'npx tributary' in the checkout, or build it first with 'npm run build:sdk'.`,
  );
}
