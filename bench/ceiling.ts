// The bare relay ceiling: the real relay (the built PWA, in the phone's Chromium) between two minimal
// Node endpoints (relay-endpoint.ts), one in the laptop's namespace and one in the exit's,
// that send pre-batched DATA frames as fast as the relay takes them and count what comes out. What
// arrives per second is the most any laptop and exit could get through this relay on this machine.
//
// The endpoints reuse the chain's certificates (the exit's for the page's origin, the laptop's for
// the laptop leg) on ports of their own; the page runs in a Chromium of its own (phone.ts),
// started for a block of measurements and stopped after, so it never runs beside a measured Tether.
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ROOT } from "../e2e/chain.js";
import { ADDR, type Topology } from "../e2e/topology.js";
import type { Encoding } from "../protocol/encoding.js";
import { countersDelta, type RelayCounters, relayCounters } from "./chain.js";
import { sleep, TCP_PAYLOAD_PER_PACKET, TUNNEL_MTU } from "./net.js";
import { BarePhone } from "./phone.js";
import { chromiumProcesses, cpuDelta, cpuSnapshot } from "./proc.js";

const ENDPOINT_SCRIPT = fileURLToPath(new URL("./relay-endpoint.ts", import.meta.url));
/** Ports apart from the chain's (7443, 8443), so both run side by side. */
const LAPTOP_ENDPOINT_PORT = 7444;
const EXIT_ENDPOINT_PORT = 8444;
/** Starting an endpoint (Node + tsx), opening the page, each at most, ms. */
const READY_TIMEOUT_MS = 30_000;
/** Sending before counting starts (TCP windows open, the relay's queues fill), ms. */
const WARMUP_MS = 1_000;
/** After a measurement, what is still queued must drain: done when nothing arrived for this long, ms. */
const QUIET_MS = 400;
/** ... or after this long at most, ms. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface CeilingOptions {
  direction: "up" | "down";
  /** IP packets per DATA frame (the batch the laptop or exit would have made). */
  packets: number;
  /** Bytes of each packet slot (default TUNNEL_MTU: a full-size packet). */
  packetBytes?: number;
  /** TCP payload each slot stands for (default TCP_PAYLOAD_PER_PACKET; a super-packet carries more). */
  payloadBytes?: number;
  encoding: Encoding;
  seconds: number;
}

export interface CeilingResult {
  /** TCP goodput those packets would carry if full (`payloadBytes` each), Mbit/s. */
  mbps: number;
  /** The WebSocket payload relayed (frame headers and length prefixes included), Mbit/s. */
  wireMbps: number;
  packetsPerSecond: number;
  messagesPerSecond: number;
  /** CPU seconds of the phone's Chromium, renderers and the rest, per Gbit of `mbps`. */
  rendererCpuSPerGbit: number | undefined;
  chromiumOtherCpuSPerGbit: number | undefined;
  /** The relay's drops while measuring (it drops DATA past its per-leg backlog limit). */
  relay: RelayCounters | undefined;
}

interface Event {
  event: string;
  [key: string]: unknown;
}

/** An endpoint process and the JSON lines it printed. */
class Endpoint {
  private readonly events: Event[] = [];
  private readonly waiters = new Set<() => void>();
  private buffer = "";

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    process.stdout?.on("data", (chunk: Buffer) => {
      this.buffer += chunk.toString("utf8");
      let newline = this.buffer.indexOf("\n");
      while (newline >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        try {
          this.events.push(JSON.parse(line) as Event);
        } catch {
          // not ours (a warning on stdout)
        }
        newline = this.buffer.indexOf("\n");
      }
      for (const wake of this.waiters) wake();
    });
  }

  command(command: Record<string, unknown>): void {
    this.process.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** The first event from index `from` on that matches, waiting for it (bounded). */
  async next(
    match: (event: Event) => boolean,
    from: number,
    timeoutMs: number,
    log: () => string,
  ): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(`the ${this.name} endpoint exited:\n${log()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`the ${this.name} endpoint did not say it in ${timeoutMs} ms:\n${log()}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 500));
        this.waiters.add(wake);
      });
    }
  }

  get mark(): number {
    return this.events.length;
  }

  async count(
    log: () => string,
  ): Promise<{ bytes: number; packets: number; messages: number; atMs: number }> {
    const from = this.mark;
    this.command({ cmd: "count" });
    const event = await this.next((e) => e.event === "count", from, 5_000, log);
    return event as unknown as { bytes: number; packets: number; messages: number; atMs: number };
  }
}

export interface EndpointCertificates {
  exit: { cert: string; key: string; spkiSha256: string };
  laptop: { cert: string; key: string; spkiSha256: string };
}

export class Ceiling {
  private phone: BarePhone | undefined;
  private phoneEncoding: Encoding | undefined;

  private constructor(
    private readonly topology: Topology,
    private readonly laptop: Endpoint,
    private readonly exit: Endpoint,
    private readonly origin: string,
    private readonly certs: EndpointCertificates,
  ) {}

