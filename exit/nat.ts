// The exit's way out: the TUN's address, IPv4 forwarding, and an nftables table of its own that
// masquerades the pool out of the egress interface and filters what is forwarded:
//
//   table ip tether_exit                     (one per network namespace; its comment names the TUN)
//     chain forward   TUN -> egress                       accept
//                     egress -> TUN, established/related  accept
//                     anything else from or to the TUN    drop   (no laptop reaches the LAN or
//                                                                 another laptop; no neighbour
//                                                                 reaches a laptop)
//                     policy: drop if forwarding was off before the exit turned it on (the host
//                     routed nothing then, and routes nothing else now), else accept (a router
//                     or a Docker host keeps forwarding what it forwarded)
//     chain postrouting  pool -> egress  masquerade
//
//   table ip6 tether_exit                    (only with IPv6: the same forward chain for IPv6, and
//     chain forward   ...as above...          the masquerade of a unique-local pool; a routed
//     chain postrouting  pool6 -> egress  masquerade   prefix goes out untranslated)
//
// Set up at start, removed at stop. ip_forward (and IPv6's all.forwarding) goes back to what it
// was, even after a crash: the original value is written to a state file (per network namespace)
// before it is changed, and a start that finds one restores that value rather than recording "on"
// as the original. A table whose comment names another live TUN is another exit's, and is never
// touched.
import { readlinkSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CommandError, configureInterface, run } from "../tun/command.js";

/** The one nftables table the exit owns. */
export const NFT_TABLE = "tether_exit";
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";
const IPV6_FORWARDING = "/proc/sys/net/ipv6/conf/all/forwarding";

/** The exit's IPv6 side, when it has one (exit/pool6.ts). */
export interface Nat6Config {
  /** The exit's address in the IPv6 pool (::1 of it) and the pool, e.g. fd12:3456:789a::/64. */
  gateway: string;
  poolCidr: string;
  /** The pool is a prefix routed to this host: forwarded untranslated, no masquerade. */
  routed: boolean;
}
/** Where the original ip_forward is kept while the exit runs: tmpfs, gone (rightly) at reboot. */
export const DEFAULT_STATE_DIR = "/run/tether-exit";

export interface NatConfig {
  tunName: string;
  /** Exit's address in the pool and the pool's prefix, e.g. 10.77.0.1 and 16. */
  gateway: string;
  poolCidr: string;
  prefixLength: number;
  mtu: number;
  /** Interface the internet is reached through; undefined: the default route's. */
  egress?: string | undefined;
  /** Folder of the ip_forward state file; DEFAULT_STATE_DIR when not given. */
  stateDir?: string | undefined;
  /** Something the operator should know (a firewall that drops forwarded packets); stderr if not given. */
  warn?: ((message: string) => void) | undefined;
  /** IPv6 for laptops too: the ip6 table, the TUN's IPv6 address and IPv6 forwarding. */
  ipv6?: Nat6Config | undefined;
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

/** The table's comment: which TUN (so which exit) owns it. */
export function ownerComment(tunName: string): string {
  return `tether exit on ${tunName}`;
}

/** The TUN named in a listed table's comment, or undefined (no comment: an older exit's table). */
export function tableOwner(listing: string): string | undefined {
  return /^\s*comment "tether exit on ([^"]+)"/m.exec(listing)?.[1];
}

/**
 * The exit's ruleset. `routerBefore`: forwarding was on before the exit came. `family` ip6: the
 * IPv6 table, with `masquerade: false` for a routed prefix.
 */
export function ruleset(config: {
  tunName: string;
  egress: string;
  poolCidr: string;
  routerBefore: boolean;
  family?: "ip" | "ip6";
  masquerade?: boolean;
}): string {
  const tun = JSON.stringify(config.tunName);
  const egress = JSON.stringify(config.egress);
  const family = config.family ?? "ip";
  const nat =
    config.masquerade === false
      ? []
      : [
          "  chain postrouting {",
          "    type nat hook postrouting priority srcnat; policy accept;",
          `    ${family} saddr ${config.poolCidr} oifname ${egress} masquerade`,
          "  }",
        ];
  return [
    `table ${family} ${NFT_TABLE} {`,
    `  comment ${JSON.stringify(ownerComment(config.tunName))}`,
    "  chain forward {",
    `    type filter hook forward priority filter; policy ${config.routerBefore ? "accept" : "drop"};`,
    `    iifname ${tun} oifname ${egress} accept`,
    `    iifname ${egress} oifname ${tun} ct state established,related accept`,
    `    iifname ${tun} counter drop`,
    `    oifname ${tun} counter drop`,
    "  }",
    ...nat,
    "}",
    "",
  ].join("\n");
}

interface ListedChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  policy?: string;
}

