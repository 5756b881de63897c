import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { integerArgument, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { type ExitCode, exitCodes } from '../exit-codes.ts';

/** The local server `npm start` runs, beside this file in the repository (or its build). */
function serverEntry(): string {
  for (const name of ['main.ts', 'main.js']) {
    const path = fileURLToPath(new URL(`../../../functions/local/${name}`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new UsageError(
    'tributary dev runs the local server from a Tributary checkout (functions/local/main.ts), which this installation does not include.',
  );
}

/** Passed on to the server; SIGINT comes through the context's signal. */
const forwarded = ['SIGTERM', 'SIGHUP'] as const;

export const dev: Command = {
  words: ['dev'],
  args: [],
  summary: 'run the local server (what npm start runs)',
  description:
    "Runs the REST API on this machine over embedded storage (SQLite and files in ./.tributary), exactly as npm start does: the server reads the same environment (PORT, HOST, TRIBUTARY_STORE, TRIBUTARY_DATA_DIR, TRIBUTARY_AUTH, TRIBUTARY_ADMIN_KEY, …; see the README's 'Configuration of the server'). The flags below set those variables. Ctrl-C stops it (exit 130).",
  options: {
    port: {
      type: 'string',
      value: '<port>',
      help: 'PORT: the port, 0 for a free one (default 8080)',
    },
    host: { type: 'string', value: '<host>', help: 'HOST: the address (default 127.0.0.1)' },
    'data-dir': {
      type: 'string',
      value: '<dir>',
      help: 'TRIBUTARY_DATA_DIR (default ./.tributary)',
    },
    store: { type: 'string', value: 'embedded|aws', help: 'TRIBUTARY_STORE (default embedded)' },
    'admin-key': {
      type: 'string',
      value: '<key>',
      help: 'turn auth on (TRIBUTARY_AUTH=on) with this admin key (16+ characters)',
    },
  },
  examples: [
    'tributary dev',
    'tributary dev --port 9090 --data-dir /tmp/tributary',
    'tributary dev --admin-key local-admin-key-change-me',
  ],
  interruptible: true,
  run({ flags, env, signal }) {
    const settings: Record<string, string> = {};
    const port = flags.string('port');
    if (port !== undefined) settings.PORT = String(integerArgument(port, '--port', 0, 65_535));
    const host = flags.string('host');
    if (host !== undefined) settings.HOST = host;
    const dataDir = flags.string('data-dir');
    if (dataDir !== undefined) settings.TRIBUTARY_DATA_DIR = dataDir;
    if (flags.has('store'))
      settings.TRIBUTARY_STORE = flags.oneOf('store', ['embedded', 'aws'], 'embedded');
    const adminKey = flags.string('admin-key');
    if (adminKey !== undefined) {
      settings.TRIBUTARY_AUTH = 'on';
      settings.TRIBUTARY_ADMIN_KEY = adminKey;
    }
    const entry = serverEntry();
    // Its own process group: a terminal's Ctrl-C reaches only this process, which passes it
    // on once, so the server shuts down cleanly instead of being hit twice.
    const server = spawn(process.execPath, [entry], {
      env: { ...env, ...settings },
      stdio: 'inherit',
      detached: true,
    });
    const signals = new Map<string, () => void>();
    for (const name of forwarded) {
      const forward = () => server.kill(name);
      signals.set(name, forward);
      process.on(name, forward);
    }
    signal.addEventListener('abort', () => server.kill('SIGINT'), { once: true });
    const stopServer = () => {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    };
    process.on('exit', stopServer);
    return new Promise<ExitCode>((resolve, reject) => {
      server.once('error', reject);
      server.once('exit', (code) => {
        process.off('exit', stopServer);
        for (const [name, forward] of signals) process.off(name, forward);
        if (signal.aborted) resolve(exitCodes.interrupted);
        else resolve(code === 0 ? exitCodes.ok : exitCodes.failed);
      });
    });
  },
};
