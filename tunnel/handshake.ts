// The handshake's steps, one function each, apart from the state machines that run them
// (laptop/tunnel.ts, exit/connection.ts): what the exit opens with, what the laptop answers to it,
// and what the exit makes of the answer. Protocol v2: a Noise handshake bound to the client key
// (tunnel/noise.ts, the frames in tunnel/noise-messages.ts).
//
//   exit:   challengeFrame(nonce)                              ──CHALLENGE (clear)──>
//   laptop: helloFor(challenge, bytes, key, resume)            <──HELLO (Noise message 1)──
//   exit:   helloVersion(bytes), openHello(challenge, bytes, secretFor) ──RESPONSE (message 2)──>
//   laptop: InitiatorHandshake.readResponse(bytes)             keys on both ends: WELCOME | CLOSE sealed
import { randomBytes } from "node:crypto";
import type { ClientKey } from "../protocol/client-key.js";
import type { ErrorCode } from "../protocol/errors.js";
import { Capability, type ChallengeFrame, FrameType } from "../protocol/frames.js";
import { NONCE_BYTES, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN } from "../protocol/limits.js";
import {
  type DecodedHello,
  decodeHello,
  helloVersions,
  InitiatorHandshake,
  ResponderHandshake,
  type ResponderResult,
  type ResumeTicket,
} from "./noise-messages.js";

/** The highest version both this build and a peer speaking `min..max` speak, if any. */
export function versionInCommon(min: number, max: number): number | undefined {
  if (max < PROTOCOL_VERSION_MIN || min > PROTOCOL_VERSION_MAX) return undefined;
  return Math.min(max, PROTOCOL_VERSION_MAX);
}

/** Which side must update when a peer speaks only `min..max`: the one with the older versions. */
function olderSide(max: number, peer: "exit" | "laptop"): string {
  const peerIsOlder = max < PROTOCOL_VERSION_MIN;
  if (peer === "exit") return peerIsOlder ? "update the exit (tether-exit)" : "update tether on this laptop";
  return peerIsOlder ? "update tether on the laptop" : "update this exit (tether-exit)";
}

function versions(min: number, max: number): string {
  return min === max ? `v${min}` : `v${min}-v${max}`;
}

/**
 * What this laptop offers in Noise message 1: it reads WELCOME's IPv6 block, and it sends and
 * takes super-packets (protocol/super-packet.ts) if the exit's WELCOME says it does too.
 */
export const LAPTOP_CAPABILITIES = Capability.IPV6 | Capability.SUPER_PACKETS;

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
 * The laptop's answer to a CHALLENGE (`bytes` as received: they are in the prologue): the
 * handshake, whose `hello` is the HELLO frame to send. Throws HandshakeRefusal
 * (UNSUPPORTED_VERSION, saying which side to update) when the exit speaks no version this laptop
 * does.
 */
export function helloFor(
  challenge: ChallengeFrame,
  bytes: Uint8Array,
  key: ClientKey,
  resume: ResumeTicket | undefined,
  capabilities: number = LAPTOP_CAPABILITIES,
): InitiatorHandshake {
  if (versionInCommon(challenge.versionMin, challenge.versionMax) === undefined) {
    const { versionMin: min, versionMax: max } = challenge;
    throw new HandshakeRefusal(
      "UNSUPPORTED_VERSION",
      `the exit speaks protocol ${versions(min, max)}, this tether ${versions(PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX)}: ${olderSide(max, "exit")}`,
    );
  }
  return new InitiatorHandshake(bytes, key.clientId, key.secret, {
    versionMin: PROTOCOL_VERSION_MIN,
    versionMax: PROTOCOL_VERSION_MAX,
    capabilities,
    resume,
  });
}

/**
 * The exit's first check of a HELLO, at once and before its layout is read (a v1 HELLO has its
 * versions in the same place): the version both speak, or a HandshakeRefusal
 * (UNSUPPORTED_VERSION, saying which side to update). Throws ProtocolError for a malformed frame.
 */
export function helloVersion(bytes: Uint8Array): number {
  const { versionMin: min, versionMax: max } = helloVersions(bytes);
  const version = versionInCommon(min, max);
  if (version === undefined) {
    throw new HandshakeRefusal(
      "UNSUPPORTED_VERSION",
      `the laptop speaks protocol ${versions(min, max)}, this exit ${versions(PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX)}: ${olderSide(max, "laptop")}`,
    );
  }
  return version;
}

/** Stands in for the key of a client the exit does not know, so its refusal takes as long. */
const UNKNOWN_CLIENT_SECRET = new Uint8Array(randomBytes(32));

export interface OpenedHello {
  hello: DecodedHello;
  handshake: ResponderHandshake;
  opened: Extract<ResponderResult, { ok: true }>;
}

/** The exit's reading of a HELLO's layout, at once (so a malformed one is refused at once). */
export { decodeHello };

/**
 * The exit's check of a decoded HELLO (`challenge` the CHALLENGE frame it sent): Noise message 1
 * opened with the client's key, or a HandshakeRefusal (AUTH_FAILED) whose message is for the log
 * only (it says which client names exist). An unknown client goes through the same steps under a
 * stand-in key, so the time of a refusal does not tell either. Throws ProtocolError for a payload
 * the protocol does not allow.
 */
export async function openHello(
  challenge: Uint8Array,
  hello: DecodedHello,
  secretFor: (clientId: string) => Promise<Uint8Array | undefined>,
): Promise<OpenedHello> {
  const secret = await secretFor(hello.clientId);
  const handshake = new ResponderHandshake(challenge, hello, secret ?? UNKNOWN_CLIENT_SECRET);
  const opened = handshake.open();
  if (secret === undefined || !opened.ok) {
    throw new HandshakeRefusal(
      "AUTH_FAILED",
      secret ? `wrong key for client ${hello.clientId}` : `unknown client ${hello.clientId}`,
    );
  }
  return { hello, handshake, opened };
}
