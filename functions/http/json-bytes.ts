/**
 * JSON read as bytes, without building strings or objects: where a value ends, whether it is
 * valid, and whether its bytes are already what `JSON.stringify(JSON.parse(text))` would give
 * back (its *canonical* form), so that they can be stored, or answered, as they are.
 *
 * One pass, without recursion, like json-text.ts. The caller checks that the bytes are UTF-8
 * (`isUtf8` from node:buffer): bytes of 0x80 and above are taken as characters.
 */

import { maxJsonDepth } from './json-text.ts';

/** Returned by a scan in place of an end: not JSON (or nested deeper than allowed). */
export const notJson = -1;

/** The bytes of JSON's structure, for scanners of JSON text. */
export const quote = 0x22;
const backslash = 0x5c;
export const comma = 0x2c;
export const colon = 0x3a;
export const openArray = 0x5b;
export const closeArray = 0x5d;
export const openObject = 0x7b;
export const closeObject = 0x7d;
const minus = 0x2d;
const plus = 0x2b;
const dot = 0x2e;
const zero = 0x30;
const nine = 0x39;

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number | undefined) => c !== undefined && c >= zero && c <= nine;

/** 0-15 for a hex digit, -1 otherwise. */
function hexDigit(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= zero && c <= nine) return c - zero;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Escapes JSON.stringify writes, after the backslash: `"`, `\`, b, f, n, r, t. Others (`\/`,
 * `\u0041`) are valid JSON that it would write otherwise.
 */
const shortEscapes = new Set([quote, backslash, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const shortEscapeFor = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);

/**
 * Not zero exactly when one of the four bytes of `word` is a quote, a backslash or below 0x20.
 * `(w - 0x20202020) & ~w & 0x80808080` is not zero exactly when one of its bytes is below
 * 0x20: a byte at or over 0x20 borrows nothing, and one at or over 0xa0 has its top bit
 * cleared by `~w`. A quote or backslash is a zero byte of `w ^ 0x22222222` or
 * `w ^ 0x5c5c5c5c`, found the same way below 0x01.
 */
function specialIn(word: number): number {
  const quotes = word ^ 0x22222222;
  const backslashes = word ^ 0x5c5c5c5c;
  return (
    (((word - 0x20202020) & ~word) |
      ((quotes - 0x01010101) & ~quotes) |
      ((backslashes - 0x01010101) & ~backslashes)) &
    0x80808080
  );
}

/**
 * A scanner over `bytes`. Each scan returns where what it read ends (or {@link notJson}) and
 * leaves what it learnt in the fields below, which a scan of a value resets.
 */
export class JsonBytes {
  bytes: Uint8Array;
  /** The last value scanned is in its canonical form. */
  canonical = true;
  /** The last value scanned holds an escaped UTF-16 surrogate without its pair (`\ud800`). */
  loneSurrogate = false;
  /** The last value scanned holds a number beyond a double's range (`1e400`). */
  outOfRange = false;
  /** The last string scanned holds an escape. */
  escaped = false;
  /** Per open container: 0 array, 1 object; reused between scans. */
  readonly #open: number[] = [];
  /** Member names (as sent) of each open object, to find repeated or reordered ones. */
  readonly #names: (string[] | Set<string> | undefined)[] = [];
  /** The bytes as 32-bit words, for {@link JsonBytes.string}; made for `#wordsOf`. */
  #words: Int32Array<ArrayBufferLike> = new Int32Array(0);
  #wordLead = 0;
  #wordsOf: Uint8Array | undefined;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Past any JSON whitespace from `pos`. */
  space(pos: number): number {
    const b = this.bytes;
    let i = pos;
    while (isSpace(b[i])) i++;
    return i;
  }

  /**
   * The string opening at `pos` (its quote): returns the index past its closing quote. Sets
   * `escaped`, and clears `canonical` or sets `loneSurrogate` for what its escapes hold.
   */
  string(pos: number): number {
    const b = this.bytes;
    const end = b.length;
    this.escaped = false;
    let i = pos + 1;
    for (;;) {
      i = this.#plain(i);
      if (i === end) return notJson;
      const c = b[i] as number;
      if (c === quote) return i + 1;
      if (c !== backslash) return notJson; // a control character
      this.escaped = true;
      const next = b[i + 1];
      if (next === undefined) return notJson;
      if (next !== 0x75) {
        if (!shortEscapes.has(next)) {
          if (next !== 0x2f) return notJson;
          this.canonical = false; // `\/`
        }
        i += 2;
        continue;
      }
      const unit = this.#hex4(i + 2);
      if (unit < 0) return notJson;
      if (unit >= 0xd800 && unit <= 0xdbff) {
        const low = b[i + 6] === backslash && b[i + 7] === 0x75 ? this.#hex4(i + 8) : -1;
        if (low >= 0xdc00 && low <= 0xdfff) {
          i += 6; // a pair, which JSON.stringify writes as the character itself
        } else {
          this.loneSurrogate = true;
        }
        this.canonical = false;
      } else if (unit >= 0xdc00 && unit <= 0xdfff) {
        this.loneSurrogate = true;
        this.canonical = false;
      } else if (unit >= 0x20 || shortEscapeFor.has(unit) || !this.#lowerHex(i + 2)) {
        // JSON.stringify writes only control characters as \u00xx, in lower case.
        this.canonical = false;
      }
      i += 6;
    }
  }

  /**
   * The first index from `pos` of a quote, a backslash or a control character (below 0x20),
   * or the length of the bytes if there is none: where a string's plain run ends.
   *
   * Most of a body is string bytes, so they are tested four at a time ({@link specialIn}), as
   * the 32-bit words of the bytes' buffer that lie wholly inside them; from a word that holds
   * one of them, or the few bytes past the last word, they are read again byte by byte.
   */
  #plain(pos: number): number {
    const b = this.bytes;
    const end = b.length;
    let i = pos;
    if (end - i >= 16) {
      if (this.#wordsOf !== b) this.#viewWords(b);
      const words = this.#words;
      // Byte by byte up to the first word boundary of the buffer.
      const lead = this.#wordLead;
      while ((i - lead) & 3) {
        const c = b[i] as number;
        if (c < 0x20 || c === quote || c === backslash) return i;
        i++;
      }
      // Two words a turn: the loop's own cost is then paid once per eight bytes.
      let w = (i - lead) >> 2;
      // The last word wholly inside the bytes (and the view: a resizable buffer may have grown).
      const lastPair = Math.min((end - lead) >> 2, words.length) - 1;
      for (; w < lastPair; w += 2) {
        const one = words[w] as number;
        const two = words[w + 1] as number;
        if ((specialIn(one) | specialIn(two)) !== 0) break;
      }
      i = lead + (w << 2);
    }
    for (; i < end; i++) {
      const c = b[i] as number;
      if (c < 0x20 || c === quote || c === backslash) return i;
    }
    return end;
  }

  /** The 32-bit words of the buffer under `b`, and where the first one starts in `b`. */
  #viewWords(b: Uint8Array): void {
    const lead = (4 - (b.byteOffset & 3)) & 3;
    const count = Math.max(0, (b.length - lead) >> 2);
    this.#words = new Int32Array(b.buffer, b.byteOffset + lead, count);
    this.#wordLead = lead;
    this.#wordsOf = b;
  }

  #hex4(at: number): number {
    const b = this.bytes;
    let unit = 0;
    for (let k = 0; k < 4; k++) {
      const digit = hexDigit(b[at + k]);
      if (digit < 0) return -1;
      unit = unit * 16 + digit;
    }
    return unit;
  }

  #lowerHex(at: number): boolean {
    const b = this.bytes;
    for (let k = 0; k < 4; k++) {
      const c = b[at + k] as number;
      if (c >= 0x41 && c <= 0x46) return false;
    }
    return true;
  }

  /** The number at `pos`: returns its end; clears `canonical` unless JSON.stringify writes it so. */
  number(pos: number): number {
    const b = this.bytes;
    let i = pos;
    if (b[i] === minus) i++;
    if (b[i] === zero) i++;
    else if (isDigit(b[i])) while (isDigit(b[i])) i++;
    else return notJson;
    const digitsEnd = i;
    let integer = true;
    if (b[i] === dot) {
      integer = false;
      i++;
      if (!isDigit(b[i])) return notJson;
      while (isDigit(b[i])) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      integer = false;
      i++;
      if (b[i] === plus || b[i] === minus) i++;
      if (!isDigit(b[i])) return notJson;
      while (isDigit(b[i])) i++;
    }
    // Up to 15 digits, an integer is exact and written back as sent (but for -0).
    const simple = integer && digitsEnd - pos <= 15 && !(b[pos] === minus && b[pos + 1] === zero);
    if (!simple) {
      const n = this.numberAt(pos, i);
      if (String(n) !== this.#latin1(pos, i)) this.canonical = false;
      if (Math.abs(n) === Infinity) this.outOfRange = true;
    }
    return i;
  }

  /** The number whose text is [pos, end), as JSON.parse reads it. */
  numberAt(pos: number, end: number): number {
    return Number(this.#latin1(pos, end));
  }

  #latin1(pos: number, end: number): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + pos, end - pos).toString(
      'latin1',
    );
  }

  #literal(pos: number, word: string): number {
    const b = this.bytes;
    for (let k = 0; k < word.length; k++) if (b[pos + k] !== word.charCodeAt(k)) return notJson;
    return pos + word.length;
  }

  /**
   * The value starting at `pos` (no whitespace before it), inside `depth` open arrays and
   * objects: returns its end, or {@link notJson} when it is not JSON or opens an array or
   * object deeper than {@link maxJsonDepth}. Sets `canonical`, `loneSurrogate` and `outOfRange`
   * for it.
   */
  value(pos: number, depth: number): number {
    const b = this.bytes;
    const open = this.#open;
    const names = this.#names;
    open.length = 0;
    names.length = 0;
    this.canonical = true;
    this.loneSurrogate = false;
    this.outOfRange = false;
    let i = pos;
    for (;;) {
      // A value at i.
      const c = b[i];
      if (c === quote) {
        i = this.string(i);
      } else if (c === openArray || c === openObject) {
        if (depth + open.length >= maxJsonDepth) return notJson;
        const isObject = c === openObject;
        open.push(isObject ? 1 : 0);
        names.push(undefined);
        i = this.#inside(i + 1);
        if (b[i] === (isObject ? closeObject : closeArray)) {
          open.pop();
          names.pop();
          i++;
        } else {
          if (isObject) i = this.#member(i);
          if (i === notJson) return notJson;
          continue;
        }
      } else if (c === minus || isDigit(c)) {
        i = this.number(i);
      } else if (c === 0x74) {
        i = this.#literal(i, 'true');
      } else if (c === 0x66) {
        i = this.#literal(i, 'false');
      } else if (c === 0x6e) {
        i = this.#literal(i, 'null');
      } else {
        return notJson;
      }
      if (i === notJson) return notJson;
      // After a value: the end, a comma, or closing brackets.
      for (;;) {
        if (open.length === 0) return i;
        i = this.#inside(i);
        const isObject = open[open.length - 1] === 1;
        const next = b[i];
        if (next === comma) {
          i = this.#inside(i + 1);
          if (isObject) i = this.#member(i);
          if (i === notJson) return notJson;
          break;
        }
        if (next !== (isObject ? closeObject : closeArray)) return notJson;
        open.pop();
        names.pop();
        i++;
      }
    }
  }

  /** Past whitespace inside a value, which its canonical form has none of. */
  #inside(pos: number): number {
    const i = this.space(pos);
    if (i !== pos) this.canonical = false;
    return i;
  }

  /** A member name, its colon and the whitespace up to its value. */
  #member(pos: number): number {
    if (this.bytes[pos] !== quote) return notJson;
    const end = this.string(pos);
    if (end === notJson) return notJson;
    if (this.canonical) this.#noteName(pos, end);
    let i = this.#inside(end);
    if (this.bytes[i] !== colon) return notJson;
    i = this.#inside(i + 1);
    return i;
  }

  /**
   * A name repeated in one object (JSON.parse keeps the last) or one that looks like an array
   * index (which objects list first) does not come back from JSON.stringify as sent.
   */
  #noteName(pos: number, end: number): void {
    const b = this.bytes;
    let digits = end - pos > 2;
    for (let k = pos + 1; digits && k < end - 1; k++) digits = isDigit(b[k]);
    if (digits) {
      this.canonical = false;
      return;
    }
    const name = this.#latin1(pos, end);
    const at = this.#names.length - 1;
    const seen = this.#names[at];
    if (seen === undefined) {
      this.#names[at] = [name];
    } else if (seen instanceof Set ? seen.has(name) : seen.includes(name)) {
      this.canonical = false;
    } else if (seen instanceof Set) {
      seen.add(name);
    } else {
      seen.push(name);
      // Past a few names, a set: an object of many members is checked in linear time.
      if (seen.length > 16) this.#names[at] = new Set(seen);
    }
  }
}

const empty = new Uint8Array();
const scanner = new JsonBytes(empty);

/**
 * Whether `bytes` (UTF-8) are one JSON value, nested at most {@link maxJsonDepth} deep, written
 * exactly as `JSON.stringify(JSON.parse(text))` writes it: no whitespace, no escape it would
 * not write, numbers as it writes them, no repeated member name, no name that an object lists
 * first (an array index).
 */
export function isCanonicalJson(bytes: Uint8Array): boolean {
  scanner.bytes = bytes;
  const end = scanner.value(0, 0);
  scanner.bytes = empty;
  return end === bytes.length && scanner.canonical;
}
