import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../../sdk/cli/cli.ts';
import { commandHelp } from '../../sdk/cli/help.ts';
import { cli } from './cli-process.ts';

describe('tributary --help', () => {
  it('lists every command, the connection settings, the exit codes and the scripted forms', async () => {
    const { code, stdout, stderr } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: tributary <command> \[options\]/);
    for (const command of commands) expect(stdout).toContain(command.words.join(' '));
    for (const name of ['TRIBUTARY_URL', 'TRIBUTARY_API_KEY', 'TRIBUTARY_CONFIG', '--profile']) {
      expect(stdout).toContain(name);
    }
    for (const exit of ['0 ', '1 ', '2 ', '3 ', '130 ']) expect(stdout).toContain(`\n  ${exit}`);
    expect(stdout).toContain('tributary topics create orders --partitions 3');
    expect(stdout).toContain('tributary consume orders --from earliest --exit');
  });

  it('names, in --help and in docs/cli.md, every code that exits 3', async () => {
    const { stdout } = await cli(['--help']);
    const help = stdout.replace(/\s+/g, ' ');
    const doc = readFileSync(join(import.meta.dirname, '../../docs/cli.md'), 'utf8');
    const docRow = doc.split('\n').find((line) => line.startsWith('| `3` |')) ?? '';
    for (const code of [
      'TOPIC_NOT_FOUND',
      'PARTITION_NOT_FOUND',
      'GROUP_NOT_FOUND',
      'KEY_NOT_FOUND',
      'ACL_NOT_FOUND',
      'MAINTENANCE_RUN_NOT_FOUND',
      'SUBSCRIPTION_NOT_FOUND',
    ]) {
      expect(help).toContain(code);
      expect(docRow).toContain(`\`${code}\``);
    }
  });

  it('prints the package version for --version', async () => {
    const { version } = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../sdk/package.json'), 'utf8'),
    ) as { version: string };
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('gives each command its usage, options and examples, with --help, -h or help <command>', async () => {
    for (const args of [
      ['topics', 'create', '--help'],
      ['topics', 'create', 'orders', '-h'],
      ['help', 'topics', 'create'],
    ]) {
      const { code, stdout } = await cli(args);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: tributary topics create <name> \[options\]/);
      expect(stdout).toContain('--partitions <n>');
      expect(stdout).toContain('Examples:\n  tributary topics create orders --partitions 3');
    }
    const group = await cli(['topics', '--help']);
    expect(group.code).toBe(0);
    expect(group.stdout).toContain('Usage: tributary topics <create|list|describe|alter|delete>');
  });

  it('writes help to stderr and exits 2 when no command is given', async () => {
    const { code, stdout, stderr } = await cli([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^Usage: tributary <command>/);
  });

  it.each(commands.map((c) => [c.words.join(' '), c] as const))(
    '%s --help documents every option and has an example',
    (_, command) => {
      const help = commandHelp(command);
      expect(help).toMatch(new RegExp(`^Usage: tributary ${command.words.join(' ')}`));
      for (const option of Object.keys(command.options)) expect(help).toContain(`--${option}`);
      expect(command.examples.length).toBeGreaterThan(0);
      for (const example of command.examples) {
        expect(example).toContain(`tributary ${command.words.join(' ')}`);
      }
    },
  );
});
