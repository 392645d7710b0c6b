import { describe, expect, it } from "vitest";
import { parsePairing } from "../pwa/src/shared/pairing.js";
import { appOriginOf, pairingLink } from "./pairing.js";

describe("the pairing link", () => {
  it("is the exit's https origin with the laptop's address, secret and fingerprint in the fragment", () => {
    const link = pairingLink({
      appOrigin: appOriginOf("wss://exit.example:8443"),
      laptopUrl: "wss://192.168.43.2:7443",
      secret: "s3cret",
      spkiSha256: "ab+/cd=",
    });
    expect(link.startsWith("https://exit.example:8443/#")).toBe(true);
    expect(new URL(link).search).toBe("");
  });

  it("is read back by the phone app exactly as the laptop wrote it", () => {
    const link = pairingLink({
      appOrigin: "https://exit.example",
      laptopUrl: "wss://192.168.43.2:7443",
      secret: "s3cret",
      spkiSha256: "ab+/cd=",
    });
    expect(parsePairing(new URL(link).hash)).toEqual({
      laptopUrl: "wss://192.168.43.2:7443",
      secret: "s3cret",
      fingerprint: "ab+/cd=",
      encoding: "binary",
    });
  });

  it("maps ws/wss exit URLs to the origin the app is served from, and refuses others", () => {
    expect(appOriginOf("wss://exit.example")).toBe("https://exit.example");
    expect(appOriginOf("ws://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(() => appOriginOf("ftp://exit.example")).toThrow(/wss:\/\//);
  });

  it("tells the phone's user what is wrong with a broken link", () => {
    expect(parsePairing("")).toBeUndefined();
    expect(() => parsePairing("#laptop=wss://1.2.3.4:7443")).toThrow(/incomplete/);
    expect(() => parsePairing("#laptop=http://1.2.3.4&secret=x")).toThrow(/wss/);
    expect(() => parsePairing("#laptop=wss://1.2.3.4&secret=x&encoding=morse")).toThrow(/encoding/);
  });
});
