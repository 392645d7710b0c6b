// How frames ride one WebSocket leg: binary messages by default; base64 text messages where a
// middlebox or browser will not pass binary ones. Chosen per leg with the `encoding` URL parameter.
import { fromText, toText } from "./text.js";

export type Encoding = "binary" | "base64";

export const ENCODING_PARAM = "encoding";

export function parseEncoding(value: string | null | undefined): Encoding | undefined {
  if (value === undefined || value === null || value === "" || value === "binary") return "binary";
  if (value === "base64") return "base64";
  return undefined;
}

/** A frame as the leg carries it: the bytes themselves, or their base64 text. */
export function toMessage(frame: Uint8Array, encoding: Encoding): Uint8Array | string {
  return encoding === "base64" ? toText(frame) : frame;
}

/** A received WebSocket message as frame bytes (text messages are base64; throws BAD_BASE64). */
export function fromMessage(message: Uint8Array | ArrayBuffer | string): Uint8Array {
  if (typeof message === "string") return fromText(message);
  return message instanceof Uint8Array ? message : new Uint8Array(message);
}