/**
 * Other tables' forward hooks that drop what our table accepts: in nftables a packet must pass
 * every base chain on a hook, so our `accept` does not override their `drop`. ufw, Docker and
 * firewalld all set one up. Returns one description per blocking chain (empty: nothing blocks).
 */
export function forwardBlockers(chains: readonly ListedChain[]): string[] {
  const found: string[] = [];
  for (const chain of chains) {
    if (chain.table === NFT_TABLE || chain.hook !== "forward") continue;
    if (!["ip", "ip6", "inet"].includes(chain.family)) continue;
    if (chain.policy === "drop" || chain.table === "firewalld") {
      found.push(`${chain.family} ${chain.table} ${chain.name} (policy ${chain.policy ?? "accept"})`);
    }
  }
  return found;
}

/** What to tell the operator about those chains: which firewall it looks like and what to add. */
export function explainForwardBlock(blockers: readonly string[], tun: string, egress: string): string {
  const hints = [
    `ufw: \`ufw route allow in on ${tun} out on ${egress}\``,
    `Docker: \`iptables -I DOCKER-USER -i ${tun} -o ${egress} -j ACCEPT\` and \`iptables -I DOCKER-USER -i ${egress} -o ${tun} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\``,
    `firewalld: \`firewall-cmd --zone=trusted --add-interface=${tun}\` (and masquerading allowed on ${egress}'s zone)`,
  ];
  return (
    `the host's firewall drops forwarded packets (${blockers.join("; ")}): laptops' traffic from ${tun} to ` +
    `${egress} passes the exit's own table but is dropped there unless that firewall allows it. ${hints.join("; ")}`
  );
}

/** This process's network namespace, as the kernel names it (`net:[4026531840]`): ip_forward is per namespace. */
function networkNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/net"))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** The original ip_forward, kept on disk while the exit has it changed. */
export class ForwardState {
  readonly path: string;

  /** `name`: which setting: ip_forward (IPv4) or ipv6_forwarding. */
  constructor(dir: string, namespace = networkNamespace(), name = "ip_forward") {
    this.path = join(dir, `${name}.net-${namespace}`);
  }

