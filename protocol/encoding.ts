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

/** Characters of base64 that hold the first 6 bytes of a frame: its type, flags and count. */
const TEXT_HEADER_CHARS = 8;

/**
 * The type and packet count of a frame as it rides the leg, without decoding it: what the phone
 * needs for its stats and its own pings. Undefined for a message too short to be a frame.
 */
export function peekHeader(
  message: ArrayBuffer | Uint8Array | string,
): { type: number; count: number } | undefined {
  let head: Uint8Array;
  if (typeof message === "string") {
    if (message.length < TEXT_HEADER_CHARS) return undefined;
    try {
      head = fromText(message.slice(0, TEXT_HEADER_CHARS));
    } catch {
      return undefined;
    }
  } else {
    head =
      message instanceof Uint8Array ? message : new Uint8Array(message, 0, Math.min(message.byteLength, 4));
  }
  if (head.length < 4) return undefined;
  return { type: head[0]!, count: (head[2]! << 8) | head[3]! };
}
