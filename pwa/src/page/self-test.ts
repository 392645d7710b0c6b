// The self-test for the phone in hand (issue 15.4): what only a real phone can show, measured by
// the app for its user. Each leg's round trip (its own PINGs, 10 of each), the relay rate (test
// traffic the laptop sends inside its session to the exit and back, counted as it passes: no one
// but the laptop can make the exit send it), whether wake lock, notifications and binary frames
// work, the local-network permission, and the last time the app was hidden. Bounded: about 5 s and
// SELF_TEST_REQUEST's bytes. Thin over browser APIs; the words are in shared/self-test-report.ts.
import { ECHO_DRAIN_MS, encodeSelfTest, type SelfTestDone } from "../../../protocol/self-test.js";
import type { Relay } from "../relay.js";
import { zeroSelfTestCounts } from "../relay.js";
import type { HiddenRecord } from "../shared/hidden-watch.js";
import { RTT_PINGS, SELF_TEST_REQUEST, type SelfTestFindings } from "../shared/self-test-report.js";
import { localNetworkPermission } from "./probe.js";

/** Leg PINGs go out this far apart, ms. */
const RTT_PING_EVERY_MS = 100;
/** No ECHO by then after the request: the laptop does not run the self-test, ms. */
const FIRST_ECHO_TIMEOUT_MS = 2_000;
/** The laptop's report is waited for this long past the test's own length and drain, ms. */
const DONE_SLACK_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SelfTestDeps {
  relay(): Relay | undefined;
  notifications(): string;
  lastHidden(): HiddenRecord | undefined;
}

export async function runSelfTest(
  deps: SelfTestDeps,
  progress: (step: string) => void,
): Promise<SelfTestFindings> {
  const relay = deps.relay();
  const findings: SelfTestFindings = {
    at: Date.now(),
    userAgent: navigator.userAgent,
    rate: undefined,
    rateNote: "",
    rtt: { laptop: [], exit: [], endToEnd: undefined },
    binary: { laptop: "not measured (leg not open)", exit: "not measured (leg not open)" },
    wakeLock: "",
    notifications: deps.notifications(),
    localNetwork: await localNetworkPermission(),
    hidden: deps.lastHidden(),
  };
  progress("Checking the screen wake lock…");
  findings.wakeLock = await tryWakeLock();
  if (!relay?.relaying) {
    findings.rateNote = "not relaying: the laptop and the exit must both be connected";
    return findings;
  }
  progress("Measuring each leg's round trip…");
  relay.onLegRtt((name, ms) => findings.rtt[name].push(ms));
  try {
    for (let i = 0; i < RTT_PINGS; i++) {
      relay.pingLeg("laptop");
      relay.pingLeg("exit");
      await sleep(RTT_PING_EVERY_MS);
    }
    await sleep(3 * RTT_PING_EVERY_MS);
  } finally {
    relay.onLegRtt(undefined);
  }
  findings.rtt.endToEnd = relay.stats.endToEndRttMs;
  for (const name of ["laptop", "exit"] as const) {
    const leg = relay.stats[name];
    findings.binary[name] =
      leg.encoding === "binary"
        ? findings.rtt[name].length > 0
          ? "yes"
          : "no answer to binary PINGs"
        : "not in use (base64 text frames)";
  }

  progress("Measuring the relay rate…");
  relay.selfTest = zeroSelfTestCounts();
  const done = new Promise<SelfTestDone | undefined>((resolve) => {
    const timer = setTimeout(
      () => resolve(undefined),
      SELF_TEST_REQUEST.durationMs + ECHO_DRAIN_MS + DONE_SLACK_MS,
    );
    relay.onSelfTestDone = (report) => {
      clearTimeout(timer);
      resolve(report);
    };
  });
  if (!relay.toLaptop(encodeSelfTest(SELF_TEST_REQUEST))) {
    findings.rateNote = "the laptop leg closed";
    return findings;
  }
  const first = await Promise.race([
    done.then(() => true),
    (async () => {
      for (let waited = 0; waited < FIRST_ECHO_TIMEOUT_MS; waited += 50) {
        if (relay.selfTest.messagesUp > 0) return true;
        await sleep(50);
      }
      return relay.selfTest.messagesUp > 0;
    })(),
  ]);
  if (!first) {
    relay.onSelfTestDone = () => undefined;
    findings.rateNote = "the laptop sent no test traffic: its tether may be older than this app";
    return findings;
  }
  const report = await done;
  relay.onSelfTestDone = () => undefined;
  const counts = relay.selfTest;
  if (counts.firstAt === undefined || counts.lastAt === undefined || counts.messagesDown === 0) {
    findings.rateNote = "no test traffic came back from the exit";
    return findings;
  }
  findings.rate = {
    messagesUp: counts.messagesUp,
    messagesDown: counts.messagesDown,
    bytesUp: counts.bytesUp,
    bytesDown: counts.bytesDown,
    windowMs: counts.lastAt - counts.firstAt,
    laptop: report,
    droppedUp: counts.droppedUp,
    droppedDown: counts.droppedDown,
  };
  return findings;
}

async function tryWakeLock(): Promise<string> {
  if (!("wakeLock" in navigator)) return "not supported by this browser";
  try {
    const sentinel = await navigator.wakeLock.request("screen");
    await sentinel.release();
    return "works";
  } catch (error) {
    return `refused (${(error as Error).name}: ${(error as Error).message})`;
  }
}
