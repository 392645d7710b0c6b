// The Linux TUN device: /dev/net/tun through koffi. Writes happen on the calling thread (a TUN
// write never blocks: the kernel takes or refuses the packet at once); reads happen on a worker
// thread blocked in poll(), never on libuv's thread pool. linux-reader.ts describes the read flow.

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import {
  DEFAULT_TUN_NAME,
  emptyTunStats,
  MAX_HELD_BYTES,
  NO_OFFLOAD,
  OFFLOAD_TX_QUEUE_PACKETS,
  type PacketHandler,
  SUPER_PACKET_MAX_BYTES,
  type TunDevice,
  type TunOffloadState,
  type TunOptions,
  type TunStats,
  TX_QUEUE_PACKETS,
} from "./device.js";
import { TunError } from "./errors.js";
import { coalesce } from "./gso-coalesce.js";
import { superPacketLayout } from "./gso-split.js";
import { type GsoWriteMode, GsoWriter } from "./gso-write.js";
import {
  AF_INET,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  errnoName,
  errnos,
  GENERIC_ABI_ARCHES,
  IFF_NO_PI,
  IFF_TUN,
  IFF_VNET_HDR,
  IFNAMSIZ,
  IFREQ_BYTES,
  IFREQ_FLAGS_OFFSET,
  IFREQ_QLEN_OFFSET,
  type Libc,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SIOCSIFTXQLEN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
} from "./linux-libc.js";
import {
  MAX_BATCHES_IN_FLIGHT,
  type ReaderInit,
  type ReaderMessage,
  SHARED_SLOTS,
  SLOT_CHECKSUMS_COMPLETED,
  SLOT_CLOSING,
  SLOT_IN_FLIGHT,
  SLOT_READ_CALLS,
  SLOT_READ_ERRORS,
  SLOT_READER_STALLS,
  SLOT_SUPER_READ,
  SLOT_SUPER_REFUSED,
  SLOT_WANTS_WAKE,
} from "./linux-reader.js";
import { TUN_STATS_DIR_ENV, writeStatsFile } from "./stats-file.js";
import { HOST_LITTLE_ENDIAN, VNET_HDR_BYTES } from "./vnet.js";

const TUN_PATH = "/dev/net/tun";

/** How long the reader worker may take to start (loading koffi; compiling TypeScript under tsx). */
const WORKER_START_TIMEOUT_MS = 15_000;

/**
 * How long close() waits for the reader to end by itself before terminating it, and then for the
 * termination. The eventfd wakes the reader at once; these only bound close() if something is wrong.
 */
const CLOSE_WAIT_MS = 2_000;

/** The eventfd increment close() writes: a little-endian uint64 1. */
const EVENTFD_ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Opens (creating if needed) a TUN interface and starts reading it. Throws TunError. Like a
 * listening socket, an open device keeps the process alive until close().
 */
export async function openLinuxTun(options: TunOptions = {}): Promise<TunDevice> {
  if (process.platform !== "linux" || !GENERIC_ABI_ARCHES.includes(process.arch)) {
    throw new TunError(
      "UNSUPPORTED_PLATFORM",
      `Linux TUN support covers ${GENERIC_ABI_ARCHES.join(", ")}; this is ${process.platform} ${process.arch}`,
    );
  }
  const requested = options.name ?? DEFAULT_TUN_NAME;
  checkName(requested); // before any system call: a bad name is the caller's error
  const sys = loadLibc();
  const offloadOptions = options.offload;
  const { fd, name } = attachTun(sys, requested, { nonBlocking: true, vnetHeader: Boolean(offloadOptions) });
  let offload = NO_OFFLOAD;
  if (offloadOptions) {
    offload = enableOffloads(sys, fd);
    if (offloadOptions.gsoWrites === false) offload = { ...offload, gsoWrites: false };
    if (offload.note) offloadOptions.onNote?.(offload.note);
  }

  const txQueue = options.txQueuePackets ?? (offloadOptions ? OFFLOAD_TX_QUEUE_PACKETS : TX_QUEUE_PACKETS);
  const queueSet = setTxQueue(sys, name, txQueue);
  // Asked for, it must hold; the default is best effort (the kernel's 500 still works).
  if (queueSet !== undefined && options.txQueuePackets !== undefined) {
    sys.close(fd);
    throw new TunError("OTHER", `SIOCSIFTXQLEN ${txQueue} on ${JSON.stringify(name)}: ${queueSet}`);
  }

  const eventFd = sys.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (eventFd < 0) {
    const errno = sys.errno();
    sys.close(fd);
    throw new TunError("OTHER", `eventfd failed: ${errnoName(errno)}`);
  }

  const maxSuperPacketBytes = offloadOptions?.maxSuperPacketBytes ?? SUPER_PACKET_MAX_BYTES;
  const device = new LinuxTun(sys, name, fd, eventFd, offload, {
    vnetHeader: Boolean(offloadOptions),
    superPackets: offloadOptions?.superPackets ?? false,
    maxSuperPacketBytes,
    onNote: offloadOptions?.onNote,
  });
  await device.start();
  const statsDir = process.env[TUN_STATS_DIR_ENV];
  if (statsDir) device.stopStatsFile = writeStatsFile(device, statsDir);
  return device;
}

