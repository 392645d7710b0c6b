// The v2 handshake on the wire: the HELLO and RESPONSE frames that carry the two Noise messages
// (noise.ts), the prologue that binds them to the CHALLENGE, the payload of message 1, and the
// resume proof. One end's whole handshake is one object: InitiatorHandshake for the laptop,
// ResponderHandshake for the exit.
//
//   exit -> laptop  CHALLENGE (1, clear, v1 layout)  versionMin | versionMax | nonce[32]
//   laptop -> exit  HELLO (2)      versionMin u8 | versionMax u8 | clientIdLen u8 | clientId
//                                  | Noise message 1: e[32] | sealed payload[69] | tag[16]
//   exit -> laptop  RESPONSE (8)   Noise message 2: e[32] | sealed version u8 | tag[16]
//
// HELLO's first two payload bytes are the versions, as in v1, so each side can tell a peer of
// the other version and say which to update before reading anything else. The client id is
// clear because the exit must pick the PSK before it can open message 1; the phone sees it.
//
// prologue = ASCII "tether-v2" | the CHALLENGE frame as received | the HELLO frame up to its Noise
// message. Every clear byte of the handshake is therefore authenticated by both messages' tags,
// and the CHALLENGE's fresh nonce makes a recorded HELLO worthless on any other connection.
//
// Message 1's payload, fixed size so its length does not tell a resume from a new session:
//   capabilities u32 | resume u8 (0 or 1) | resumeToken[32] | resumeProof[32]  (zeros unless resume)
// resumeProof = HMAC-SHA256(resume secret of the handshake that created the session,
//                           ASCII "tether-v2-resume" | handshake hash just before this payload)
// The token names the session; the proof shows the sender took part in the handshake that made
// it (the resume secret comes from its DH, noise.ts), and is bound to this handshake's hash (so to
// this connection's nonce). A token seen anywhere is worthless without the secret.
//
// Decoders throw ProtocolError for malformed frames (the connection ends); a message that does
// not authenticate is an answer with a HandshakeFailure, for the caller to count and refuse.
import { timingSafeEqual } from "node:crypto";
import { ProtocolError } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import { HEADER_BYTES, MAC_BYTES, MAX_CLIENT_ID_BYTES, RESUME_TOKEN_BYTES } from "../protocol/limits.js";
import { DH_BYTES, type HandshakeFailure, NoiseHandshake, type TransportKeys } from "./noise.js";
import { hmac, TAG_BYTES } from "./noise-cipher.js";

/** The protocol version that speaks this handshake. */
export const PROTOCOL_V2 = 2;
/** Frame type of the exit's Noise message 2 (new in v2). */
export const RESPONSE_TYPE = 8;
/** Message 1's payload, bytes: capabilities, resume flag, token, proof. */
export const HELLO_PAYLOAD_BYTES = 4 + 1 + RESUME_TOKEN_BYTES + MAC_BYTES;
/** Noise message 1, bytes: ephemeral key, sealed payload, tag. */
export const HELLO_NOISE_BYTES = DH_BYTES + HELLO_PAYLOAD_BYTES + TAG_BYTES;
/** Noise message 2, bytes: ephemeral key, sealed version byte, tag. */
export const RESPONSE_NOISE_BYTES = DH_BYTES + 1 + TAG_BYTES;

const PROLOGUE_LABEL = Buffer.from("tether-v2", "ascii");
const RESUME_LABEL = Buffer.from("tether-v2-resume", "ascii");
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** What a laptop keeps to resume its session: WELCOME's token and its session's resume secret. */
export interface ResumeTicket {
  token: Uint8Array;
  secret: Uint8Array;
}

/** A HELLO as the exit reads it before it knows the client's key. */
export interface DecodedHello {
  versionMin: number;
  versionMax: number;
  clientId: string;
  /** The frame up to the Noise message: the prologue's second part. */
  clear: Uint8Array;
  noise: Uint8Array;
}

/** The resume request inside message 1, checked by the exit once it has found the session. */
export interface ResumeRequest {
  token: Uint8Array;
  proof: Uint8Array;
  boundHash: Uint8Array;
}

export type InitiatorResult =
  | { ok: true; version: number; keys: TransportKeys }
  | { ok: false; reason: HandshakeFailure };

export type ResponderResult =
  | { ok: true; capabilities: number; resume: ResumeRequest | undefined }
  | { ok: false; reason: HandshakeFailure };

