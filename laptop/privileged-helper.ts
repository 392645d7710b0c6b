// The privileged helper's core: the one part of tether that keeps root, and the only one that
// changes the system. It reads requests from the unprivileged tether (privileged-protocol.ts),
// one line at a time, and applies each through the system seam (system-changes.ts), which checks
// the values; when the pipe closes (tether stopped, crashed or was killed) it puts everything
// back. It trusts its parent no more than the parent trusts the LAN: a line too long, not one
// known request, or one more than the backlog holds is answered with a code, counted, and changes
// nothing.
//
//   line in -> split (MAX_REQUEST_LINE_BYTES) -> parseRequest -> queue (MAX_BACKLOG) -> system -> reply
import {
  MAX_REQUEST_LINE_BYTES,
  type PrivilegedErrorCode,
  type PrivilegedReply,
  type PrivilegedRequest,
  parseRequest,
  requestIdOf,
} from "./privileged-protocol.js";
import type { SystemChanges } from "./system-changes.js";

/** Requests waiting behind the one being applied; the parent sends one at a time, so 1 would do. */
export const MAX_BACKLOG = 8;

export interface HelperOptions {
  /** Whether DNS may be changed (the tether's --dns, fixed when the helper started). */
  dns: boolean;
  /** Writes one reply line (without its newline). */
  send(line: string): void;
  /** A refused request, for the log: its code and why. */
  onRefused?(code: string, message: string): void;
}

export class PrivilegedHelper {
  /** Refused requests by code. */
  readonly refusals: Record<string, number> = {};
  private partial = "";
  /** Inside an over-long line: everything up to its newline is dropped. */
  private skipping = false;
  private backlog = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed: Promise<void> | undefined;

  constructor(
    private readonly system: SystemChanges,
    private readonly options: HelperOptions,
  ) {}

  /** Bytes from the pipe, in whatever pieces they come. */
  receive(chunk: string): void {
    if (this.closed) return;
    let text = chunk;
    for (;;) {
      const newline = text.indexOf("\n");
      if (newline < 0) break;
      const piece = text.slice(0, newline);
      text = text.slice(newline + 1);
      if (this.skipping) {
        this.skipping = false;
        this.partial = "";
        continue;
      }
      const line = this.partial + piece;
      this.partial = "";
      if (Buffer.byteLength(line) > MAX_REQUEST_LINE_BYTES) this.tooLong();
      else this.line(line);
    }
    if (this.skipping) return;
    this.partial += text;
    if (Buffer.byteLength(this.partial) > MAX_REQUEST_LINE_BYTES) {
      this.partial = "";
      this.skipping = true;
      this.tooLong();
    }
  }

  /** The pipe closed: waits for the request in hand, then puts everything back. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.chain.then(() => this.system.restoreSync());
    return this.closed;
  }

  private tooLong(): void {
    this.refuse(0, "PRIVILEGED_LINE_TOO_LONG", `a request line over ${MAX_REQUEST_LINE_BYTES} bytes`);
  }

  private line(line: string): void {
    if (line.trim() === "") return;
    let request: PrivilegedRequest;
    try {
      request = parseRequest(line);
    } catch (error) {
      let id = 0;
      try {
        id = requestIdOf(JSON.parse(line));
      } catch {
        // not JSON: the refusal goes out with id 0
      }
      this.refuse(id, "PRIVILEGED_BAD_REQUEST", (error as Error).message);
      return;
    }
    if (this.backlog >= MAX_BACKLOG) {
      this.refuse(request.id, "PRIVILEGED_BUSY", `more than ${MAX_BACKLOG} requests waiting`);
      return;
    }
    this.backlog++;
    this.chain = this.chain.then(async () => {
      try {
        await this.apply(request);
        this.reply({ id: request.id, ok: true });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        this.refuse(
          request.id,
          typeof code === "string" ? code : "PRIVILEGED_FAILED",
          (error as Error).message ?? String(error),
        );
      } finally {
        this.backlog--;
      }
    });
  }

  private async apply(request: PrivilegedRequest): Promise<void> {
    switch (request.op) {
      case "address":
        return this.system.address({
          address: request.address,
          prefixLength: request.prefixLength,
          mtu: request.mtu,
        });
      case "address6":
        return this.system.address6(
          request.address === null
            ? undefined
            : { address: request.address, prefixLength: request.prefixLength ?? 128 },
        );
      case "dns":
        if (!this.options.dns) {
          throw Object.assign(new Error("this tether was started without DNS changes (--no-dns)"), {
            code: "PRIVILEGED_DNS_OFF" satisfies PrivilegedErrorCode,
          });
        }
        return this.system.dns(request.servers);
      case "restore":
        this.system.restoreSync();
        return;
    }
  }

  private refuse(id: number, code: string, message: string): void {
    this.refusals[code] = (this.refusals[code] ?? 0) + 1;
    this.options.onRefused?.(code, message);
    this.reply({ id, ok: false, code, message });
  }

  private reply(reply: PrivilegedReply): void {
    this.options.send(JSON.stringify(reply));
  }
}