/**
 * Opens /dev/net/tun and attaches it to the interface `name` (created if needed): the fd and the
 * name the kernel gave. Blocking reads only for comparisons (bench/tun.ts); the device uses
 * nonBlocking. Throws TunError.
 */
export function attachTun(
  sys: Libc,
  name: string,
  { nonBlocking, vnetHeader = false }: { nonBlocking: boolean; vnetHeader?: boolean },
): { fd: number; name: string } {
  checkName(name);
  const fd = sys.open(TUN_PATH, O_RDWR | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0));
  if (fd < 0) throw openError(sys.errno());
  const ifreq = new Uint8Array(IFREQ_BYTES);
  new TextEncoder().encodeInto(name, ifreq.subarray(0, IFNAMSIZ - 1));
  new DataView(ifreq.buffer).setUint16(
    IFREQ_FLAGS_OFFSET,
    IFF_TUN | IFF_NO_PI | (vnetHeader ? IFF_VNET_HDR : 0),
    true,
  );
  if (sys.ioctlPtr(fd, TUNSETIFF, ifreq) < 0) {
    const errno = sys.errno();
    sys.close(fd);
    throw attachError(errno, name);
  }
  const nameEnd = ifreq.indexOf(0);
  return {
    fd,
    name: new TextDecoder().decode(ifreq.subarray(0, nameEnd < 0 || nameEnd > IFNAMSIZ ? IFNAMSIZ : nameEnd)),
  };
}

/** Sets the interface's transmit queue length; undefined, or the errno's name. */
function setTxQueue(sys: Libc, name: string, packets: number): string | undefined {
  if (!Number.isInteger(packets) || packets < 1) return "not a positive integer";
  const socket = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (socket < 0) return errnoName(sys.errno());
  try {
    const ifreq = new Uint8Array(IFREQ_BYTES);
    new TextEncoder().encodeInto(name, ifreq.subarray(0, IFNAMSIZ - 1));
    new DataView(ifreq.buffer).setInt32(IFREQ_QLEN_OFFSET, packets, HOST_LITTLE_ENDIAN);
    return sys.ioctlPtr(socket, SIOCSIFTXQLEN, ifreq) < 0 ? errnoName(sys.errno()) : undefined;
  } finally {
    sys.close(socket);
  }
}

/**
 * Asks for TSO (IPv4, IPv6) and, where the kernel has it (6.2+), USO on a vnet-header fd. Without
 * TSO the device still works: every packet comes with a header saying "no segmentation".
 */
function enableOffloads(sys: Libc, fd: number): TunOffloadState {
  const size = new Uint8Array(new Int32Array([VNET_HDR_BYTES]).buffer);
  if (sys.ioctlPtr(fd, TUNSETVNETHDRSZ, size) < 0) {
    return { ...NO_OFFLOAD, note: `TUNSETVNETHDRSZ failed (${errnoName(sys.errno())}): no offloads` };
  }
  const tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (sys.ioctlValue(fd, TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) === 0) {
    return { tso: true, uso: true, gsoWrites: true, note: undefined };
  }
  if (sys.ioctlValue(fd, TUNSETOFFLOAD, tcp) === 0) {
    return { tso: true, uso: false, gsoWrites: true, note: undefined };
  }
  return { ...NO_OFFLOAD, note: `TUNSETOFFLOAD failed (${errnoName(sys.errno())}): no offloads` };
}

/** libc through koffi, or TunError OTHER. */
export function loadLibc(): Libc {
  try {
    return libc();
  } catch (cause) {
    throw new TunError("OTHER", `libc could not be loaded through koffi: ${String(cause)}`, { cause });
  }
}