  /** The value recorded by an exit that did not get to put it back, or undefined. */
  async recorded(): Promise<string | undefined> {
    try {
      const value = (await readFile(this.path, "utf8")).trim();
      return /^[01]$/.test(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  async record(value: string): Promise<void> {
    try {
      await mkdir(join(this.path, ".."), { recursive: true, mode: 0o700 });
      await writeFile(this.path, `${value}\n`, { mode: 0o600 });
    } catch (error) {
      throw new NatError(
        `cannot record the original forwarding setting in ${this.path} (${(error as Error).message}): not turning forwarding on without a way back`,
      );
    }
  }

  async forget(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** One family's forwarding switch, turned on with its original kept on disk (ForwardState). */
class Forwarding {
  /** The setting before the exit (or a crashed exit before it) turned it on. */
  private original: string | undefined;

  constructor(
    private readonly file: string,
    private readonly state: ForwardState,
  ) {}

  /** Turns forwarding on; returns whether it was on before (the host was a router already). */
  async enable(): Promise<boolean> {
    const current = (await readFile(this.file, "utf8")).trim();
    const original = (await this.state.recorded()) ?? current;
    if (original !== "1") {
      await this.state.record(original); // before the change: a crash from here on is undone
      if (current !== "1") await writeFile(this.file, "1\n");
    } else {
      await this.state.forget().catch(() => undefined);
    }
    this.original = original;
    return original === "1";
  }

  async restore(): Promise<void> {
    if (this.original !== undefined && this.original !== "1") {
      await writeFile(this.file, `${this.original}\n`).catch(() => undefined);
      await this.state.forget().catch(() => undefined);
    }
    this.original = undefined;
  }
}

export class Nat {
  private tableAdded = false;
  private table6Added = false;
  private readonly forward: Forwarding;
  private readonly forward6: Forwarding;
  egress = "";
  /** Whether IPv6 came up (config.ipv6 given and the host let it): only then may laptops get IPv6. */
  ipv6 = false;

  constructor(private readonly config: NatConfig) {
    const dir = config.stateDir ?? DEFAULT_STATE_DIR;
    this.forward = new Forwarding(IP_FORWARD, new ForwardState(dir));
    this.forward6 = new Forwarding(IPV6_FORWARDING, new ForwardState(dir, undefined, "ipv6_forwarding"));
  }

  async start(): Promise<void> {
    const { config } = this;
    this.egress = config.egress ?? (await defaultRouteInterface());
    await this.claimTable(); // first: beside a live exit, not even the TUN's address is set
    await configureInterface(config.tunName, {
      address: config.gateway,
      prefixLength: config.prefixLength,
      mtu: config.mtu,
    });

    const routerBefore = await this.forward.enable();

    const blockers = await this.forwardBlockers();
    if (blockers.length) this.warn(explainForwardBlock(blockers, config.tunName, this.egress));

    try {
      await run(
        ["nft", "-f", "-"],
        ruleset({
          tunName: config.tunName,
          egress: this.egress,
          poolCidr: config.poolCidr,
          routerBefore,
        }),
      );
    } catch (error) {
      throw new NatError(`cannot add the nftables table: ${(error as CommandError).stderr?.trim() || error}`);
    }
    this.tableAdded = true;
    if (config.ipv6) await this.startIpv6(config.ipv6);
  }

  /**
   * IPv6 fails soft: a host without IPv6 (disabled, no forwarding allowed in a container) keeps
   * the exit running for IPv4, says why, and its laptops are told there is no IPv6.
   */
  private async startIpv6(ipv6: Nat6Config): Promise<void> {
    const { config } = this;
    const [, length] = ipv6.poolCidr.split("/");
    try {
      await this.claimTable("ip6");
      await run(["ip", "-6", "addr", "replace", `${ipv6.gateway}/${length}`, "dev", config.tunName, "nodad"]);
      const routerBefore = await this.forward6.enable();
      if (!routerBefore) await this.warnAcceptRa();
      await run(
        ["nft", "-f", "-"],
        ruleset({
          tunName: config.tunName,
          egress: this.egress,
          poolCidr: ipv6.poolCidr,
          routerBefore,
          family: "ip6",
          masquerade: !ipv6.routed,
        }),
      );
      this.table6Added = true;
      this.ipv6 = true;
    } catch (error) {
      const why =
        error instanceof CommandError ? error.stderr.trim() || error.message : (error as Error).message;
      this.warn(`IPv6 for laptops is off: ${why}. Laptops get IPv4 only (their IPv6 fails at once).`);
      await this.forward6.restore();
      if (this.table6Added) await this.removeTable("ip6");
      this.table6Added = false;
    }
  }

  /**
   * With forwarding on, Linux ignores router advertisements on an interface whose accept_ra is 1:
   * an egress that learnt its default IPv6 route from one would lose it when the route expires.
   */
  private async warnAcceptRa(): Promise<void> {
    const acceptRa = await readFile(`/proc/sys/net/ipv6/conf/${this.egress}/accept_ra`, "utf8").catch(
      () => "",
    );
    if (acceptRa.trim() === "1") {
      this.warn(
        `IPv6 forwarding is on now, so ${this.egress} stops accepting router advertisements (accept_ra is 1): if its default IPv6 route came from one, set \`sysctl net.ipv6.conf.${this.egress}.accept_ra=2\` or it expires`,
      );
    }
  }

  private warn(message: string): void {
    const warn = this.config.warn ?? ((text) => process.stderr.write(`tether-exit: warning: ${text}\n`));
    warn(message);
  }

  async stop(): Promise<void> {
    if (this.table6Added) await this.removeTable("ip6");
    this.table6Added = false;
    this.ipv6 = false;
    await this.forward6.restore();
    if (this.tableAdded) await this.removeTable();
    this.tableAdded = false;
    await this.forward.restore();
  }

  /**
   * Removes a table a killed exit left, but refuses to start beside a live one: the table names
   * its TUN, and a TUN exists only while its exit holds it (ours is held by now, so a table naming
   * ours is a leftover).
   */
  private async claimTable(family: "ip" | "ip6" = "ip"): Promise<void> {
    let listing: string;
    try {
      listing = (await run(["nft", "list", "table", family, NFT_TABLE])).stdout;
    } catch (error) {
      if (error instanceof CommandError && /No such file|does not exist/i.test(error.stderr)) return;
      throw error;
    }
    const owner = tableOwner(listing);
    if (owner !== undefined && owner !== this.config.tunName && (await linkExists(owner))) {
      throw new NatError(
        `another tether exit (TUN ${owner}) owns nftables table ${NFT_TABLE} in this network namespace: run one exit per namespace`,
      );
    }
    await this.removeTable(family);
  }

  private async forwardBlockers(): Promise<string[]> {
    try {
      const { stdout } = await run(["nft", "-j", "list", "chains"]);
      const listed = (JSON.parse(stdout) as { nftables?: { chain?: ListedChain }[] }).nftables ?? [];
      return forwardBlockers(listed.flatMap((entry) => (entry.chain ? [entry.chain] : [])));
    } catch {
      return []; // an nft without JSON: nothing to say rather than a wrong warning
    }
  }

  private async removeTable(family: "ip" | "ip6" = "ip"): Promise<void> {
    await run(["nft", "delete", "table", family, NFT_TABLE]).catch((error: unknown) => {
      if (!(error instanceof CommandError) || !/No such file|does not exist/i.test(error.stderr)) throw error;
    });
  }
}

async function linkExists(name: string): Promise<boolean> {
  try {
    await run(["ip", "link", "show", "dev", name]);
    return true;
  } catch {
    return false;
  }
}
