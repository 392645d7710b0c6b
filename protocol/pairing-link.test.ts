// The pairing link as a contract: what the laptop's writer produces, the phone app's reader reads
// back exactly; what the reader refuses, it refuses by code.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { appOriginOf, pairingLink } from "../laptop/pairing.js";
import { parsePairing as pwaParsePairing } from "../pwa/src/shared/pairing.js";
import {
  formatPairingLink,
  PAIRING_PARAMS,
  type Pairing,
  type PairingErrorCode,
  parsePairing,
  parsePairingLink,
} from "./pairing-link.js";

function codeOf(run: () => unknown): PairingErrorCode | "none" {
  try {
    run();
  } catch (error) {
    return (error as { code: PairingErrorCode }).code;
  }
  return "none";
}

const PAIRING: Pairing = {
  laptopUrl: "wss://192.168.43.2:7443",
  secret: "s3cret",
  fingerprint: "ab+/cd=",
  encoding: "binary",
};

describe("the pairing link", () => {
  it("is the app origin with the pairing in the fragment, named as PAIRING_PARAMS says", () => {
    const link = formatPairingLink("https://exit.example:8443", PAIRING);
    expect(link).toBe(
      "https://exit.example:8443/#v=1&laptop=wss%3A%2F%2F192.168.43.2%3A7443&secret=s3cret&fp=ab%2B%2Fcd%3D",
    );
    const fragment = new URLSearchParams(new URL(link).hash.slice(1));
    expect([...fragment.keys()]).toEqual([
      PAIRING_PARAMS.version,
      PAIRING_PARAMS.laptop,
      PAIRING_PARAMS.secret,
      PAIRING_PARAMS.fingerprint,
    ]);
    expect(new URL(link).search).toBe("");
  });

  it("carries a forced encoding only when it is not the default", () => {
    const link = formatPairingLink("https://e", { ...PAIRING, encoding: "base64" });
    expect(link).toMatch(/&encoding=base64$/);
    expect(parsePairingLink(link).encoding).toBe("base64");
  });

  it("is what the laptop prints, and the phone app reads it back", () => {
    const link = pairingLink({
      appOrigin: appOriginOf("wss://exit.example:8443"),
      laptopUrl: PAIRING.laptopUrl,
      secret: PAIRING.secret,
      spkiSha256: PAIRING.fingerprint,
    });
    expect(link).toBe(formatPairingLink("https://exit.example:8443", PAIRING));
    expect(pwaParsePairing(new URL(link).hash)).toEqual(PAIRING);
  });

  it("round-trips any secret, fingerprint, laptop address and encoding", () => {
    const pairing = fc.record({
      laptopUrl: fc
        .tuple(fc.constantFrom("ws", "wss"), fc.ipV4(), fc.integer({ min: 1, max: 65535 }))
        .map(([scheme, host, port]) => `${scheme}://${host}:${port}`),
      secret: fc.string({ minLength: 1, maxLength: 64 }),
      fingerprint: fc.string({ maxLength: 64 }),
      encoding: fc.constantFrom("binary" as const, "base64" as const),
    });
    fc.assert(
      fc.property(pairing, (p) => {
        const link = formatPairingLink("https://exit.example", p);
        expect(parsePairingLink(link)).toEqual(p);
        expect(parsePairing(new URL(link).hash)).toEqual(p);
      }),
    );
  });

  it("reads a link without a version as version 1", () => {
    expect(parsePairing("#laptop=wss%3A%2F%2F1.2.3.4%3A7443&secret=x")).toMatchObject({ secret: "x" });
  });

  it.each([
    ["https://exit.example:8443/", "PAIRING_NOT_A_LINK"],
    ["#fp=abc", "PAIRING_NOT_A_LINK"],
    ["#laptop=wss://1.2.3.4:7443", "PAIRING_INCOMPLETE"],
    ["#secret=x", "PAIRING_INCOMPLETE"],
    ["#laptop=http://1.2.3.4&secret=x", "PAIRING_BAD_LAPTOP_URL"],
    ["#laptop=not%20a%20url&secret=x", "PAIRING_BAD_LAPTOP_URL"],
    ["#laptop=wss://1.2.3.4&secret=x&encoding=morse", "PAIRING_BAD_ENCODING"],
    ["#v=2&laptop=wss://1.2.3.4&secret=x", "PAIRING_VERSION"],
  ] as const)("refuses %j with %s", (text, code) => {
    expect(codeOf(() => parsePairingLink(text))).toBe(code);
  });

  it("has no pairing in an empty fragment", () => {
    expect(parsePairing("")).toBeUndefined();
    expect(parsePairing("#")).toBeUndefined();
  });
});