/** The kernel's dev_valid_name(), plus the one "%d" the kernel can complete. */
function checkName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  const percents = name.split("%").length - 1;
  const valid =
    bytes >= 1 &&
    bytes < IFNAMSIZ &&
    name !== "." &&
    name !== ".." &&
    !/[/:\s]/.test(name) &&
    (percents === 0 || (percents === 1 && name.includes("%d")));
  if (!valid) throw new TunError("BAD_NAME", JSON.stringify(name));
}

function openError(errno: number): TunError {
  const detail = `open ${TUN_PATH}: ${errnoName(errno)}`;
  if (errno === errnos.ENOENT || errno === errnos.ENODEV || errno === errnos.ENXIO) {
    return new TunError("NO_DEVICE", detail);
  }
  if (errno === errnos.EACCES || errno === errnos.EPERM) return new TunError("PERMISSION", detail);
  return new TunError("OTHER", detail);
}

function attachError(errno: number, name: string): TunError {
  const detail = `TUNSETIFF ${JSON.stringify(name)}: ${errnoName(errno)}`;
  if (errno === errnos.EPERM || errno === errnos.EACCES) return new TunError("PERMISSION", detail);
  // EBUSY: a TUN of this name is open elsewhere. EINVAL, for a name checkName() let through: an
  // interface of another kind (or a TAP) has it.
  if (errno === errnos.EBUSY || errno === errnos.EINVAL) return new TunError("BUSY", detail);
  return new TunError("OTHER", detail);
}

/**
 * How to start the reader worker, which lives beside this module: the compiled .js directly; the
 * .ts source (under vitest or `node --import tsx`) through tsx's require hook, since on Node 20 tsx
 * does not register its ESM hooks in worker threads (`execArgv: ["--import", "tsx"]` fails there).
 */
function readerWorkerSource(): { entry: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith(".ts"))
    return { entry: new URL("./reader-worker.js", import.meta.url), eval: false };
  const tsxCjs = createRequire(import.meta.url).resolve("tsx/cjs/api");
  const source = fileURLToPath(new URL("./reader-worker.ts", import.meta.url));
  return {
    entry: `require(${JSON.stringify(tsxCjs)}).register(); require(${JSON.stringify(source)});`,
    eval: true,
  };
}

interface ReaderConfig {
  vnetHeader: boolean;
  superPackets: boolean;
  maxSuperPacketBytes: number;
  onNote: ((note: string) => void) | undefined;
}

class LinuxTun implements TunDevice {
  readonly name: string;
  #offload: TunOffloadState;
  readonly #sys: Libc;
  readonly #fd: number;
  readonly #eventFd: number;
  readonly #reader: ReaderConfig;
  readonly #writer: GsoWriter;
  readonly #shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * Int32Array.BYTES_PER_ELEMENT));
  readonly #counts = emptyTunStats();
  #handler: PacketHandler | undefined;
  #held: Uint8Array[] = [];
  #heldSegments: number[] = [];
  #heldBytes = 0;
  #worker: Worker | undefined;
  #workerExited: Promise<void> = Promise.resolve();
  #open = true;
  #closing: Promise<void> | undefined;
  /** Set while the counters are written to a file (stats-file.ts): the last write, and stop. */
  stopStatsFile: (() => void) | undefined;

