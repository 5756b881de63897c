import { type CorsOrigins, parseCorsOrigins } from './http/cors.ts';
import { type LogLevel, logLevels } from './http/logger.ts';
import { defaultMaintenanceSettings, minOrphanGraceMs } from './maintenance/settings.ts';

/**
 * Configuration, read once at start from the environment and typed; a bad value fails
 * loudly at start rather than on some later request.
 */
export type StoreKind = 'embedded' | 'aws';

export interface Config {
  readonly store: StoreKind;
  /** Embedded store: where the SQLite database and segment files live. */
  readonly dataDir: string;
  /** AWS store: the DynamoDB table and S3 bucket (required with TRIBUTARY_STORE=aws). */
  readonly tableName: string;
  readonly bucketName: string;
  /** Local server only. */
  readonly host: string;
  readonly port: number;
  /** Bytes of batches kept in memory per process. */
  readonly cacheBytes: number;
  /** Local server only: a maintenance pass this often (0: only on demand). */
  readonly maintenanceIntervalMs: number;
  /** How old a chunk nothing refers to must be before the orphan sweep deletes it. */
  readonly orphanGraceMs: number;
  /** API keys and ACLs; off by default on a laptop, on in the deployed stack. */
  readonly auth: boolean;
  /** The bootstrap admin key itself (local server), or... */
  readonly adminKey: string | undefined;
  /** ...the Secrets Manager secret holding it (Lambda), read once at cold start. */
  readonly adminKeySecretArn: string | undefined;
  /**
   * Lambda: the maintenance state machine, which `POST /v1/admin/maintenance` starts; absent,
   * a pass runs in this process.
   */
  readonly stateMachineArn: string | undefined;
  /**
   * Origins browsers may call the API from (TRIBUTARY_CORS_ORIGINS, comma-separated, `*`
   * for any); undefined when unset, for the entry point's own default.
   */
  readonly corsOrigins: CorsOrigins | undefined;
  /** The least severe log line written (TRIBUTARY_LOG_LEVEL). */
  readonly logLevel: LogLevel;
}

export type Env = Record<string, string | undefined>;

export function readConfig(env: Env = process.env): Config {
  const store = oneOf(env, 'TRIBUTARY_STORE', ['embedded', 'aws'], 'embedded');
  // Guessing a table or bucket name could write into someone else's: require both.
  const awsName = (name: string) => (store === 'aws' ? required(env, name) : (env[name] ?? ''));
  return {
    store,
    dataDir: env.TRIBUTARY_DATA_DIR || './.tributary',
    tableName: awsName('TRIBUTARY_TABLE'),
    bucketName: awsName('TRIBUTARY_BUCKET'),
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 8080, 0, 65_535),
    cacheBytes: integer(env, 'TRIBUTARY_CACHE_MB', 64, 0, 4096) * 1024 * 1024,
    maintenanceIntervalMs: integer(env, 'TRIBUTARY_MAINTENANCE_INTERVAL_MS', 60_000, 0, 86_400_000),
    orphanGraceMs: integer(
      env,
      'TRIBUTARY_ORPHAN_GRACE_MS',
      defaultMaintenanceSettings.orphanGraceMs,
      minOrphanGraceMs,
      30 * 86_400_000,
    ),
    corsOrigins:
      env.TRIBUTARY_CORS_ORIGINS === undefined
        ? undefined
        : parseCorsOrigins(env.TRIBUTARY_CORS_ORIGINS),
    logLevel: oneOf(env, 'TRIBUTARY_LOG_LEVEL', logLevels, 'INFO', (raw) => raw.toUpperCase()),
    ...authConfig(env),
    stateMachineArn: stateMachineArn(env),
  };
}

/** arn:<partition>:states:<region>:<account>:stateMachine:<name> */
const stateMachineArnPattern =
  /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

function stateMachineArn(env: Env): string | undefined {
  const arn = env.TRIBUTARY_STATE_MACHINE_ARN || undefined;
  if (arn !== undefined && !stateMachineArnPattern.test(arn)) {
    throw new Error(
      `TRIBUTARY_STATE_MACHINE_ARN must be a state machine's ARN (arn:aws:states:<region>:<account>:stateMachine:<name>); got '${arn}'`,
    );
  }
  return arn;
}

function authConfig(env: Env) {
  const auth = oneOf(env, 'TRIBUTARY_AUTH', ['on', 'off'], 'off') === 'on';
  const adminKey = env.TRIBUTARY_ADMIN_KEY || undefined;
  const adminKeySecretArn = env.TRIBUTARY_ADMIN_KEY_SECRET_ARN || undefined;
  if (auth && !adminKey && !adminKeySecretArn) {
    throw new Error(
      'TRIBUTARY_AUTH=on needs the bootstrap admin key: set TRIBUTARY_ADMIN_KEY to a secret of 16 or more characters (or, in Lambda, TRIBUTARY_ADMIN_KEY_SECRET_ARN to the secret holding it)',
    );
  }
  if (adminKey && adminKeySecretArn) {
    throw new Error('Set TRIBUTARY_ADMIN_KEY or TRIBUTARY_ADMIN_KEY_SECRET_ARN, not both');
  }
  if (adminKey !== undefined && adminKey.length < 16) {
    throw new Error('TRIBUTARY_ADMIN_KEY must be at least 16 characters');
  }
  return { auth, adminKey, adminKeySecretArn };
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} must be set when TRIBUTARY_STORE=aws`);
  return value;
}

function oneOf<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: T,
  normalize: (raw: string) => string = (raw) => raw,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = allowed.find((a) => a === normalize(raw));
  if (!value) throw new Error(`${name} must be one of ${allowed.join(', ')}; got '${raw}'`);
  return value;
}

export function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}; got '${raw}'`);
  }
  return value;
}
