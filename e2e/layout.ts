/**
 * The network layout of the end-to-end topology: which namespaces exist, their addresses and
 * interface names, the links between them, routes, forwarding and resolvers. Data only; topology.ts
 * builds it.
 *
 *   laptop ns               phone ns                       exit ns                      internet ns
 *   wlan0 192.168.43.2 ===== hotspot0 192.168.43.1
 *                            rmnet0 203.0.113.2 ========== eth0 203.0.113.1
 *                                                          eth1 198.51.100.1 ========== eth0 198.51.100.2
 *   default via .43.1        default via 203.0.113.1       default via 198.51.100.2     connected only
 *   ip_forward 0             ip_forward 0 (no tethering)   ip_forward 1 (it NATs)       ip_forward 0
 *   DNS 192.168.43.1 (silent, like a hotspot's)            DNS 198.51.100.2 (the internet's dnsmasq)
 *
 * Nothing here links to the machine's own namespace, so no packet can leave: every address a test
 * targets is one of the above. The internet has no route back to 192.168.43.0/24 or 203.0.113.0/24,
 * so only the exit's NAT gets replies home; the phone does not forward, so the laptop reaches the
 * internet only through the tether.
 */

export type Role = "laptop" | "phone" | "exit" | "internet";
export const ROLES: readonly Role[] = ["laptop", "phone", "exit", "internet"];

/** Every address in the topology. Only these (and loopback) are ever targeted. */
export const ADDR = {
  /** laptop <-> phone: the phone's Wi-Fi hotspot. */
  hotspot: { subnet: "192.168.43.0/24", prefixLength: 24, phone: "192.168.43.1", laptop: "192.168.43.2" },
  /** phone <-> exit: the carrier. */
  carrier: { subnet: "203.0.113.0/24", prefixLength: 24, exit: "203.0.113.1", phone: "203.0.113.2" },
  /** exit <-> internet: the exit's egress. */
  egress: { subnet: "198.51.100.0/24", prefixLength: 24, exit: "198.51.100.1", internet: "198.51.100.2" },
} as const;

/** Interface names per namespace, named after what they stand for on real devices. */
export const IFNAME = {
  laptop: { hotspot: "wlan0" },
  phone: { hotspot: "hotspot0", carrier: "rmnet0" },
  exit: { carrier: "eth0", egress: "eth1" },
  internet: { egress: "eth0" },
} as const;

/** The laptop's resolver: the phone's hotspot address, where no DNS server answers. */
export const HOTSPOT_DNS = ADDR.hotspot.phone;
/** The internet's DNS server (dnsmasq, started by startInternet). */
export const INTERNET_DNS = ADDR.egress.internet;

/** The links, each a veth pair created straight into its two namespaces. */
export const LINKS: readonly {
  a: Role;
  aIf: string;
  aAddr: string;
  b: Role;
  bIf: string;
  bAddr: string;
  prefixLength: number;
}[] = [
  {
    a: "laptop",
    aIf: IFNAME.laptop.hotspot,
    aAddr: ADDR.hotspot.laptop,
    b: "phone",
    bIf: IFNAME.phone.hotspot,
    bAddr: ADDR.hotspot.phone,
    prefixLength: ADDR.hotspot.prefixLength,
  },
  {
    a: "phone",
    aIf: IFNAME.phone.carrier,
    aAddr: ADDR.carrier.phone,
    b: "exit",
    bIf: IFNAME.exit.carrier,
    bAddr: ADDR.carrier.exit,
    prefixLength: ADDR.carrier.prefixLength,
  },
  {
    a: "exit",
    aIf: IFNAME.exit.egress,
    aAddr: ADDR.egress.exit,
    b: "internet",
    bIf: IFNAME.internet.egress,
    bAddr: ADDR.egress.internet,
    prefixLength: ADDR.egress.prefixLength,
  },
];

/** The internet has none: it knows only its connected subnet, so replies need the exit's NAT. */
export const DEFAULT_GATEWAY: Partial<Record<Role, string>> = {
  laptop: ADDR.hotspot.phone,
  phone: ADDR.carrier.exit,
  exit: ADDR.egress.internet,
};

/**
 * The phone does not forward (a carrier that blocks tethering). The exit does, as its deployment
 * sets it (compose `sysctls:`; a container cannot write /proc/sys itself).
 */
export const IP_FORWARD: Record<Role, 0 | 1> = { laptop: 0, phone: 0, exit: 1, internet: 0 };

/** Each namespace's nameserver (written to its /etc/netns/<ns>/resolv.conf). */
export const RESOLVER: Record<Role, string> = {
  laptop: HOTSPOT_DNS,
  phone: INTERNET_DNS,
  exit: INTERNET_DNS,
  internet: INTERNET_DNS,
};

/** Namespace names are `<topology id>-<suffix>`. */
export const NS_SUFFIX: Record<Role, string> = {
  laptop: "laptop",
  phone: "phone",
  exit: "exit",
  internet: "inet",
};
