// The handshake's steps, one function each, apart from the state machines that run them
// (laptop/tunnel.ts, exit/connection.ts): what the exit opens with, what the laptop answers to it,
// and what the exit makes of the answer. Protocol v1: a nonce, and a mac over it with the client
// key. Protocol v2 replaces these steps (a Noise handshake) and nothing around them.
//
//   exit:   challengeFrame(nonce)                         ──CHALLENGE──>
//   laptop: helloFor(challenge, key, resumeToken)         <──HELLO──
//   exit:   helloVersion(hello), checkHello(hello, nonce, secretFor) ──WELCOME | CLOSE──>
import { randomBytes } from "node:crypto";
import { helloMac, verifyHelloMac } from "../protocol/auth.js";
import type { ClientKey } from "../protocol/client-key.js";
import type { ErrorCode } from "../protocol/errors.js";
import { type ChallengeFrame, FrameType, type HelloFrame } from "../protocol/frames.js";
import { NONCE_BYTES, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN } from "../protocol/limits.js";

/** The highest version both this build and a peer speaking `min..max` speak, if any. */
export function versionInCommon(min: number, max: number): number | undefined {
  if (max < PROTOCOL_VERSION_MIN || min > PROTOCOL_VERSION_MAX) return undefined;
  return Math.min(max, PROTOCOL_VERSION_MAX);
}

/** A fresh nonce for one connection's CHALLENGE. */
export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** The exit's first frame on a connection. */
export function challengeFrame(nonce: Uint8Array): ChallengeFrame {
  return {
    type: FrameType.CHALLENGE,
    versionMin: PROTOCOL_VERSION_MIN,
    versionMax: PROTOCOL_VERSION_MAX,
    nonce,
  };
}

/** A handshake step that cannot go on, with the code the connection ends with. */
export class HandshakeRefusal extends Error {
  override name = "HandshakeRefusal";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The laptop's answer to a CHALLENGE: HELLO with its versions, client id, the mac over the nonce
 * and, when it resumes a session, the resume token. Throws HandshakeRefusal (UNSUPPORTED_VERSION)
 * when the exit speaks no version this laptop does.
 */
export async function helloFor(
  challenge: ChallengeFrame,
  key: ClientKey,
  resumeToken: Uint8Array | undefined,
): Promise<HelloFrame> {
  if (versionInCommon(challenge.versionMin, challenge.versionMax) === undefined) {
    throw new HandshakeRefusal(
      "UNSUPPORTED_VERSION",
      `the exit speaks protocol v${challenge.versionMin}-v${challenge.versionMax}; this tether speaks v${PROTOCOL_VERSION_MIN}-v${PROTOCOL_VERSION_MAX}. Update the older side.`,
    );
  }
  return {
    type: FrameType.HELLO,
    versionMin: PROTOCOL_VERSION_MIN,
    versionMax: PROTOCOL_VERSION_MAX,
    capabilities: 0,
    clientId: key.clientId,
    mac: await helloMac(key.secret, challenge.nonce, key.clientId),
    resumeToken,
  };
}

/** Stands in for the key of a client the exit does not know, so its refusal takes as long. */
const UNKNOWN_CLIENT_SECRET = new Uint8Array(randomBytes(32));

/**
 * The exit's first check of a HELLO, at once: the version both speak, or a HandshakeRefusal
 * (UNSUPPORTED_VERSION).
 */
export function helloVersion(hello: HelloFrame): number {
  const version = versionInCommon(hello.versionMin, hello.versionMax);
  if (version === undefined) {
    throw new HandshakeRefusal(
      "UNSUPPORTED_VERSION",
      `laptop speaks v${hello.versionMin}-v${hello.versionMax}, this exit v${PROTOCOL_VERSION_MIN}-v${PROTOCOL_VERSION_MAX}`,
    );
  }
  return version;
}

/**
 * The exit's check of a HELLO's proof against the CHALLENGE's nonce: resolves when the mac is the
 * client's, or rejects with a HandshakeRefusal (AUTH_FAILED) whose message is for the log only (it
 * says which client names exist). An unknown client costs the same HMAC as a known one, so the
 * time of a refusal does not tell either.
 */
export async function checkHello(
  hello: HelloFrame,
  nonce: Uint8Array,
  secretFor: (clientId: string) => Promise<Uint8Array | undefined>,
): Promise<void> {
  const secret = await secretFor(hello.clientId);
  const macOk = await verifyHelloMac(secret ?? UNKNOWN_CLIENT_SECRET, nonce, hello.clientId, hello.mac);
  if (secret === undefined || !macOk) {
    throw new HandshakeRefusal(
      "AUTH_FAILED",
      secret ? `wrong key for client ${hello.clientId}` : `unknown client ${hello.clientId}`,
    );
  }
}