  constructor(
    sys: Libc,
    name: string,
    fd: number,
    eventFd: number,
    offload: TunOffloadState,
    reader: ReaderConfig,
  ) {
    this.#sys = sys;
    this.name = name;
    this.#fd = fd;
    this.#eventFd = eventFd;
    this.#offload = offload;
    this.#reader = reader;
    this.#writer = new GsoWriter(
      (bytes, length) => sys.write(fd, bytes, length) === length,
      {
        vnetHeader: reader.vnetHeader,
        tcp: offload.tso && offload.gsoWrites,
        udp: offload.uso && offload.gsoWrites,
      },
      () => this.#probeGsoWrites(),
    );
  }

  get offload(): TunOffloadState {
    return this.#offload;
  }

  /**
   * Some 6.1 and 6.6 point releases refuse (EINVAL) a GSO write whose last segment is shorter than
   * the others, that is most of them. Run before the first GSO write (the interface must be up: a
   * TUN that is down refuses every write): writes one such super-packet (TCP; UDP too with USO),
   * which the kernel takes and drops as a martian (destination 0.0.0.0: nothing answers, nothing
   * leaves). Refused: super-packets are split before writing from then on, said once.
   */
  #probeGsoWrites(): GsoWriteMode | undefined {
    const sys = this.#sys;
    let down = false;
    const refusal = (protocol: "tcp" | "udp") => {
      const probe = GsoWriter.probePacket(protocol);
      if (sys.write(this.#fd, probe, probe.length) === probe.length) return undefined;
      const errno = sys.errno();
      if (errno === errnos.EIO) down = true; // the interface is down: it refuses everything
      return errnoName(errno);
    };
    const tcp = refusal("tcp");
    const udp = this.#offload.uso && tcp === undefined ? refusal("udp") : undefined;
    if (down) return undefined;
    if (tcp !== undefined) {
      this.#offload = {
        ...this.#offload,
        gsoWrites: false,
        note: `this kernel refuses GSO writes with a short last segment (${tcp}): super-packets are split before they are written`,
      };
    } else if (udp !== undefined) {
      this.#offload = {
        ...this.#offload,
        note: `this kernel refuses UDP GSO writes with a short last segment (${udp}): UDP super-packets are split before they are written`,
      };
    }
    if (this.#offload.note) this.#reader.onNote?.(this.#offload.note);
    return {
      vnetHeader: true,
      tcp: tcp === undefined,
      udp: this.#offload.uso && tcp === undefined && udp === undefined,
    };
  }

  /** Starts the reader and waits for it to be polling. On failure closes the device and throws. */
  async start(): Promise<void> {
    const source = readerWorkerSource();
    const init: ReaderInit = {
      tunFd: this.#fd,
      eventFd: this.#eventFd,
      shared: this.#shared.buffer as SharedArrayBuffer,
      offload: this.#reader.vnetHeader
        ? { superPackets: this.#reader.superPackets, maxSuperPacketBytes: this.#reader.maxSuperPacketBytes }
        : undefined,
    };
    let worker: Worker;
    try {
      worker = new Worker(source.entry, { eval: source.eval, workerData: init });
    } catch (cause) {
      await this.close();
      throw new TunError("OTHER", `the reader thread could not start: ${String(cause)}`, { cause });
    }
    this.#worker = worker;
    this.#workerExited = new Promise((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (message: ReaderMessage) => this.#receive(message));

    let failure: unknown;
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        failure = `no sign of life in ${WORKER_START_TIMEOUT_MS} ms`;
        resolve(false);
      }, WORKER_START_TIMEOUT_MS);
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        worker.off("message", onReady);
        worker.off("error", onError);
        worker.off("exit", onExit);
        resolve(ok);
      };
      const onReady = (message: ReaderMessage) => message.type === "ready" && settle(true);
      const onError = (error: unknown) => {
        failure = error;
        settle(false);
      };
      const onExit = (code: number) => {
        failure = `it exited with code ${code}`;
        settle(false);
      };
      worker.on("message", onReady);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
    // After start, a crash of the reader only stops reading; it is counted, never thrown.
    worker.on("error", () => {
      this.#counts.readErrors++;
    });
    if (!started) {
      await this.close();
      throw new TunError("OTHER", `the reader thread did not start: ${String(failure)}`, { cause: failure });
    }
  }

  onPackets(handler: PacketHandler): void {
    this.#handler = handler;
    const held = this.#held;
    const segments = this.#reader.superPackets ? Uint16Array.from(this.#heldSegments) : undefined;
    this.#held = [];
    this.#heldSegments = [];
    this.#heldBytes = 0;
    // After the caller's own wiring, before any later batch (those arrive as macrotasks).
    if (held.length > 0) queueMicrotask(() => this.#open && handler(held, segments));
  }

  write(packet: Uint8Array, segmentSize = 0): boolean {
    if (!this.#open || packet.byteLength === 0) {
      this.#counts.writeErrors++;
      return false;
    }
    const outcome = this.#writer.write(packet, segmentSize);
    const counts = this.#counts;
    counts.writeCalls += outcome.calls;
    if (outcome.refused) counts.superPacketsRefused++;
    if (!outcome.ok) {
      counts.writeErrors++;
      return false;
    }
    if (outcome.whole) counts.superPacketsWritten++;
    counts.packetsWritten += outcome.packets;
    counts.bytesWritten += outcome.bytes;
    return true;
  }

  writePackets(
    packets: readonly Uint8Array[],
    segmentSizes?: ArrayLike<number>,
  ): { packets: number; bytes: number } {
    const taken = { packets: 0, bytes: 0 };
    const writeOne = (packet: Uint8Array, segmentSize: number) => {
      const before = this.#counts.packetsWritten;
      if (this.write(packet, segmentSize)) {
        taken.packets += this.#counts.packetsWritten - before;
        taken.bytes += packet.length - (segmentSize > 0 ? this.#headerBytesSaved(packet, segmentSize) : 0);
      }
    };
    const coalescing = this.#offload.gsoWrites && this.#offload.tso;
    // Runs of ordinary packets between the super-packets given: coalesced where the kernel takes
    // super-packets; the super-packets go as they are, in their place (per-flow order kept).
    let runStart = 0;
    const flushRun = (end: number) => {
      const run = runStart === 0 && end === packets.length ? packets : packets.slice(runStart, end);
      if (coalescing) coalesce(run, writeOne);
      else for (const packet of run) writeOne(packet, 0);
    };
    if (segmentSizes) {
      for (let i = 0; i < packets.length; i++) {
        const segmentSize = segmentSizes[i] ?? 0;
        if (segmentSize === 0) continue;
        if (i > runStart) flushRun(i);
        writeOne(packets[i]!, segmentSize);
        runStart = i + 1;
      }
    }
    if (runStart < packets.length) flushRun(packets.length);
    return taken;
  }

  /** Bytes of headers the segments of a coalesced super-packet had and it has not (for counting). */
  #headerBytesSaved(packet: Uint8Array, segmentSize: number): number {
    const layout = superPacketLayout(packet, segmentSize);
    return typeof layout === "string" ? 0 : -(layout.segments - 1) * layout.headerBytes;
  }

  get stats(): TunStats {
    const slot = (index: number) => Atomics.load(this.#shared, index) >>> 0;
    return {
      ...this.#counts,
      readErrors: this.#counts.readErrors + slot(SLOT_READ_ERRORS),
      readerStalls: slot(SLOT_READER_STALLS),
      readCalls: slot(SLOT_READ_CALLS),
      superPacketsRead: slot(SLOT_SUPER_READ),
      superPacketsRefused: this.#counts.superPacketsRefused + slot(SLOT_SUPER_REFUSED),
      checksumsCompleted: slot(SLOT_CHECKSUMS_COMPLETED),
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.stopStatsFile?.();
    this.stopStatsFile = undefined;
    this.#open = false;
    this.#held = [];
    this.#heldSegments = [];
    this.#heldBytes = 0;
    Atomics.store(this.#shared, SLOT_CLOSING, 1);
    Atomics.notify(this.#shared, SLOT_IN_FLIGHT);
    this.#wakeReader();
    const worker = this.#worker;
    if (worker) {
      if (!(await settlesWithin(this.#workerExited, CLOSE_WAIT_MS))) {
        await settlesWithin(worker.terminate(), CLOSE_WAIT_MS);
      }
      worker.removeAllListeners("message");
    }
    // Only now: the reader must not be left polling an fd number the process may reuse.
    this.#sys.close(this.#fd);
    this.#sys.close(this.#eventFd);
  }

  #wakeReader(): void {
    this.#sys.write(this.#eventFd, EVENTFD_ONE, EVENTFD_ONE.length);
  }

  #receive(message: ReaderMessage): void {
    if (message.type !== "batch") return;
    try {
      if (!this.#open) return;
      const { buffer, lengths, segmentSizes } = message;
      const packets = new Array<Uint8Array>(lengths.length);
      let offset = 0;
      for (let i = 0; i < lengths.length; i++) {
        const length = lengths[i] ?? 0;
        packets[i] = new Uint8Array(buffer, offset, length);
        offset += length;
      }
      this.#counts.packetsRead += packets.length;
      this.#counts.bytesRead += offset;
      if (this.#handler) this.#handler(packets, segmentSizes);
      else this.#hold(packets, segmentSizes);
    } finally {
      const wasInFlight = Atomics.sub(this.#shared, SLOT_IN_FLIGHT, 1);
      if (wasInFlight >= MAX_BATCHES_IN_FLIGHT) Atomics.notify(this.#shared, SLOT_IN_FLIGHT);
      // Idle now: hand over the batch the reader kept while this thread was busy.
      if (wasInFlight === 1 && Atomics.exchange(this.#shared, SLOT_WANTS_WAKE, 0) === 1) this.#wakeReader();
    }
  }

  /** Keeps copies (held packets must not pin whole batch buffers), up to MAX_HELD_BYTES. */
  #hold(packets: Uint8Array[], segmentSizes: Uint16Array | undefined): void {
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i]!;
      if (this.#heldBytes + packet.byteLength > MAX_HELD_BYTES) {
        this.#counts.readDropsNoHandler++;
        continue;
      }
      this.#held.push(packet.slice());
      this.#heldSegments.push(segmentSizes?.[i] ?? 0);
      this.#heldBytes += packet.byteLength;
    }
  }
}

/** Whether `promise` settles within `ms`; never leaves a timer behind. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
