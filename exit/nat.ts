// The exit's way out: the TUN's address, IPv4 forwarding, and an nftables table of its own that
// masquerades the pool out of the egress interface. Set up at start, removed at stop; nothing else
// on the machine is touched, and ip_forward goes back to what it was.
import { readFile, writeFile } from "node:fs/promises";
import { CommandError, configureInterface, run } from "../tun/command.js";

/** The one nftables table the exit owns. */
export const NFT_TABLE = "tether_exit";
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

export interface NatConfig {
  tunName: string;
  /** Exit's address in the pool and the pool's prefix, e.g. 10.77.0.1 and 16. */
  gateway: string;
  poolCidr: string;
  prefixLength: number;
  mtu: number;
  /** Interface the internet is reached through; undefined: the default route's. */
  egress?: string | undefined;
}

export class NatError extends Error {
  override name = "NatError";
}

/** The interface of the default IPv4 route. */
export async function defaultRouteInterface(): Promise<string> {
  const { stdout } = await run(["ip", "-4", "-j", "route", "show", "default"]);
  const routes = JSON.parse(stdout) as { dev?: string }[];
  const dev = routes[0]?.dev;
  if (!dev) throw new NatError("no default IPv4 route: pass --egress IFACE to say where the internet is");
  return dev;
}

export class Nat {
  private previousForward: string | undefined;
  private tableAdded = false;
  egress = "";

  constructor(private readonly config: NatConfig) {}

  async start(): Promise<void> {
    const { config } = this;
    this.egress = config.egress ?? (await defaultRouteInterface());
    await configureInterface(config.tunName, {
      address: config.gateway,
      prefixLength: config.prefixLength,
      mtu: config.mtu,
    });
    this.previousForward = (await readFile(IP_FORWARD, "utf8")).trim();
    if (this.previousForward !== "1") await writeFile(IP_FORWARD, "1\n");
    await this.removeTable(); // a table left by a killed exit
    const ruleset = [
      `table ip ${NFT_TABLE} {`,
      "  chain postrouting {",
      "    type nat hook postrouting priority srcnat; policy accept;",
      `    ip saddr ${config.poolCidr} oifname "${this.egress}" masquerade`,
      "  }",
      "}",
      "",
    ].join("\n");
    try {
      await run(["nft", "-f", "-"], ruleset);
    } catch (error) {
      throw new NatError(`cannot add the nftables table: ${(error as CommandError).stderr?.trim() || error}`);
    }
    this.tableAdded = true;
  }

  async stop(): Promise<void> {
    if (this.tableAdded) await this.removeTable();
    this.tableAdded = false;
    if (this.previousForward !== undefined && this.previousForward !== "1") {
      await writeFile(IP_FORWARD, `${this.previousForward}\n`).catch(() => undefined);
    }
    this.previousForward = undefined;
  }

  private async removeTable(): Promise<void> {
    await run(["nft", "delete", "table", "ip", NFT_TABLE]).catch((error: unknown) => {
      if (!(error instanceof CommandError) || !/No such file|does not exist/i.test(error.stderr)) throw error;
    });
  }
}
