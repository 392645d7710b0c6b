// The v2 handshake frames, as a spec: HELLO and RESPONSE round trips, the prologue's binding of
// every clear byte, the resume proof, and every refusal with its code.
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../protocol/codec.js";
import { FrameType } from "../protocol/frames.js";
import {
  decodeHello,
  decodeResponse,
  HELLO_NOISE_BYTES,
  helloVersions,
  InitiatorHandshake,
  PROTOCOL_V2,
  RESPONSE_TYPE,
  ResponderHandshake,
  type ResumeTicket,
  verifyResumeProof,
} from "./noise-messages.js";

const hex = (s: string) => Buffer.from(s.replace(/[\s|]+/g, ""), "hex");
const secret = Buffer.alloc(32, 0x5a);
const v2 = { versionMin: PROTOCOL_V2, versionMax: PROTOCOL_V2 };

function challenge(nonceByte = 1): Uint8Array {
  return encodeFrame({ type: FrameType.CHALLENGE, ...v2, nonce: new Uint8Array(32).fill(nonceByte) });
}

/** One whole handshake through the two ends; `relay` may change HELLO on its way. */
function run(
  options: { resume?: ResumeTicket; psk?: Uint8Array; relay?: (hello: Buffer) => Uint8Array } = {},
) {
  const ch = challenge();
  const laptop = new InitiatorHandshake(ch, "laptop-1", secret, {
    ...v2,
    capabilities: 5,
    resume: options.resume,
  });
  const hello = decodeHello(options.relay ? options.relay(laptop.hello) : laptop.hello);
  const exit = new ResponderHandshake(ch, hello, options.psk ?? secret);
  return { laptop, exit, hello, opened: exit.open() };
}