/** The prologue both ends mix in before message 1. */
export function handshakePrologue(challenge: Uint8Array, helloClear: Uint8Array): Buffer {
  return Buffer.concat([PROLOGUE_LABEL, challenge, helloClear]);
}

/** HMAC-SHA256(secret, "tether-v2-resume" | boundHash). */
export function resumeProof(secret: Uint8Array, boundHash: Uint8Array): Buffer {
  return hmac(secret, RESUME_LABEL, boundHash);
}

/** True when `request` was made with `secret` over this handshake (constant time). */
export function verifyResumeProof(secret: Uint8Array, request: ResumeRequest): boolean {
  return timingSafeEqual(resumeProof(secret, request.boundHash), request.proof);
}

/** Checks a handshake frame's header: at least `min` payload bytes, its length, type, flags 0, count 0. */
function checkHeader(message: Uint8Array, type: number, minPayload: number, name: string): void {
  if (message.length < HEADER_BYTES + minPayload) {
    throw new ProtocolError("TRUNCATED", `${name} of ${message.length} bytes`);
  }
  const length = Buffer.from(message.buffer, message.byteOffset, message.length).readUInt32BE(4);
  if (length !== message.length - HEADER_BYTES) {
    throw new ProtocolError(
      "LENGTH_MISMATCH",
      `${name} says ${length} payload bytes, has ${message.length - 8}`,
    );
  }
  if (message[0] !== type)
    throw new ProtocolError("UNEXPECTED_FRAME", `type ${message[0]}, expected ${name}`);
  // RESPONSE's header is under no tag: every byte of it is checked instead, so none can change.
  if (message[1] !== 0) throw new ProtocolError("BAD_FIELD", `flags on a ${name}`);
  if (message[2] !== 0 || message[3] !== 0) throw new ProtocolError("BAD_FIELD", `count on a ${name}`);
}

/**
 * The versions a HELLO announces, read before anything else: a v1 HELLO has them in the same
 * place, so a v1 laptop is told to update rather than refused as malformed.
 */
export function helloVersions(message: Uint8Array): { versionMin: number; versionMax: number } {
  checkHeader(message, FrameType.HELLO, 2, "HELLO");
  const versionMin = message[HEADER_BYTES]!;
  const versionMax = message[HEADER_BYTES + 1]!;
  if (versionMin > versionMax)
    throw new ProtocolError("BAD_FIELD", `versionMin ${versionMin} > versionMax ${versionMax}`);
  return { versionMin, versionMax };
}

/** A v2 HELLO, split into its clear fields and its Noise message. */
export function decodeHello(message: Uint8Array): DecodedHello {
  const { versionMin, versionMax } = helloVersions(message);
  if (message.length < HEADER_BYTES + 3)
    throw new ProtocolError("TRUNCATED", "HELLO ends before clientIdLen");
  const idLength = message[HEADER_BYTES + 2]!;
  if (idLength < 1 || idLength > MAX_CLIENT_ID_BYTES) {
    throw new ProtocolError("BAD_FIELD", `clientIdLen ${idLength}, allowed 1..${MAX_CLIENT_ID_BYTES}`);
  }
  const clearEnd = HEADER_BYTES + 3 + idLength;
  if (message.length < clearEnd + HELLO_NOISE_BYTES)
    throw new ProtocolError("TRUNCATED", "HELLO's Noise message");
  if (message.length > clearEnd + HELLO_NOISE_BYTES) {
    throw new ProtocolError(
      "LENGTH_MISMATCH",
      `${message.length - clearEnd - HELLO_NOISE_BYTES} bytes after HELLO`,
    );
  }
  let clientId: string;
  try {
    clientId = utf8.decode(message.subarray(HEADER_BYTES + 3, clearEnd));
  } catch {
    throw new ProtocolError("BAD_FIELD", "clientId is not valid UTF-8");
  }
  return {
    versionMin,
    versionMax,
    clientId,
    clear: new Uint8Array(message.subarray(0, clearEnd)),
    noise: new Uint8Array(message.subarray(clearEnd)),
  };
}

/** The Noise message inside a RESPONSE frame. */
export function decodeResponse(message: Uint8Array): Uint8Array {
  checkHeader(message, RESPONSE_TYPE, RESPONSE_NOISE_BYTES, "RESPONSE");
  if (message.length !== HEADER_BYTES + RESPONSE_NOISE_BYTES) {
    throw new ProtocolError("LENGTH_MISMATCH", `RESPONSE payload of ${message.length - 8} bytes`);
  }
  return message.subarray(HEADER_BYTES);
}

