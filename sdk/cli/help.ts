import { globalOptions, type OptionSpecs } from './args.ts';
import type { Command } from './command.ts';
import { defaultUrl } from './connection.ts';
import { notFoundCodes } from './exit-codes.ts';

const width = 88;

/** Wraps a paragraph at `width` columns, indenting every line. */
function wrap(text: string, indent = ''): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => `${indent}${l}\n`).join('');
}

/** Two columns: names padded to the widest, descriptions wrapped beside them. */
function columns(rows: readonly (readonly [string, string])[]): string {
  const left = Math.min(34, Math.max(...rows.map(([name]) => name.length)) + 2);
  return rows
    .map(([name, help]) => {
      const body = wrap(help, ' '.repeat(left + 2)).trimStart();
      return name.length + 2 > left
        ? `  ${name}\n${' '.repeat(left + 2)}${body}`
        : `  ${name.padEnd(left)}${body}`;
    })
    .join('');
}

function optionRows(options: OptionSpecs): [string, string][] {
  return Object.entries(options).map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.value === undefined ? '' : ` ${spec.value}`;
    return [`${short}--${name}${value}`, spec.help];
  });
}

const usageOf = (command: Command) =>
  `tributary ${[...command.words, ...command.args].join(' ')}${Object.keys(command.options).length > 0 ? ' [options]' : ''}`;

const exitCodesText = columns([
  ['0', 'success'],
  [
    '1',
    'the operation failed: an error from the server (its code and message on stderr), the network, or bad input data',
  ],
  ['2', 'usage error: bad flags or arguments; nothing was done'],
  ['3', `not found: ${notFoundCodes.join(', ')}`],
  ['130', 'interrupted by Ctrl-C (SIGINT)'],
  ['143', 'stopped by SIGTERM, which stops a command as Ctrl-C does'],
]);

/** `tributary <command> --help`. */
export function commandHelp(command: Command): string {
  const globals = command.words[0] === 'dev' ? { help: globalOptions.help } : globalOptions;
  return [
    `Usage: ${usageOf(command)}\n`,
    command.description
      .split('\n\n')
      .map((p) => wrap(p))
      .join('\n'),
    ...(Object.keys(command.options).length > 0
      ? [`Options:\n${columns(optionRows(command.options))}`]
      : []),
    `Global options:\n${columns(optionRows(globals))}`,
    `Examples:\n${command.examples.map((e) => `  ${e}\n`).join('')}`,
  ].join('\n');
}

/** `tributary topics --help`: the group's subcommands. */
export function groupHelp(group: string, commands: readonly Command[]): string {
  const members = commands.filter((c) => c.words[0] === group);
  return [
    `Usage: tributary ${group} <${members.map((c) => c.words[1]).join('|')}> [options]\n`,
    `Commands:\n${columns(members.map((c) => [[...c.words, ...c.args].join(' '), c.summary]))}`,
    `Run 'tributary ${group} <command> --help' for a command's options and examples.\n`,
  ].join('\n');
}

/** `tributary --help`. */
export function globalHelp(commands: readonly Command[]): string {
  return [
    "Usage: tributary <command> [options]\n\nThe command line for Tributary's REST API: topics, produce, consume, consumer groups, keys and ACLs.\n",
    `Commands:\n${columns(commands.map((c) => [[...c.words, ...c.args].join(' '), c.summary]))}`,
    `Global options:\n${columns(optionRows(globalOptions))}`,
    `Connection:\n${wrap(`The URL and the API key come from the flags, else $TRIBUTARY_URL and $TRIBUTARY_API_KEY, else the profile (--profile, else $TRIBUTARY_PROFILE, else "default") in the config file $TRIBUTARY_CONFIG, else ~/.config/tributary/config.json: {"profiles": {"default": {"url": "…", "apiKey": "…"}}}. The URL defaults to ${defaultUrl}.`, '  ')}`,
    `Exit codes:\n${exitCodesText}`,
    `Examples:\n${[
      'tributary dev',
      'tributary topics create orders --partitions 3',
      "printf 'one\\ntwo\\n' | tributary produce orders",
      'tributary consume orders --from earliest --exit',
      'tributary consume orders --group reporting --output json',
    ]
      .map((e) => `  ${e}\n`)
      .join('')}`,
    "Run 'tributary <command> --help' for a command's options and examples;\n'tributary --version' prints the version.\n",
  ].join('\n');
}
