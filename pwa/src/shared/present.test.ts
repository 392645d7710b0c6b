// What the stats view says, for each state the relay can be in: in words and symbols, never only
// in colour; the live headline without the ticking countdown.
import { describe, expect, it } from "vitest";
import type { LegStats } from "../leg.js";
import type { RelayStats } from "../relay.js";
import { type PresentInput, present } from "./present.js";

const NOW = 1_000_000;

function leg(name: "laptop" | "exit", over: Partial<LegStats> = {}): LegStats {
  return {
    name,
    state: "open",
    encoding: "binary",
    rttMs: 3.2,
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    bufferedAmount: 0,
    opens: 1,
    retryAt: undefined,
    lastClose: "",
    openedAt: NOW - 5_000,
    ...over,
  };
}

function stats(over: Partial<RelayStats> = {}): RelayStats {
  return {
    laptop: leg("laptop"),
    exit: leg("exit", { rttMs: 48 }),
    endToEndRttMs: 55,
    bytesUp: 0,
    bytesDown: 0,
    packetsUp: 0,
    packetsDown: 0,
    drops: { laptop_leg_down: 0, exit_leg_down: 2, laptop_leg_backlog: 0, exit_leg_backlog: 0 },
    session: "established",
    address: "10.77.0.2",
    sessionStartedAt: NOW - 65_000,
    refusal: undefined,
    ...over,
  } as RelayStats;
}

function input(over: Partial<PresentInput> = {}): PresentInput {
  return {
    role: "relay",
    stats: stats(),
    rates: { up: 120_000, down: 4_500_000, upPackets: 40.2, downPackets: 390.7 },
    usage: {
      day: "2026-05-04",
      month: "2026-05",
      today: { up: 1_000, down: 2_000 },
      thisMonth: { up: 5e8, down: 3.5e9 },
    },
    capBytes: undefined,
    sessionRenewed: false,
    now: NOW,
    ...over,
  };
}

describe("the stats view's words", () => {
  it("says connected, with each leg's round trip, encoding, queue and reconnects", () => {
    const p = present(input());
    expect(p.tone).toBe("ok");
    expect(p.headline).toBe("Connected: your laptop is online through this phone.");
    expect(p.legs.laptop).toEqual({
      state: "● open",
      rtt: "3.2 ms",
      encoding: "binary",
      queued: "0 B",
      reconnects: "0",
      lastClose: "—",
    });
    expect(p.legs.exit.rtt).toBe("48 ms");
    expect(p.endToEndRtt).toBe("55 ms");
    expect(p.uptime).toBe("1 min 05 s");
    expect(p.address).toBe("10.77.0.2");
    expect([p.rateUp, p.rateDown, p.packetsUp, p.packetsDown]).toEqual([
      "120 kbit/s",
      "4.50 Mbit/s",
      "40 pkt/s",
      "391 pkt/s",
    ]);
  });

  it("says resumed when the exit gave the same session back", () => {
    expect(present(input({ stats: stats({ session: "resumed" }) })).headline).toBe(
      "Connected, session resumed: same address, connections kept.",
    );
  });

  it("says a new session replaced an expired one", () => {
    expect(present(input({ sessionRenewed: true })).headline).toMatch(/new session: the old one had expired/);
  });

  it("names the leg that is reconnecting, and keeps the countdown out of the live headline", () => {
    const exit = leg("exit", {
      state: "backoff",
      retryAt: NOW + 2_400,
      lastClose: "connection lost",
      opens: 3,
    });
    const p = present(input({ stats: stats({ exit, session: "none" }) }));
    expect(p.tone).toBe("working");
    expect(p.headline).toBe("Reconnecting to the exit…");
    expect(p.detail).toBe("Next try in 3 s (connection lost).");
    expect(p.legs.exit.state).toBe("↻ reconnecting in 3 s");
    expect(p.legs.exit.reconnects).toBe("2");
    expect(p.legs.exit.rtt).toBe("—");
    expect(p.endToEndRtt).toBe("—");
  });

  it("puts the laptop leg first when both are down, and says what the exit leg waits for", () => {
    const laptop = leg("laptop", { state: "backoff", retryAt: NOW + 800, lastClose: "connect timeout" });
    const exit = leg("exit", { state: "idle" });
    const p = present(input({ stats: stats({ laptop, exit, session: "none" }) }));
    expect(p.headline).toBe("Reconnecting to the laptop…");
    expect(p.legs.exit.state).toBe("○ waiting for the laptop leg");
  });

  it("says the exit refused the laptop, with the exit's reason", () => {
    const p = present(
      input({ stats: stats({ session: "refused", refusal: "unknown client or wrong key" }) }),
    );
    expect(p.tone).toBe("problem");
    expect(p.headline).toBe("The exit refused the laptop: unknown client or wrong key.");
    expect(p.session).toBe("refused (unknown client or wrong key)");
  });

  it("says when another tab relays, and when nothing is paired", () => {
    expect(present(input({ role: "other-tab", stats: undefined })).headline).toMatch(
      /already relaying in another tab/,
    );
    const unpaired = present(input({ role: "unpaired", stats: undefined }));
    expect(unpaired.headline).toMatch(/^Not paired yet/);
    expect(unpaired.legs.laptop.state).toBe("○ not started");
  });

  it("offers one control: pause while relaying, resume while paused (saying how), none without a pairing", () => {
    const relaying = present(input());
    expect(relaying.control).toMatchObject({ state: "relaying", label: "Pause relaying" });
    expect(relaying.control.hint).toMatch(/keeps the pairing/);
    const paused = present(input({ role: "paused", stats: undefined }));
    expect(paused.tone).toBe("idle");
    expect(paused.headline).toMatch(/^Paused: this phone relays nothing and uses no data/);
    expect(paused.control).toMatchObject({ state: "paused", label: "Resume relaying" });
    expect(paused.control.hint).toMatch(/same session and address/);
    expect(present(input({ role: "unpaired" })).control.state).toBe("hidden");
    expect(present(input({ role: "other-tab" })).control.state).toBe("hidden");
  });

  it("counts the bytes relayed each way since relaying started, exactly and in words", () => {
    const p = present(input({ stats: stats({ bytesUp: 1_234, bytesDown: 5_600_000 }) }));
    expect([p.bytesUp, p.bytesUpCount, p.bytesDown, p.bytesDownCount]).toEqual([
      "1.23 kB",
      1_234,
      "5.60 MB",
      5_600_000,
    ]);
  });

  it("lists drops by reason in words, including reasons it has no words for yet", () => {
    const p = present(input({ stats: stats({ drops: { exit_leg_down: 2, queue_delay: 5 } as never }) }));
    expect(p.drops).toEqual([
      { reason: "exit_leg_down", label: "to the exit while its leg was down", count: 2 },
      { reason: "queue_delay", label: "queue delay", count: 5 },
    ]);
  });

  it("shows data used today and this month, and warns at 80 % and 100 % of the cap", () => {
    const none = present(input());
    expect([none.today, none.thisMonth, none.todayBytes]).toEqual(["3.00 kB", "4.00 GB", 3_000]);
    expect(none.cap).toMatchObject({ level: "none", text: "No monthly cap set.", warning: "" });
    const near = present(input({ capBytes: 5e9 }));
    expect(near.cap).toMatchObject({ level: "near", text: "4.00 GB of 5.00 GB (80 %)" });
    expect(near.cap.warning).toBe("⚠ 80 % of this month's data cap is used.");
    const over = present(input({ capBytes: 4e9 }));
    expect(over.cap.level).toBe("reached");
    expect(over.cap.warning).toBe("⚠ This month's data cap is used up.");
  });
});
