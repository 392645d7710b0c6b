// A client key as the laptop is given it: "NAME:SECRET", where NAME is the client id the exit
// knows it by and SECRET is base64url of 32 random bytes. One string to paste, one place to parse.
import { MAX_CLIENT_ID_BYTES } from "./limits.js";

export interface ClientKey {
  clientId: string;
  secret: Uint8Array;
}

/** Bytes of a client key's secret: 256 bits, as HMAC-SHA256 wants. */
export const CLIENT_SECRET_BYTES = 32;

const CLIENT_ID_PATTERN = new RegExp(`^[A-Za-z0-9._-]{1,${MAX_CLIENT_ID_BYTES}}$`);
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/;

export function isValidClientId(clientId: string): boolean {
  return CLIENT_ID_PATTERN.test(clientId);
}

export function formatClientKey(clientId: string, secret: string): string {
  return `${clientId}:${secret}`;
}

export type ClientKeyErrorCode =
  /** Not NAME:SECRET with a valid client id and base64url secret. */
  | "CLIENT_KEY_FORMAT"
  /** A secret of the wrong length. */
  | "CLIENT_KEY_LENGTH";

/** A client key that is not of the form the exit prints; the message says what is wrong. */
export class ClientKeyError extends Error {
  override name = "ClientKeyError";
  constructor(
    readonly code: ClientKeyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Parses "NAME:SECRET"; a malformed key is a ClientKeyError saying what is wrong. */
export function parseClientKey(text: string): ClientKey {
  const colon = text.indexOf(":");
  const clientId = colon < 0 ? "" : text.slice(0, colon);
  const secretText = colon < 0 ? "" : text.slice(colon + 1);
  if (!isValidClientId(clientId) || !BASE64URL_PATTERN.test(secretText)) {
    throw new ClientKeyError(
      "CLIENT_KEY_FORMAT",
      "a client key looks like NAME:SECRET, as `tether-exit keys add NAME` prints it",
    );
  }
  const secret = base64UrlToBytes(secretText);
  if (secret.length !== CLIENT_SECRET_BYTES) {
    throw new ClientKeyError("CLIENT_KEY_LENGTH", `a client key's secret is ${CLIENT_SECRET_BYTES} bytes`);
  }
  return { clientId, secret };
}

function base64UrlToBytes(text: string): Uint8Array {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (const char of text) {
    value = (value << 6) | alphabet.indexOf(char);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (value >> bits) & 0xff;
    }
  }
  return out.subarray(0, index);
}
