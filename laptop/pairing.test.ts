import { describe, expect, it } from "vitest";
import { appOriginOf } from "./pairing.js";

// The link's format and its round trip through the phone app's reader: protocol/pairing-link.test.ts.
describe("the pairing link's app origin", () => {
  it("maps ws/wss exit URLs to the origin the app is served from, and refuses others", () => {
    expect(appOriginOf("wss://exit.example")).toBe("https://exit.example");
    expect(appOriginOf("wss://exit.example:8443/tunnel")).toBe("https://exit.example:8443");
    expect(appOriginOf("ws://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(() => appOriginOf("ftp://exit.example")).toThrow(/wss:\/\//);
  });
});
