// For tests (never shipped): a small forwarder standing in for the phone between a laptop end and an exit end in
// one process, over in-memory transports (protocol/transport.ts). It forwards every message
// untouched each way, as the phone's relay does, and closes the exit leg when the laptop leg goes
// (the phone does the same, so the handshake always runs afresh end to end).
import { type MemoryTransport, memoryTransportPair, type Transport } from "../protocol/transport.js";

export interface TestRelay {
  /** Give this to the laptop (LaptopTunnel.attach). */
  laptopLeg: Transport;
  /** Give this to the exit (RunningExit.accept). */
  exitLeg: Transport;
  /** The phone's own sides of the two legs, to inject or watch messages. */
  phoneToLaptop: MemoryTransport;
  phoneToExit: MemoryTransport;
  /**
   * The exit leg drops without a close (as with `ss -K`) and a new one is dialed; returns the
   * new leg's exit side. The laptop leg stays up.
   */
  redialExit(): Transport;
  /** Both legs closed normally. */
  close(): void;
}

export function testRelay(): TestRelay {
  const [phoneToLaptop, laptopLeg] = memoryTransportPair();
  let [phoneToExit, exitLeg] = memoryTransportPair();
  const joinExit = (toExit: MemoryTransport) => {
    toExit.onMessage((message) => {
      if (phoneToLaptop.open) phoneToLaptop.send(message);
    });
  };
  phoneToLaptop.onMessage((message) => {
    if (phoneToExit.open) phoneToExit.send(message);
  });
  phoneToLaptop.onClose(() => phoneToExit.close(1000, ""));
  joinExit(phoneToExit);
  return {
    laptopLeg,
    exitLeg,
    get phoneToLaptop() {
      return phoneToLaptop;
    },
    get phoneToExit() {
      return phoneToExit;
    },
    redialExit() {
      phoneToExit.terminate();
      [phoneToExit, exitLeg] = memoryTransportPair();
      joinExit(phoneToExit);
      return exitLeg;
    },
    close() {
      phoneToExit.close(1000, "");
      phoneToLaptop.close(1000, "");
    },
  };
}