function header(type: number, payloadBytes: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out[0] = type;
  out.writeUInt32BE(payloadBytes, 4);
  return out;
}

export interface InitiatorOptions {
  versionMin: number;
  versionMax: number;
  capabilities?: number;
  resume?: ResumeTicket | undefined;
  /** Golden tests only: a fixed ephemeral private key. */
  ephemeralPrivateKey?: Uint8Array;
}

/** The laptop's side: builds HELLO for a CHALLENGE, then reads the RESPONSE. */
export class InitiatorHandshake {
  /** The HELLO frame to send. */
  readonly hello: Buffer;
  private readonly noise: NoiseHandshake;

  /**
   * `challenge` is the CHALLENGE frame exactly as received; `clientId` and `secret` the client key.
   * Throws ProtocolError BAD_FIELD for a client id the wire cannot carry.
   */
  constructor(challenge: Uint8Array, clientId: string, secret: Uint8Array, options: InitiatorOptions) {
    const id = Buffer.from(clientId, "utf8");
    if (id.length < 1 || id.length > MAX_CLIENT_ID_BYTES || id.toString("utf8") !== clientId) {
      throw new ProtocolError(
        "BAD_FIELD",
        `clientId of ${id.length} bytes, allowed 1..${MAX_CLIENT_ID_BYTES}`,
      );
    }
    const clear = Buffer.concat([
      header(FrameType.HELLO, 3 + id.length + HELLO_NOISE_BYTES),
      Uint8Array.of(options.versionMin, options.versionMax, id.length),
      id,
    ]);
    this.noise = new NoiseHandshake(
      "initiator",
      secret,
      handshakePrologue(challenge, clear),
      options.ephemeralPrivateKey,
    );
    const { resume } = options;
    const message = this.noise.writeMessage((boundHash) => {
      const payload = Buffer.alloc(HELLO_PAYLOAD_BYTES);
      payload.writeUInt32BE(options.capabilities ?? 0, 0);
      if (resume) {
        payload[4] = 1;
        payload.set(resume.token, 5);
        payload.set(resumeProof(resume.secret, boundHash), 5 + RESUME_TOKEN_BYTES);
      }
      return payload;
    });
    this.hello = Buffer.concat([clear, message]);
  }

  /** Reads the exit's RESPONSE frame: the chosen version and the transport keys, or a failure. */
  readResponse(message: Uint8Array): InitiatorResult {
    const read = this.noise.readMessage(decodeResponse(message));
    if (!read.ok) return read;
    return { ok: true, version: read.payload[0]!, keys: this.noise.keys() };
  }
}

/** The exit's side, for a decoded HELLO and the PSK of its client id. */
export class ResponderHandshake {
  private readonly noise: NoiseHandshake;
  private read: ResponderResult | undefined;

  constructor(
    challenge: Uint8Array,
    private readonly hello: DecodedHello,
    psk: Uint8Array,
    ephemeralPrivateKey?: Uint8Array,
  ) {
    this.noise = new NoiseHandshake(
      "responder",
      psk,
      handshakePrologue(challenge, hello.clear),
      ephemeralPrivateKey,
    );
  }

  /**
   * Opens message 1: the laptop's capabilities and resume request, or why it is refused. For an
   * unknown client id the exit still runs this with a stand-in PSK, so a refusal takes as long.
   */
  open(): ResponderResult {
    if (this.read) return this.read;
    const read = this.noise.readMessage(this.hello.noise);
    if (!read.ok) {
      this.read = read;
      return read;
    }
    const { payload } = read;
    if (payload[4]! > 1) throw new ProtocolError("BAD_FIELD", `resume flag ${payload[4]}`);
    const resume =
      payload[4] === 1
        ? {
            token: new Uint8Array(payload.subarray(5, 5 + RESUME_TOKEN_BYTES)),
            proof: new Uint8Array(payload.subarray(5 + RESUME_TOKEN_BYTES)),
            boundHash: read.boundHash,
          }
        : undefined;
    this.read = { ok: true, capabilities: payload.readUInt32BE(0), resume };
    return this.read;
  }

  /** The RESPONSE frame naming `version`, and the transport keys. Only after open() succeeded. */
  respond(version: number): { response: Buffer; keys: TransportKeys } {
    if (!this.read?.ok) throw new Error("respond before a successful open");
    const message = this.noise.writeMessage(Uint8Array.of(version));
    return {
      response: Buffer.concat([header(RESPONSE_TYPE, message.length), message]),
      keys: this.noise.keys(),
    };
  }
}
