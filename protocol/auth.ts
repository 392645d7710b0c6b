// The HELLO's proof of key: HMAC-SHA256(secret, authMessage(nonce, clientId)), with WebCrypto so it
// runs the same in Node and in a browser. The nonce is fresh per connection, so a HELLO recorded by
// the relay cannot be replayed on another one.
import { authMessage } from "./codec.js";

export async function helloMac(secret: Uint8Array, nonce: Uint8Array, clientId: string): Promise<Uint8Array> {
  // Copies give WebCrypto the ArrayBuffer-backed views it asks for.
  const key = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new Uint8Array(authMessage(nonce, clientId)));
  return new Uint8Array(mac);
}

/** Constant-time comparison of two byte strings. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

export async function verifyHelloMac(
  secret: Uint8Array,
  nonce: Uint8Array,
  clientId: string,
  mac: Uint8Array,
): Promise<boolean> {
  return equalBytes(await helloMac(secret, nonce, clientId), mac);
}
