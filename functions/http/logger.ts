/** Structured JSON log lines, one per event, on stdout (CloudWatch Logs in Lambda). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** TRIBUTARY_LOG_LEVEL's values, least severe first: Powertools Logger's levels. */
export const logLevels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof logLevels)[number];

/** JSON lines on stdout of `level` and above (`SILENT`: none). */
export function jsonLoggerAt(level: LogLevel): Logger {
  const writes = (at: LogLevel) => logLevels.indexOf(at) >= logLevels.indexOf(level);
  return {
    info: writes('INFO') ? (message, fields) => write('INFO', message, fields) : () => {},
    error: writes('ERROR') ? (message, fields) => write('ERROR', message, fields) : () => {},
  };
}

export const jsonLogger: Logger = jsonLoggerAt('INFO');

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
