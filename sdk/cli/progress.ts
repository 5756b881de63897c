/** The part of a stream the meter writes to: process.stderr, or a test's fake. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): boolean;
}

/**
 * Whether to show a progress line: only on a terminal (stderr is a TTY), and only when the
 * data does not share that terminal — a meter redrawn under lines being printed or typed
 * would garble them. Pipes and files never see it.
 */
export function showProgress(
  stderr: ProgressStream,
  dataOnTerminal: boolean,
  disabled: boolean,
): boolean {
  return stderr.isTTY === true && !dataOnTerminal && !disabled;
}

const count = new Intl.NumberFormat('en-US');

/**
 * One stderr line, redrawn every second: records so far and the rate over the last
 * second; `stop()` replaces it with a summary (the average rate).
 *
 * @example
 * const progress = new Progress(process.stderr, 'produced', true);
 * progress.add(500);
 * progress.stop();
 */
export class Progress {
  readonly #stream: ProgressStream;
  readonly #verb: string;
  readonly #enabled: boolean;
  readonly #startedAt: number;
  readonly #now: () => number;
  #records = 0;
  #lastRecords = 0;
  #lastAt: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(stream: ProgressStream, verb: string, enabled: boolean, now = Date.now) {
    this.#stream = stream;
    this.#verb = verb;
    this.#enabled = enabled;
    this.#now = now;
    this.#startedAt = now();
    this.#lastAt = this.#startedAt;
    if (enabled) {
      this.#timer = setInterval(() => this.tick(), 1000);
      // The meter never keeps the process alive.
      this.#timer.unref();
    }
  }

  get records(): number {
    return this.#records;
  }

  add(records: number): void {
    this.#records += records;
  }

  /** Redraws the line; called every second. */
  tick(): void {
    if (!this.#enabled) return;
    const now = this.#now();
    const rate = ((this.#records - this.#lastRecords) * 1000) / Math.max(1, now - this.#lastAt);
    this.#lastRecords = this.#records;
    this.#lastAt = now;
    this.#stream.write(
      `\r\x1b[2K${this.#verb} ${count.format(this.#records)} records, ${count.format(Math.round(rate))} records/s`,
    );
  }

  /** Stops redrawing and leaves a summary line. */
  stop(): void {
    clearInterval(this.#timer);
    if (!this.#enabled) return;
    const seconds = Math.max(0.001, (this.#now() - this.#startedAt) / 1000);
    const rate = Math.round(this.#records / seconds);
    this.#stream.write(
      `\r\x1b[2K${this.#verb} ${count.format(this.#records)} records in ${seconds.toFixed(1)} s (${count.format(rate)} records/s)\n`,
    );
  }
}
