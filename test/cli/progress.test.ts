import { describe, expect, it } from 'vitest';
import { Progress, type ProgressStream, showProgress } from '../../sdk/cli/progress.ts';

function terminal(isTTY: boolean): ProgressStream & { text: string } {
  return {
    isTTY,
    text: '',
    write(text: string) {
      this.text += text;
      return true;
    },
  };
}

describe('the progress meter', () => {
  it('shows only on a terminal that does not also carry the data, and not when turned off', () => {
    expect(showProgress(terminal(true), false, false)).toBe(true);
    expect(showProgress(terminal(false), false, false)).toBe(false);
    expect(showProgress(terminal(true), true, false)).toBe(false);
    expect(showProgress(terminal(true), false, true)).toBe(false);
  });

  it('redraws one line with the count and the last second’s rate, then leaves a summary', () => {
    let now = 0;
    const stderr = terminal(true);
    const progress = new Progress(stderr, 'produced', true, () => now);
    progress.add(1500);
    now = 1000;
    progress.tick();
    expect(stderr.text).toBe('\r\x1b[2Kproduced 1,500 records, 1,500 records/s');
    progress.add(500);
    now = 2000;
    progress.stop();
    expect(
      stderr.text.endsWith('\r\x1b[2Kproduced 2,000 records in 2.0 s (1,000 records/s)\n'),
    ).toBe(true);
  });

  it('writes nothing when disabled', () => {
    const stderr = terminal(false);
    const progress = new Progress(stderr, 'consumed', false);
    progress.add(10);
    progress.tick();
    progress.stop();
    expect(stderr.text).toBe('');
    expect(progress.records).toBe(10);
  });
});
