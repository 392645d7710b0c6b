// What tether may change on the laptop and must put back: its routes (both families), links and
// resolver, read in the laptop namespace so tests can compare before, during and after.
import type { Topology } from "./topology.js";

export interface NetworkState {
  routes: string;
  routes6: string;
  links: string;
  resolvConf: string;
}

export async function networkState(topology: Topology): Promise<NetworkState> {
  const run = async (argv: string[]) => (await topology.exec("laptop", argv, { check: true })).stdout;
  return {
    routes: await run(["ip", "route", "show", "table", "all"]),
    routes6: await run(["ip", "-6", "route", "show", "table", "all"]),
    // Link names and flags, without counters that move on their own.
    links: (await run(["ip", "-o", "link", "show"])).replace(/\\.*$/gm, "").replace(/ qlen \d+/g, ""),
    resolvConf: await run(["cat", "/etc/resolv.conf"]),
  };
}
