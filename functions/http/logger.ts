/** Structured JSON log lines, one per event, on stdout (CloudWatch Logs in Lambda). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const jsonLogger: Logger = {
  info: (message, fields) => write('INFO', message, fields),
  error: (message, fields) => write('ERROR', message, fields),
};

export const silentLogger: Logger = { info: () => {}, error: () => {} };

function write(level: string, message: string, fields?: Record<string, unknown>) {
  const line = { level, timestamp: new Date().toISOString(), message, ...fields };
  process.stdout.write(`${JSON.stringify(line, errorReplacer)}\n`);
}

function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error)
    return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
