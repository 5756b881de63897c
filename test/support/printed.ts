import type { ChildProcess } from 'node:child_process';

/** What a child process prints, as it prints it: read `stdout` and `stderr` at any time. */
export function printedBy(child: ChildProcess): { stdout: string; stderr: string } {
  const printed = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    printed.stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    printed.stderr += chunk;
  });
  return printed;
}
