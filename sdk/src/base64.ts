/**
 * Standard base64 (RFC 4648 §4, with padding), as the API's `format=base64` carries bytes.
 * Built on `btoa`/`atob`, which Node 16+, browsers, Deno and Bun all have, so the SDK needs
 * no `Buffer`.
 */

/** Bytes per `String.fromCharCode` call: well under every engine's argument limit. */
const chunk = 0x8000;

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
