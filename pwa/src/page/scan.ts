// Scan to pair: the camera reads the laptop's QR code. The platform's BarcodeDetector where it
// reads QR codes (Chrome on Android, macOS and ChromeOS); elsewhere (iOS Safari, Firefox, Chromium
// on Linux) jsQR (qr-decode.ts), imported only now,
// when the user asks to scan, so the main bundle does not carry it. Frames are looked at a few
// times a second, and the camera goes off after a while without a code: a phone's battery, and
// nobody likes a camera left on. Thin over browser APIs; the view shows the stream.

/** Frames looked at, at most: 5 a second is quick to a person and light on a phone, ms apart. */
export const SCAN_EVERY_MS = 200;
/** No code by then and the camera goes off (the user can start again), ms. */
export const SCAN_TIMEOUT_MS = 120_000;
/** Frames are scaled down to at most this width before jsQR looks at them: a QR code on a laptop screen needs no more, px. */
const MAX_FRAME_WIDTH = 640;

export type DecoderKind = "platform" | "built-in";
type Decode = (video: HTMLVideoElement) => Promise<string | undefined>;

export interface ScanEvents {
  /** A code was read; return true to stop scanning (it was a pairing link). */
  text(text: string): boolean;
  status(message: string): void;
  /** The camera's stream to show, or undefined when it is off. */
  stream(stream: MediaStream | undefined): void;
}

export class QrScanner {
  /** Which decoder the last scan used (for the status line and the tests). */
  decoder: DecoderKind | undefined;
  private media: MediaStream | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private deadline = 0;
  private run = 0;

  get scanning(): boolean {
    return this.media !== undefined;
  }

  async start(video: HTMLVideoElement, events: ScanEvents): Promise<void> {
    this.stop(events);
    const run = ++this.run;
    if (!navigator.mediaDevices?.getUserMedia) {
      events.status("This browser gives the app no camera here: paste the link instead.");
      return;
    }
    events.status("Starting the camera…");
    let media: MediaStream;
    try {
      media = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch (error) {
      events.status(cameraError(error));
      return;
    }
    if (run !== this.run) {
      for (const track of media.getTracks()) track.stop();
      return;
    }
    this.media = media;
    events.stream(media);
    let decode: Decode;
    try {
      const platform = await platformDecoder();
      this.decoder = platform ? "platform" : "built-in";
      decode = platform ?? (await builtInDecoder());
    } catch (error) {
      this.stop(events);
      events.status(`The QR decoder did not load (${(error as Error).message}): paste the link instead.`);
      return;
    }
    if (run !== this.run) return;
    events.status("Point the camera at the QR code tether prints on the laptop.");
    this.deadline = Date.now() + SCAN_TIMEOUT_MS;
    const look = async () => {
      this.timer = undefined;
      if (run !== this.run) return;
      if (Date.now() > this.deadline) {
        this.stop(events);
        events.status("No QR code found for 2 minutes: the camera is off. Scan again, or paste the link.");
        return;
      }
      let text: string | undefined;
      try {
        text = video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA ? await decode(video) : undefined;
      } catch {
        text = undefined; // a frame the detector could not read: the next one may do
      }
      if (run !== this.run) return;
      if (text !== undefined && events.text(text)) {
        this.stop(events);
        return;
      }
      this.timer = setTimeout(() => void look(), SCAN_EVERY_MS);
    };
    void look();
  }

  /** Camera off, no more frames. */
  stop(events?: Pick<ScanEvents, "stream">): void {
    this.run++;
    clearTimeout(this.timer);
    this.timer = undefined;
    const media = this.media;
    this.media = undefined;
    if (!media) return;
    for (const track of media.getTracks()) track.stop();
    events?.stream(undefined);
  }
}

function cameraError(error: unknown): string {
  const name = (error as { name?: string }).name;
  if (name === "NotAllowedError" || name === "SecurityError")
    return "The camera is blocked for this app: allow it in the browser's site settings, or paste the link instead.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "This phone has no camera the browser can use: paste the link instead.";
  if (name === "NotReadableError") return "Another app holds the camera: close it and scan again.";
  return `The camera did not start (${(error as Error).message ?? String(error)}): paste the link instead.`;
}

interface BarcodeDetectorLike {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}
interface BarcodeDetectorClass {
  new (options: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats?(): Promise<string[]>;
}

async function platformDecoder(): Promise<Decode | undefined> {
  const Detector = (globalThis as { BarcodeDetector?: BarcodeDetectorClass }).BarcodeDetector;
  if (!Detector) return undefined;
  const formats = (await Detector.getSupportedFormats?.().catch(() => [])) ?? [];
  if (!formats.includes("qr_code")) return undefined;
  const detector = new Detector({ formats: ["qr_code"] });
  return async (video) => (await detector.detect(video))[0]?.rawValue;
}

async function builtInDecoder(): Promise<Decode> {
  const { decodeQr } = await import("./qr-decode.js");
  // Never put in the page: a scratch surface for reading the frame's pixels.
  const canvas: OffscreenCanvas | HTMLCanvasElement =
    typeof OffscreenCanvas === "function" ? new OffscreenCanvas(1, 1) : document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true }) as
    | OffscreenCanvasRenderingContext2D
    | CanvasRenderingContext2D
    | null;
  if (!context) throw new Error("no 2D canvas");
  return async (video) => {
    const scale = Math.min(1, MAX_FRAME_WIDTH / (video.videoWidth || MAX_FRAME_WIDTH));
    const width = Math.max(1, Math.round(video.videoWidth * scale));
    const height = Math.max(1, Math.round(video.videoHeight * scale));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    context.drawImage(video, 0, 0, width, height);
    return decodeQr(context.getImageData(0, 0, width, height).data, width, height);
  };
}
