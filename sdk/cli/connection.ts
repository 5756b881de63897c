import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { closest } from '../src/closest.ts';
import { type Flags, UsageError } from './args.ts';

export const defaultUrl = 'http://127.0.0.1:8080';

/** Where to reach the API, and with which key, once every source has been read. */
export interface Connection {
  readonly url: string;
  readonly apiKey: string | undefined;
}

/** A profile's fields, the only ones a config file may give. */
const profileFields = ['url', 'apiKey'];

/** `{"profiles": {"default": {"url", "apiKey"}}}`, as the config file holds it. */
interface Profile {
  readonly url?: string;
  readonly apiKey?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `$TRIBUTARY_CONFIG`, else `~/.config/tributary/config.json`. */
export function configPath(env: Env): string {
  return nonEmpty(env.TRIBUTARY_CONFIG) ?? join(homedir(), '.config', 'tributary', 'config.json');
}

/**
 * The URL and the API key, each from the first source that has it: the flag (`--url`,
 * `--api-key`), the environment (`TRIBUTARY_URL`, `TRIBUTARY_API_KEY`), the profile
 * (`--profile`, else `$TRIBUTARY_PROFILE`, else `default`), and for the URL the local
 * server's address. A profile asked for by name must exist; `default` may be absent.
 */
export function resolveConnection(flags: Flags, env: Env): Connection {
  const named = flags.string('profile') ?? nonEmpty(env.TRIBUTARY_PROFILE);
  const path = configPath(env);
  // A file named by $TRIBUTARY_CONFIG must exist: a typo in its path would otherwise send
  // the command, without its key, to the default URL.
  if (nonEmpty(env.TRIBUTARY_CONFIG) !== undefined && !existsSync(path)) {
    throw new UsageError(`There is no config file at ${path}, which $TRIBUTARY_CONFIG names.`);
  }
  const profile = readProfile(path, named ?? 'default', named !== undefined);
  return {
    url: flags.string('url') ?? nonEmpty(env.TRIBUTARY_URL) ?? profile.url ?? defaultUrl,
    apiKey: flags.string('api-key') ?? nonEmpty(env.TRIBUTARY_API_KEY) ?? profile.apiKey,
  };
}

function readProfile(path: string, name: string, required: boolean): Profile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error: unknown) {
    const missing = error instanceof Error && 'code' in error && error.code === 'ENOENT';
    if (missing && !required) return {};
    throw new UsageError(
      missing
        ? `Profile '${name}' not found: there is no config file at ${path}.`
        : `Cannot read the config file ${path}: ${String(error)}`,
    );
  }
  const profiles = profilesIn(text, path);
  const profile = profiles[name];
  if (profile === undefined) {
    if (!required) return {};
    const known = Object.keys(profiles);
    throw new UsageError(
      `Profile '${name}' not found in ${path}${known.length > 0 ? `; it has: ${known.join(', ')}` : ''}.`,
    );
  }
  return profile;
}

function profilesIn(text: string, path: string): Readonly<Record<string, Profile>> {
  const bad = (why: string) =>
    new UsageError(
      `The config file ${path} ${why}; expected {"profiles": {"default": {"url": "…", "apiKey": "…"}}}.`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('is not JSON');
  }
  if (!isRecord(parsed) || !isRecord(parsed.profiles)) throw bad('has no "profiles" object');
  const profiles: Record<string, Profile> = {};
  for (const [name, entry] of Object.entries(parsed.profiles)) {
    if (!isRecord(entry)) throw bad(`has a profile '${name}' that is not an object`);
    // A misspelt field ("apikey") would otherwise be dropped, and the key never sent.
    for (const field of Object.keys(entry)) {
      if (profileFields.includes(field)) continue;
      const meant = closest(field, profileFields);
      const hint = meant === undefined ? '' : ` (did you mean '${meant}'?)`;
      throw bad(`has an unknown field '${field}' in '${name}'${hint}`);
    }
    const { url, apiKey } = entry;
    if (url !== undefined && typeof url !== 'string')
      throw bad(`has a non-string url in '${name}'`);
    if (apiKey !== undefined && typeof apiKey !== 'string') {
      throw bad(`has a non-string apiKey in '${name}'`);
    }
    profiles[name] = {
      ...(url !== undefined && { url }),
      ...(apiKey !== undefined && { apiKey }),
    };
  }
  return profiles;
}

const nonEmpty = (value: string | undefined) =>
  value === undefined || value === '' ? undefined : value;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
