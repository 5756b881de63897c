import type { Flags } from './args.ts';

/**
 * Writes to stdout and resolves once the text is handed to the OS, so a caller can act
 * after output really went out (a group consumer commits only then), and a reader that
 * went away (`| head`) surfaces as an EPIPE error rather than as lost output.
 */
export function print(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

/** A warning for stderr, which never carries data: stdout stays clean for pipes. */
export function warn(message: string): void {
  process.stderr.write(`tributary: warning: ${message}\n`);
}

/** Prints `value` as one line of compact JSON. */
export const printJson = (value: unknown): Promise<void> => print(`${JSON.stringify(value)}\n`);

/** Whether the command should print JSON (`--output json`) rather than text. */
export const jsonOutput = (flags: Flags): boolean =>
  flags.oneOf('output', ['text', 'json'], 'text') === 'json';

/** Rows as columns padded to their widest cell, two spaces apart; the first row is a header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Epoch milliseconds as ISO 8601, for people. */
export const isoTime = (ms: number): string => new Date(ms).toISOString();
