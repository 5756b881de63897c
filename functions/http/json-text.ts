/**
 * Checks on JSON text made before it is parsed, in one pass without recursion, so that no
 * shape of input can exhaust the stack here or in the recursive code the parsed value
 * later meets (JSON.stringify, the DynamoDB marshaller, a consumer's parser).
 */

/**
 * How deep arrays and objects may nest in a JSON body or NDJSON line, the outermost
 * counting as 1. Ruby's JSON parser stops at 100 by default and serde_json at 128, so a
 * deeper record value could not be read by every consumer anyway; real documents stay
 * within a few dozen levels. A deeper value can still travel as a string (format=text).
 */
export const maxJsonDepth = 100;

/** Where in a JSON document: object member names and array indexes from the top. */
export type JsonPath = readonly (string | number)[];

export interface JsonTextProblem {
  readonly kind: 'too-deep' | 'lone-surrogate' | 'number-out-of-range';
  /**
   * Where: the container that opens too deep, the string holding the surrogate, or the
   * number too large for a double.
   */
  readonly path: JsonPath;
}

interface Open {
  readonly array: boolean;
  index: number;
  /** The current member name's JSON text (still quoted and escaped). */
  name: string | undefined;
}

const quote = 0x22;
const backslash = 0x5c;
const u = 0x75;

/**
 * The first problem in a JSON text: nesting deeper than `maxDepth`, or (when `surrogates`
 * is true) a string holding an unpaired UTF-16 surrogate, such as the escape `\ud800`,
 * which UTF-8 and DynamoDB cannot carry (I-JSON, RFC 7493, forbids it too), or a number
 * beyond a double's range, such as `1e400`, which JSON.parse reads as Infinity and
 * JSON.stringify writes as null (I-JSON's interoperable numbers are doubles). Undefined
 * when there is none. Text that is not JSON is left to the parser:
 * this only promises to find the problems of text that is.
 */
export function jsonTextProblem(
  text: string,
  { maxDepth = maxJsonDepth, surrogates = true } = {},
): JsonTextProblem | undefined {
  const open: Open[] = [];
  const pathHere = (): (string | number)[] =>
    open.map((o) => (o.array ? o.index : memberName(o.name ?? '""')));
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === quote) {
      const { end, lone } = scanString(text, i);
      const top = open.at(-1);
      if (top && !top.array && top.name === undefined) top.name = text.slice(i, end + 1);
      if (lone && surrogates) return { kind: 'lone-surrogate', path: pathHere() };
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (open.length >= maxDepth) return { kind: 'too-deep', path: pathHere() };
      open.push({ array: c === 0x5b, index: 0, name: undefined });
    } else if (c === 0x5d || c === 0x7d) {
      open.pop();
    } else if (c === 0x2c) {
      const top = open.at(-1);
      if (top?.array) top.index++;
      else if (top) top.name = undefined;
    } else if (c === minus || (c >= zero && c <= nine)) {
      let end = i + 1;
      while (end < text.length && isNumberPart(text.charCodeAt(end))) end++;
      // Past a double's range takes at least five characters (1e309).
      if (end - i >= 5 && Math.abs(Number(text.slice(i, end))) === Infinity) {
        return { kind: 'number-out-of-range', path: pathHere() };
      }
      i = end - 1;
    }
  }
  return undefined;
}

const minus = 0x2d;
const zero = 0x30;
const nine = 0x39;
/** Digits, `.`, `e`, `E`, `+` and `-`: what a JSON number is written with. */
const isNumberPart = (c: number) =>
  (c >= zero && c <= nine) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === minus;

/** Where the string opened at `start` ends (its closing quote), and whether it holds an unpaired surrogate. */
function scanString(text: string, start: number): { end: number; lone: boolean } {
  let lone = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === quote) return { end: i, lone };
    if (c === backslash) {
      if (text.charCodeAt(i + 1) !== u) {
        i++;
        continue;
      }
      const unit = hexUnit(text, i + 2);
      const paired =
        isHighSurrogate(unit) &&
        text.charCodeAt(i + 6) === backslash &&
        text.charCodeAt(i + 7) === u &&
        isLowSurrogate(hexUnit(text, i + 8));
      if (!paired && (isHighSurrogate(unit) || isLowSurrogate(unit))) lone = true;
      i += paired ? 11 : 5;
    } else if (isHighSurrogate(c) && isLowSurrogate(text.charCodeAt(i + 1))) {
      i++;
    } else if (isHighSurrogate(c) || isLowSurrogate(c)) {
      lone = true;
    }
  }
  return { end: text.length, lone };
}

/**
 * `records[3].value[0]`: a path as a reader would write it, after `prefix` (`line 2`), cut
 * short after `limit` characters.
 */
export function renderPath(path: JsonPath, { prefix = '', limit = 200 } = {}): string {
  let text = prefix;
  for (const part of path) {
    const next =
      typeof part === 'number'
        ? `[${part}]`
        : /^[A-Za-z_$][\w$]*$/.test(part)
          ? `${text ? '.' : ''}${part}`
          : `[${JSON.stringify(part)}]`;
    if (text.length + next.length > limit) return `${text}…`;
    text += next;
  }
  return text;
}

function memberName(quoted: string): string {
  try {
    return String(JSON.parse(quoted));
  } catch {
    return quoted;
  }
}

/** The UTF-16 unit of four hex digits at `at`, or -1. */
function hexUnit(text: string, at: number): number {
  const digits = text.slice(at, at + 4);
  return /^[0-9a-fA-F]{4}$/.test(digits) ? Number.parseInt(digits, 16) : -1;
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;
