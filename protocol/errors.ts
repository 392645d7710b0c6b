// Every error the protocol can end a connection with: a stable code, the WebSocket close code that
// carries it across a leg (unique per code, also sent in CLOSE frames), and a sentence for the human reading the log. docs/PROTOCOL.md lists them.

export const ErrorCodes = {
  // Malformed input: the peer is broken or hostile; the socket is closed.
  TRUNCATED: { close: 4400, message: "frame shorter than its header says" },
  LENGTH_MISMATCH: { close: 4402, message: "frame length does not match its contents" },
  FRAME_TOO_LARGE: { close: 4413, message: "frame larger than the limit" },
  PACKET_TOO_LARGE: { close: 4414, message: "packet larger than the limit" },
  TOO_MANY_PACKETS: { close: 4415, message: "more packets in one frame than the limit" },
  BAD_FIELD: { close: 4404, message: "a field has a value the protocol does not allow" },
  BAD_BASE64: { close: 4405, message: "text frame is not valid base64" },
  UNEXPECTED_FRAME: { close: 4406, message: "frame not allowed in this state" },
  // Handshake outcomes.
  UNSUPPORTED_VERSION: { close: 4426, message: "no protocol version in common" },
  AUTH_FAILED: { close: 4401, message: "unknown client or wrong key" },
  HANDSHAKE_TIMEOUT: { close: 4408, message: "handshake not completed in time" },
  /** Reserved, never sent: an expired resume token gets a WELCOME for a new session instead. */
  RESUME_EXPIRED: { close: 4410, message: "session to resume has expired" },
  POOL_EXHAUSTED: { close: 4503, message: "no address left in the exit's pool" },
  // Access limits at the exit (exit/limits.ts).
  RATE_LIMITED: { close: 4429, message: "too many failed handshakes from this address; try again later" },
  EXIT_BUSY: { close: 4502, message: "the exit is at its limit of handshakes or sessions" },
  SESSION_LIMIT: { close: 4412, message: "this client key holds as many sessions as it may" },
  // Relay and pairing (the phone's legs).
  PAIRING_FAILED: { close: 4403, message: "wrong pairing secret or origin" },
  /** Reserved, never sent in v1: the newest relay replaces the old one (REPLACED). */
  RELAY_BUSY: { close: 4409, message: "another relay is already connected" },
  SHUTTING_DOWN: { close: 4001, message: "the other end is shutting down" },
  REPLACED: { close: 4002, message: "replaced by a newer connection" },
  PAUSED: { close: 4003, message: "the phone paused relaying" },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The one error type the codec throws: a stable code, never another exception. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly closeCode: number;

  constructor(code: ErrorCode, detail?: string) {
    const { close, message } = ErrorCodes[code];
    super(detail ? `${message}: ${detail}` : message);
    this.name = "ProtocolError";
    this.code = code;
    this.closeCode = close;
  }
}

/** The stable code for a close code received from a peer, when it is one of ours. */
export function codeForClose(closeCode: number): ErrorCode | undefined {
  for (const [code, { close }] of Object.entries(ErrorCodes)) {
    if (close === closeCode) return code as ErrorCode;
  }
  return undefined;
}
