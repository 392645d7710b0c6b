// Strings from the other ends (close reasons from the exit and the relay, details in a CLOSE
// frame) are written to the user's terminal. Raw, they could carry escape sequences (move the
// cursor, rewrite earlier lines, set the window title, or worse on old terminals) or bidi controls
// that make text read otherwise than it is. So a peer string is printed as text only: control
// characters (C0, DEL, C1), bidi embeddings/overrides/isolates, and line and paragraph separators
// become `\u{..}` escapes, and it is cut to a bounded length.

/** Longest peer string printed, characters: a close reason is at most 123 bytes anyway. */
export const MAX_PEER_STRING_CHARS = 200;

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` made safe to print: no control or bidi characters (escaped), at most MAX_PEER_STRING_CHARS. */
export function printable(text: string, max = MAX_PEER_STRING_CHARS): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(UNSAFE, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`);
}