describe("v2 handshake frames", () => {
  it("carries versions and client id in the clear, and the rest as one Noise message", () => {
    const { laptop, hello } = run();
    expect(laptop.hello[0]).toBe(FrameType.HELLO);
    expect(helloVersions(laptop.hello)).toEqual(v2);
    expect(hello.clientId).toBe("laptop-1");
    expect(hello.noise.length).toBe(HELLO_NOISE_BYTES);
    expect(laptop.hello.length).toBe(8 + 3 + 8 + HELLO_NOISE_BYTES);
  });

  it("gives both ends the same keys (crossed) and the chosen version", () => {
    const { laptop, exit, opened } = run();
    expect(opened).toEqual({ ok: true, capabilities: 5, resume: undefined });
    const { response, keys } = exit.respond(PROTOCOL_V2);
    expect(response[0]).toBe(RESPONSE_TYPE);
    const result = laptop.readResponse(response);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.version).toBe(PROTOCOL_V2);
    expect(result.keys.send).toEqual(keys.receive);
    expect(result.keys.receive).toEqual(keys.send);
    expect(result.keys.resumeSecret).toEqual(keys.resumeSecret);
  });

  it("is as long with a resume request as without: the phone cannot tell a resume by its size", () => {
    const ticket = { token: Buffer.alloc(32, 1), secret: Buffer.alloc(32, 2) };
    expect(run({ resume: ticket }).laptop.hello.length).toBe(run().laptop.hello.length);
  });

  it("refuses a HELLO whose clear fields a relay changed (client id, versions) as auth_failed", () => {
    const renamed = run({
      relay: (hello) => {
        const out = Buffer.from(hello);
        out[8 + 3] = "L".charCodeAt(0); // laptop-1 -> Laptop-1
        return out;
      },
    });
    expect(renamed.opened).toEqual({ ok: false, reason: "auth_failed" });
    const downgraded = run({
      relay: (hello) => {
        const out = Buffer.from(hello);
        out[8] = 1; // versionMin 2 -> 1
        return out;
      },
    });
    expect(downgraded.opened).toEqual({ ok: false, reason: "auth_failed" });
  });

  it("refuses a HELLO recorded on another connection (another CHALLENGE nonce) as auth_failed", () => {
    const recorded = new InitiatorHandshake(challenge(1), "laptop-1", secret, v2).hello;
    const exit = new ResponderHandshake(challenge(2), decodeHello(recorded), secret);
    expect(exit.open()).toEqual({ ok: false, reason: "auth_failed" });
  });

  it("refuses a HELLO under another key as auth_failed", () => {
    expect(run({ psk: Buffer.alloc(32, 1) }).opened).toEqual({ ok: false, reason: "auth_failed" });
  });

  it("refuses a RESPONSE from an exit without the key, and one changed on the way", () => {
    const { laptop, exit } = run();
    const { response } = exit.respond(PROTOCOL_V2);
    const changed = Buffer.from(response);
    changed[8 + 32]! ^= 1;
    expect(laptop.readResponse(changed)).toEqual({ ok: false, reason: "auth_failed" });
    const other = run();
    const impostor = new ResponderHandshake(
      challenge(),
      decodeHello(other.laptop.hello),
      Buffer.alloc(32, 3),
    );
    expect(impostor.open().ok).toBe(false);
    expect(() => impostor.respond(PROTOCOL_V2)).toThrow(/respond before a successful open/);
  });

  describe("resume", () => {
    /** A first handshake whose resume secret the session keeps, and the token WELCOME gave. */
    function firstSession(): ResumeTicket {
      const { laptop, exit } = run();
      const result = laptop.readResponse(exit.respond(PROTOCOL_V2).response);
      if (!result.ok) throw new Error("handshake failed");
      return { token: Buffer.alloc(32, 0xab), secret: result.keys.resumeSecret };
    }

    it("carries the token, sealed, and a proof the exit verifies with the session's secret", () => {
      const ticket = firstSession();
      const { opened, laptop } = run({ resume: ticket });
      expect(laptop.hello.includes(Buffer.from(ticket.token))).toBe(false); // not on the wire
      expect(opened.ok).toBe(true);
      if (!opened.ok || !opened.resume) throw new Error("no resume request");
      expect(Buffer.from(opened.resume.token)).toEqual(ticket.token);
      expect(verifyResumeProof(ticket.secret, opened.resume)).toBe(true);
    });

    it("is worthless with the token alone: a holder of the client key and the token, without the session's secret, fails", () => {
      const ticket = firstSession();
      const { opened } = run({ resume: { token: ticket.token, secret: Buffer.alloc(32, 0xcd) } });
      if (!opened.ok || !opened.resume) throw new Error("no resume request");
      expect(verifyResumeProof(ticket.secret, opened.resume)).toBe(false);
    });

    it("binds the proof to its handshake: a proof from one connection does not verify on another", () => {
      const ticket = firstSession();
      const a = run({ resume: ticket }).opened;
      const b = run({ resume: ticket }).opened;
      if (!a.ok || !a.resume || !b.ok || !b.resume) throw new Error("no resume request");
      expect(verifyResumeProof(ticket.secret, { ...b.resume, proof: a.resume.proof })).toBe(false);
    });
  });

  describe("decoders", () => {
    const valid = () => run().laptop.hello;

    it("read a v1 HELLO's versions, so the exit can say the laptop must update", () => {
      const v1 = encodeFrame({
        type: FrameType.HELLO,
        versionMin: 1,
        versionMax: 1,
        capabilities: 0,
        clientId: "laptop-1",
        mac: new Uint8Array(32),
      });
      expect(helloVersions(v1)).toEqual({ versionMin: 1, versionMax: 1 });
    });

    it("refuse malformed HELLOs with stable codes", () => {
      const cases: [string, (b: Buffer) => Uint8Array, string][] = [
        ["truncated", (b) => b.subarray(0, b.length - 1), "LENGTH_MISMATCH"],
        ["too short for versions", () => hex("02 00 0000 00000001 | 02"), "TRUNCATED"],
        ["bytes after", (b) => lengthFixed(Buffer.concat([b, Buffer.alloc(1)])), "LENGTH_MISMATCH"],
        ["short noise", (b) => lengthFixed(b.subarray(0, b.length - 1)), "TRUNCATED"],
        ["versions reversed", (b) => set(b, 8, 3), "BAD_FIELD"],
        ["client id 0 bytes", (b) => set(b, 10, 0), "BAD_FIELD"],
        ["client id 65 bytes", (b) => set(b, 10, 65), "BAD_FIELD"],
        ["client id not UTF-8", (b) => set(b, 11, 0xff), "BAD_FIELD"],
        ["count set", (b) => set(b, 3, 1), "BAD_FIELD"],
        ["flags set", (b) => set(b, 1, 0x80), "BAD_FIELD"],
        ["another type", (b) => set(b, 0, 4), "UNEXPECTED_FRAME"],
      ];
      for (const [name, change, code] of cases) {
        expect(() => decodeHello(change(valid())), name).toThrow(expect.objectContaining({ code }));
      }
    });

    it("refuse malformed RESPONSEs with stable codes", () => {
      const { exit } = run();
      const { response } = exit.respond(PROTOCOL_V2);
      expect(() => decodeResponse(lengthFixed(response.subarray(0, 20)))).toThrow(
        expect.objectContaining({ code: "TRUNCATED" }),
      );
      expect(() => decodeResponse(lengthFixed(Buffer.concat([response, Buffer.alloc(1)])))).toThrow(
        expect.objectContaining({ code: "LENGTH_MISMATCH" }),
      );
      expect(() => decodeResponse(set(response, 0, FrameType.WELCOME))).toThrow(
        expect.objectContaining({ code: "UNEXPECTED_FRAME" }),
      );
      // Its header is under no tag, so no byte of it may differ.
      expect(() => decodeResponse(set(response, 1, 0x04))).toThrow(
        expect.objectContaining({ code: "BAD_FIELD" }),
      );
    });
  });
});

function set(b: Uint8Array, at: number, value: number): Buffer {
  const out = Buffer.from(b);
  out[at] = value;
  return out;
}

/** The frame with its payloadLength made to match, so a later check is reached. */
function lengthFixed(b: Uint8Array): Buffer {
  const out = Buffer.from(b);
  out.writeUInt32BE(out.length - 8, 4);
  return out;
}
