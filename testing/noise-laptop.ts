// For tests (never shipped): the laptop's side of protocol v2 in a few lines, for tests that talk
// to an exit by hand (no LaptopTunnel): keeps the CHALLENGE, answers it with a HELLO when told,
// takes the RESPONSE's keys, then seals what it sends and opens what it gets. Frames it could not
// open are counted in `seal.drops`, as a tunnel end counts them.
import { parseClientKey } from "../protocol/client-key.js";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { type Frame, FrameType } from "../protocol/frames.js";
import { PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN } from "../protocol/limits.js";
import type { TransportKeys } from "../tunnel/noise.js";
import { InitiatorHandshake, RESPONSE_TYPE, type ResumeTicket } from "../tunnel/noise-messages.js";
import { LegSeal } from "../tunnel/seal-leg.js";

export class NoiseLaptop {
  /** Frames received, opened and decoded (clear ones before the keys, sealed ones after). */
  readonly frames: Frame[] = [];
  /** Whether each frame in `frames` came sealed. */
  readonly sealed: boolean[] = [];
  readonly seal = new LegSeal("laptop");
  keys: TransportKeys | undefined;
  /** The CHALLENGE as received, once it has come. */
  challenge: Uint8Array | undefined;
  /** The HELLO as sent. */
  helloBytes: Uint8Array | undefined;
  private handshake: InitiatorHandshake | undefined;

  /** `send` puts bytes on the wire. */
  constructor(private readonly send: (bytes: Uint8Array) => void) {}

  /** Every message from the exit goes here. */
  receive(message: Uint8Array): void {
    const inbound = this.seal.inbound(message);
    if (inbound.drop) return;
    const bytes = inbound.frame;
    if (!inbound.sealed && bytes[0] === RESPONSE_TYPE) {
      const result = this.handshake?.readResponse(bytes);
      if (result?.ok) {
        this.keys = result.keys;
        this.seal.install(result.keys);
      }
      return;
    }
    const frame = decodeFrame(bytes);
    if (!frame) return;
    this.frames.push(frame);
    this.sealed.push(inbound.sealed);
    if (frame.type === FrameType.CHALLENGE && !inbound.sealed) this.challenge = new Uint8Array(bytes);
  }

  /** Sends a frame, sealed once keyed. */
  sendFrame(frame: Frame): void {
    this.send(this.seal.outbound(encodeFrame(frame)));
  }

  /** The resume ticket a WELCOME of a new session gives (its token, this handshake's secret). */
  ticket(welcome: { resumeToken: Uint8Array }): ResumeTicket {
    if (!this.keys) throw new Error("no keys yet");
    return { token: welcome.resumeToken, secret: this.keys.resumeSecret };
  }

  /** Answers the CHALLENGE (which must have come) with a HELLO for `key` ("NAME:SECRET"). */
  hello(
    key: string,
    options: { resume?: ResumeTicket; versionMin?: number; versionMax?: number } = {},
  ): void {
    if (!this.challenge) throw new Error("no CHALLENGE yet");
    const { clientId, secret } = parseClientKey(key);
    this.handshake = new InitiatorHandshake(this.challenge, clientId, secret, {
      versionMin: options.versionMin ?? PROTOCOL_VERSION_MIN,
      versionMax: options.versionMax ?? PROTOCOL_VERSION_MAX,
      resume: options.resume,
    });
    this.helloBytes = this.handshake.hello;
    this.send(this.handshake.hello);
  }
}