  static async start(topology: Topology, certs: EndpointCertificates): Promise<Ceiling> {
    const spawnEndpoint = (
      role: "laptop" | "exit",
      host: string,
      port: number,
      cert: string,
      key: string,
    ) => {
      const argv = [process.execPath, "--import", "tsx", ENDPOINT_SCRIPT, "--role", role];
      argv.push("--host", host, "--port", String(port), "--cert", cert, "--key", key);
      if (role === "exit") argv.push("--static", `${ROOT}/dist/pwa`);
      return new Endpoint(role, topology.spawn(role, argv, { stdin: "pipe", cwd: ROOT }));
    };
    const laptop = spawnEndpoint(
      "laptop",
      ADDR.hotspot.laptop,
      LAPTOP_ENDPOINT_PORT,
      certs.laptop.cert,
      certs.laptop.key,
    );
    const exit = spawnEndpoint(
      "exit",
      ADDR.carrier.exit,
      EXIT_ENDPOINT_PORT,
      certs.exit.cert,
      certs.exit.key,
    );
    const origin = `https://${ADDR.carrier.exit}:${EXIT_ENDPOINT_PORT}`;
    const ceiling = new Ceiling(topology, laptop, exit, origin, certs);
    for (const endpoint of [laptop, exit]) {
      await endpoint.next(
        (e) => e.event === "listening",
        0,
        READY_TIMEOUT_MS,
        () => ceiling.log(endpoint),
      );
    }
    return ceiling;
  }

  private log(endpoint: Endpoint): string {
    return this.topology.logTail(endpoint.process);
  }

  /** Opens the relay page with the encoding, unless it is open already; waits until both legs are up. */
  private async openPage(encoding: Encoding): Promise<BarePhone> {
    if (this.phone && this.phoneEncoding === encoding) return this.phone;
    await this.closePage();
    const laptopMark = this.laptop.mark;
    const exitMark = this.exit.mark;
    const fragment = new URLSearchParams({
      v: "1",
      laptop: `wss://${ADDR.hotspot.laptop}:${LAPTOP_ENDPOINT_PORT}`,
      secret: "bench",
      fp: this.certs.laptop.spkiSha256,
      encoding,
    });
    this.phone = await BarePhone.launch(this.topology, `${this.origin}/#${fragment.toString()}`, [
      this.certs.exit.spkiSha256,
      this.certs.laptop.spkiSha256,
    ]);
    this.phoneEncoding = encoding;
    const connected = (e: Event) => e.event === "connected" && e.encoding === encoding;
    let up = false;
    const confirming = this.phone.confirmPairing(READY_TIMEOUT_MS, () => up);
    try {
      await this.laptop.next(connected, laptopMark, READY_TIMEOUT_MS, () => this.log(this.laptop));
    } finally {
      up = true;
      await confirming;
    }
    await this.exit.next(connected, exitMark, READY_TIMEOUT_MS, () => this.log(this.exit));
    return this.phone;
  }

  /** Stops the ceiling's Chromium (the endpoints stay, for the next block). */
  async closePage(): Promise<void> {
    await this.phone?.stop();
    this.phone = undefined;
    this.phoneEncoding = undefined;
  }

  /** Waits until the receiver's count stops moving (the relay's and sockets' queues are empty), bounded. */
  private async drain(receiver: Endpoint): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    let last = await receiver.count(() => this.log(receiver));
    while (Date.now() < deadline) {
      await sleep(QUIET_MS);
      const now = await receiver.count(() => this.log(receiver));
      if (now.messages === last.messages) return;
      last = now;
    }
  }

  async measure(options: CeilingOptions): Promise<CeilingResult> {
    const phone = await this.openPage(options.encoding);
    const [sender, receiver] =
      options.direction === "up" ? [this.laptop, this.exit] : [this.exit, this.laptop];
    const log = () => this.log(receiver);
    const packetBytes = options.packetBytes ?? TUNNEL_MTU;
    const payloadBytes = options.payloadBytes ?? TCP_PAYLOAD_PER_PACKET;
    sender.command({ cmd: "send", packets: options.packets, packetBytes });
    try {
      await sleep(WARMUP_MS);
      const relayBefore = await relayCounters(phone);
      const processes = chromiumProcesses(this.topology.ns.phone);
      const cpuBefore = cpuSnapshot(processes.map((p) => p.pid));
      const start = await receiver.count(log);
      await sleep(options.seconds * 1000);
      const end = await receiver.count(log);
      const cpu = cpuDelta(cpuBefore, cpuSnapshot(processes.map((p) => p.pid)));
      const relayAfter = await relayCounters(phone);
      const relay = countersDelta(relayBefore, relayAfter);
      const seconds = (end.atMs - start.atMs) / 1000;
      const packets = end.packets - start.packets;
      const mbps = (packets * payloadBytes * 8) / seconds / 1e6;
      let renderer = 0;
      let other = 0;
      for (const p of processes) {
        const spent = cpu.get(p.pid) ?? 0;
        if (p.role === "renderer") renderer += spent;
        else other += spent;
      }
      const gbit = (mbps * seconds) / 1000;
      return {
        mbps,
        wireMbps: ((end.bytes - start.bytes) * 8) / seconds / 1e6,
        packetsPerSecond: packets / seconds,
        messagesPerSecond: (end.messages - start.messages) / seconds,
        rendererCpuSPerGbit: gbit > 0 ? renderer / gbit : undefined,
        chromiumOtherCpuSPerGbit: gbit > 0 ? other / gbit : undefined,
        relay,
      };
    } finally {
      sender.command({ cmd: "stop" });
      await this.drain(receiver);
    }
  }

  async stop(): Promise<void> {
    await this.closePage();
    await Promise.all([this.topology.kill(this.laptop.process), this.topology.kill(this.exit.process)]);
  }
}
