// Sends the laptop's DNS to the servers the exit announced, and puts it back.
//
// With systemd-resolved, the servers are set on the TUN link (resolvectl), which the system forgets
// by itself when the link goes. Otherwise /etc/resolv.conf is rewritten IN PLACE, never replaced
// by rename: it may be a bind mount (as in `ip netns exec`) or a symlink another tool owns. The
// original is kept in a backup file first, so a run that was killed is undone by the next one.
//
// The servers come from the exit (or from a relay forging its WELCOME): each must be a plain IPv4
// address (nothing else may reach a resolv.conf line), and a change the system refuses leaves the
// last good servers in place.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIpAddress } from "../protocol/ip.js";
import { MAX_DNS_SERVERS } from "../protocol/limits.js";
import { run } from "../tun/command.js";
import { readFileNoFollowSync, writeFileSafelySync } from "./safe-write.js";

export const RESOLV_CONF = "/etc/resolv.conf";
const RESOLVED_STUB = "127.0.0.53";

export interface DnsOptions {
  tunName: string;
  /** Where the original resolv.conf is kept while the tether runs. */
  backupPath: string;
  resolvConf?: string;
}

export type DnsErrorCode =
  /** Not a list of IPv4 addresses (or too long): nothing was changed. */
  | "DNS_BAD_SERVERS"
  /** resolvectl or the write to resolv.conf failed; the previous servers are kept. */
  | "DNS_REFUSED";

export class DnsError extends Error {
  override name = "DnsError";
  constructor(
    readonly code: DnsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class Dns {
  private mode: "none" | "resolv.conf" | "resolved" = "none";
  private readonly resolvConf: string;

  constructor(private readonly options: DnsOptions) {
    this.resolvConf = options.resolvConf ?? RESOLV_CONF;
  }

  /** Restores a resolv.conf that a killed run left rewritten; returns true if it did. */
  recoverSync(): boolean {
    // The backup is in the user's config folder: read it without following a planted link.
    const original = readFileNoFollowSync(this.options.backupPath);
    if (original === undefined) return false;
    writeFileSync(this.resolvConf, original);
    rmSync(this.options.backupPath);
    return true;
  }

  /**
   * Points DNS at `servers`. Rejects with a DnsError, the last good configuration still in place,
   * when they are not IP addresses (IPv4 or IPv6, up to MAX_DNS_SERVERS of each, as WELCOME
   * carries them) or the system refuses the change.
   */
  async apply(servers: readonly string[]): Promise<void> {
    if (servers.length === 0) return;
    if (servers.length > 2 * MAX_DNS_SERVERS || !servers.every((server) => isIpAddress(server))) {
      throw new DnsError(
        "DNS_BAD_SERVERS",
        `the exit announced DNS servers that are not IP addresses: ${JSON.stringify(servers)}`,
      );
    }
    try {
      await this.change(servers);
    } catch (error) {
      throw new DnsError("DNS_REFUSED", `the system refused the DNS change: ${(error as Error).message}`);
    }
  }

  private async change(servers: readonly string[]): Promise<void> {
    if (this.mode === "none" && usesSystemdResolved(this.resolvConf)) {
      await run(["resolvectl", "dns", this.options.tunName, ...servers]);
      this.mode = "resolved"; // from here on, revert undoes the servers even if the domain fails
      await run(["resolvectl", "domain", this.options.tunName, "~."]);
      return;
    }
    if (this.mode === "resolved") {
      await run(["resolvectl", "dns", this.options.tunName, ...servers]); // all or nothing
      return;
    }
    if (this.mode === "none") {
      writeFileSafelySync(this.options.backupPath, readFileSync(this.resolvConf), 0o600);
      this.mode = "resolv.conf";
    }
    const text = [
      "# Written by tether while it runs; the original comes back when it stops.",
      ...servers.map((server) => `nameserver ${server}`),
      "",
    ].join("\n");
    const before = readFileSync(this.resolvConf);
    // A resumed session announces the same servers again: rewriting the file would only open a
    // moment (truncate, then write) in which a resolver reading it finds no server at all.
    if (before.toString() === text) return;
    try {
      writeFileSync(this.resolvConf, text); // in place: truncate and write, same inode
    } catch (error) {
      try {
        writeFileSync(this.resolvConf, before); // a short write must not leave no resolver at all
      } catch {
        // the backup still holds the original, and restoreSync puts it back
      }
      throw error;
    }
  }

  /** Puts the original configuration back. Synchronous so an exit handler can run it. */
  restoreSync(): void {
    if (this.mode === "resolv.conf") {
      this.recoverSync();
    } else if (this.mode === "resolved") {
      try {
        execFileSync("resolvectl", ["revert", this.options.tunName], { stdio: "ignore", timeout: 5_000 });
      } catch {
        // the link is gone, and its settings with it
      }
    }
    this.mode = "none";
  }
}

function usesSystemdResolved(resolvConf: string): boolean {
  try {
    return (
      existsSync("/run/systemd/resolve/stub-resolv.conf") &&
      readFileSync(resolvConf, "utf8").includes(`nameserver ${RESOLVED_STUB}`)
    );
  } catch {
    return false;
  }
}
