// Why the laptop leg does not open, from the few clues a browser gives.
import { describe, expect, it } from "vitest";
import { diagnose, isIos, type TrustClues } from "./diagnose.js";

const clues = (over: Partial<TrustClues> = {}): TrustClues => ({
  laptop: "192.168.43.2:7443",
  probe: "failed",
  localNetwork: "granted",
  connectedBefore: false,
  online: true,
  ios: false,
  ...over,
});

describe("the trust diagnosis", () => {
  it("blames the certificate when the laptop's page fails fast and this pairing never connected", () => {
    const d = diagnose(clues());
    expect(d.cause).toBe("certificate");
    expect(d.title).toBe("This phone does not trust the laptop's certificate yet.");
    expect(d.trustButton).toBe(true);
    expect(d.profileButton).toBe(false);
    expect(d.steps[0]).toMatch(/Open the laptop’s page.*Advanced.*Proceed to 192\.168\.43\.2/);
  });

  it("offers the iOS profile, with the Settings steps, on an iPhone", () => {
    const d = diagnose(clues({ ios: true }));
    expect(d.cause).toBe("certificate");
    expect(d.profileButton).toBe(true);
    expect(d.steps.join(" ")).toMatch(/Certificate Trust Settings/);
  });

  it("says tether is probably not running when a pairing that worked is now refused fast", () => {
    const d = diagnose(clues({ connectedBefore: true }));
    expect(d.cause).toBe("not-running");
    expect(d.title).toMatch(/tether is probably not running/);
  });

  it("says the laptop is unreachable when its page does not answer at all", () => {
    const d = diagnose(clues({ probe: "timeout" }));
    expect(d.cause).toBe("unreachable");
    expect(d.trustButton).toBe(false);
    expect(d.steps.join(" ")).toMatch(/hotspot/);
  });

  it("says the pairing is out of date when the laptop answers (so it is trusted) but the relay fails", () => {
    expect(diagnose(clues({ probe: "answered" })).cause).toBe("refused");
  });

  it("says the link is out of date when the laptop closed the leg with PAIRING_FAILED", () => {
    const d = diagnose(clues({ pairingRefused: true, probe: "answered" }));
    expect(d.cause).toBe("refused");
    expect(d.title).toMatch(/refused this phone's pairing/);
  });

  it("puts a denied local-network permission first, whatever the probe says", () => {
    for (const probe of ["failed", "timeout", "answered"] as const) {
      expect(diagnose(clues({ probe, localNetwork: "denied" })).cause).toBe("local-network-denied");
    }
  });

  it("mentions Chrome's local-network question while it is still unanswered", () => {
    expect(diagnose(clues({ probe: "timeout", localNetwork: "prompt" })).steps[0]).toMatch(/local network/);
  });

  it("says the phone is offline when it has no network at all", () => {
    expect(diagnose(clues({ online: false, probe: "timeout" })).cause).toBe("offline");
  });

  it("recognises iPhones and iPads (which call themselves Macs)", () => {
    expect(isIos("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", 5)).toBe(true);
    expect(isIos("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", 5)).toBe(true);
    expect(isIos("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", 0)).toBe(false);
    expect(isIos("Mozilla/5.0 (Linux; Android 14; Pixel 8)", 5)).toBe(false);
  });
});
