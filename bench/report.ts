// What the bench reports: every measurement goes into a named series (one value per run), and the
// summary is the median of each series, turned into the JSON keys of issue 5 and a table. Ratios
// and added delays are taken within a run (Tether and its baseline measured back to back) and the
// median of those is reported, so a slow moment of the machine does not make a false ratio.

import { ipv6Rows, ipv6Summary } from "./ipv6-pass.js";
import { difference, maxDefined, median, minDefined, ratio, round } from "./stats.js";

/** The TUN calls the bench counts per transfer, at both ends. */
const TUN_CALLS = ["laptop_read", "laptop_write", "exit_read", "exit_write"] as const;

export class Series {
  readonly values = new Map<string, number[]>();

  add(name: string, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return;
    const list = this.values.get(name) ?? [];
    list.push(value);
    this.values.set(name, list);
  }

  median(name: string): number | undefined {
    return median(this.values.get(name) ?? []);
  }

  max(name: string): number | undefined {
    const list = this.values.get(name) ?? [];
    return list.length === 0 ? undefined : Math.max(...list);
  }

  /**
   * `name` = a - b (or a / b) run by run: the i-th value of a with the i-th of b, both measured in
   * run i, so a ratio or an added delay is always between neighbours in time.
   */
  derive(name: string, kind: "difference" | "ratio", a: string, b: string): void {
    const as = this.values.get(a) ?? [];
    const bs = this.values.get(b) ?? [];
    for (let i = 0; i < Math.min(as.length, bs.length); i++) {
      this.add(name, kind === "difference" ? difference(as[i], bs[i]) : ratio(as[i], bs[i]));
    }
  }

  toJSON(): Record<string, number[]> {
    return Object.fromEntries([...this.values].map(([name, list]) => [name, list.map((v) => round(v, 4)!)]));
  }
}

export interface Machine {
  cpu: string;
  cores: number;
  memory_gib: number;
  kernel: string;
  node: string;
  chromium: string;
  iperf3: string;
  commit: string;
  date: string;
  /**
   * The machine's 1-minute load average when the bench started and ended: anything else running
   * (another build, another test) shares the two cores with what is measured.
   */
  loadavg_1min_start: number;
  loadavg_1min_end: number | undefined;
  /** When dist/ (what is measured) was built, and whether sources changed after. */
  dist_built?: string;
  dist_older_than_sources?: boolean;
}

export interface Settings {
  runs: number;
  quick: boolean;
  seconds: Record<string, number>;
  congestion_controls: string[];
  unbatched_env: string;
  duration_s?: number;
}

/** The keys issue 5 names, then the details, all in the units their names say. */
export function summarize(
  series: Series,
  machine: Machine,
  settings: Settings,
  soak: Record<string, unknown> | null,
): Record<string, unknown> {
  const m = (name: string) => series.median(name);
  const r = (name: string, digits = 2) => round(m(name), digits);
  const ccs = settings.congestion_controls;
  /** Sparse flows beside one saturating transfer (series prefix p), Tether and direct. */
  const sparseRow = (p: string) => ({
    tether_mbps: r(`${p}.tether.mbps`),
    direct_mbps: r(`${p}.direct.mbps`),
    tether_rtt_p50_ms: r(`${p}.tether.p50`),
    tether_rtt_p99_ms: r(`${p}.tether.p99`),
    direct_rtt_p50_ms: r(`${p}.direct.p50`),
    direct_rtt_p99_ms: r(`${p}.direct.p99`),
    tether_rtt_p99_above_idle_ms: r(`${p}.tether.above_idle.p99`),
    tether_ping_loss_pct: r(`${p}.tether.loss`, 1),
    direct_ping_loss_pct: r(`${p}.direct.loss`, 1),
    tether_dns_query_p50_ms: r(`${p}.tether.dns_p50`),
    tether_dns_query_p99_ms: r(`${p}.tether.dns_p99`),
    direct_dns_query_p50_ms: r(`${p}.direct.dns_p50`),
    direct_dns_query_p99_ms: r(`${p}.direct.dns_p99`),
    tether_dns_loss_pct: r(`${p}.tether.dns_loss`, 1),
    direct_dns_loss_pct: r(`${p}.direct.dns_loss`, 1),
  });
  const shaped: Record<string, unknown> = {};
  const loadedPrefixes = ["loaded.up", "loaded.down"];
  for (const cc of ccs) {
    for (const dir of ["up", "down"]) {
      const p = `shaped.${cc}.${dir}`;
      if (cc === "reno") loadedPrefixes.push(p);
      shaped[`${cc}_${dir}`] = {
        ...sparseRow(p),
        goodput_ratio: r(`${p}.ratio`, 3),
        added_rtt_p50_ms: r(`${p}.added.p50`),
        added_rtt_p99_ms: r(`${p}.added.p99`),
      };
    }
  }
  /** The worst median over the loaded measurements (unshaped, and shaped with reno), both ways. */
  const worst = (suffix: string, digits = 1) =>
    round(maxDefined(...loadedPrefixes.map((p) => m(`${p}.${suffix}`))), digits);
  const shapedKeys = (cc: string) => ({
    ratio: round(minDefined(m(`shaped.${cc}.up.ratio`), m(`shaped.${cc}.down.ratio`)), 3),
    p50: round(maxDefined(m(`shaped.${cc}.up.added.p50`), m(`shaped.${cc}.down.added.p50`)), 2),
    p99: round(maxDefined(m(`shaped.${cc}.up.added.p99`), m(`shaped.${cc}.down.added.p99`)), 2),
  });
  const reno = shapedKeys("reno");
  const bbr = ccs.includes("bbr") ? shapedKeys("bbr") : undefined;
  /** One entry per unshaped transfer, keyed `kind_dir`, from its keys' prefix `kind.dir`. */
  const perTransfer = (value: (prefix: string) => unknown) =>
    Object.fromEntries(
      ["tether", "base64", "unbatched"].flatMap((kind) =>
        ["up", "down"].map((dir) => [`${kind}_${dir}`, value(`${kind}.${dir}`)]),
      ),
    );
  const cpuRole = (role: string) => r(`cpu.${role}`, 3);
  return {
    machine,
    settings,
    tether_tcp_up_mbps: r("tether.up.mbps", 1),
    tether_tcp_down_mbps: r("tether.down.mbps", 1),
    direct_tcp_up_mbps: r("direct.up.mbps", 1),
    direct_tcp_down_mbps: r("direct.down.mbps", 1),
    relay_ceiling_mbps: r("ceiling.up.mbps", 1),
    relay_ceiling_down_mbps: r("ceiling.down.mbps", 1),
    relay_ceiling_unbatched_mbps: r("ceiling.up1.mbps", 1),
    relay_ceiling_base64_mbps: r("ceiling.base64.mbps", 1),
    relay_ceiling_64k_mbps: r("ceiling.up64k.mbps", 1),
    relay_ceiling_64k_down_mbps: r("ceiling.down64k.mbps", 1),
    relay_ceiling_64k_messages_per_s: r("ceiling.up64k.mps", 0),
    tether_vs_ceiling_64k_ratio: r("tether.up.vs_ceiling64k", 3),
    tether_vs_ceiling_64k_down_ratio: r("tether.down.vs_ceiling64k", 3),
    relay_ceiling_messages_per_s: r("ceiling.up.mps", 0),
    relay_ceiling_unbatched_messages_per_s: r("ceiling.up1.mps", 0),
    relay_ceiling_renderer_cpu_s_per_gbit: r("ceiling.up.renderer_cpu", 3),
    tether_vs_ceiling_ratio: r("tether.up.vs_ceiling", 3),
    tether_vs_ceiling_down_ratio: r("tether.down.vs_ceiling", 3),
    base64_tcp_up_mbps: r("base64.up.mbps", 1),
    base64_tcp_down_mbps: r("base64.down.mbps", 1),
    unbatched_tcp_up_mbps: r("unbatched.up.mbps", 1),
    unbatched_tcp_down_mbps: r("unbatched.down.mbps", 1),
    packets_per_message: {
      binary_up: r("tether.up.ppm"),
      binary_down: r("tether.down.ppm"),
      base64_up: r("base64.up.ppm"),
      base64_down: r("base64.down.ppm"),
      unbatched_up: r("unbatched.up.ppm"),
      unbatched_down: r("unbatched.down.ppm"),
    },
    relay_bytes_per_message: Object.fromEntries(
      ["tether", "base64", "unbatched"].flatMap((kind) =>
        ["up", "down"].map((dir) => [
          `${kind === "tether" ? "binary" : kind}_${dir}`,
          r(`${kind}.${dir}.bpm`, 0),
        ]),
      ),
    ),
    tun_packets_per_call: perTransfer((p) =>
      Object.fromEntries(TUN_CALLS.map((call) => [call, r(`${p}.tun.${call}`)])),
    ),
    tun_bytes_per_call: perTransfer((p) =>
      Object.fromEntries(TUN_CALLS.map((call) => [call, r(`${p}.tun.${call}_bytes`, 0)])),
    ),
    tun_super_packets: perTransfer((p) =>
      Object.fromEntries(
        ["laptop", "exit"].flatMap((side) =>
          ["read", "written"].map((what) => [
            `${side}_${what}`,
            r(`${p}.tun.${side}_super_packets_${what}`, 0),
          ]),
        ),
      ),
    ),
    unshaped_loaded: { up: sparseRow("loaded.up"), down: sparseRow("loaded.down") },
    sparse_flows_under_load: {
      tether_ping_loss_pct: worst("tether.loss"),
      direct_ping_loss_pct: worst("direct.loss"),
      tether_dns_loss_pct: worst("tether.dns_loss"),
      direct_dns_loss_pct: worst("direct.dns_loss"),
      tether_dns_query_p99_ms: worst("tether.dns_p99", 2),
      direct_dns_query_p99_ms: worst("direct.dns_p99", 2),
      tether_rtt_p99_above_idle_ms: worst("tether.above_idle.p99", 2),
    },
    shaped_goodput_ratio: reno.ratio,
    shaped_added_rtt_p50_ms: reno.p50,
    shaped_added_rtt_p99_ms: reno.p99,
    shaped_goodput_ratio_bbr: bbr?.ratio ?? null,
    shaped_added_rtt_p50_ms_bbr: bbr?.p50 ?? null,
    shaped_added_rtt_p99_ms_bbr: bbr?.p99 ?? null,
    shaped,
    ipv6: ipv6Summary(series),
    idle_added_rtt_p50_ms: r("idle.added.p50", 3),
    idle_added_rtt_p99_ms: r("idle.added.p99", 3),
    idle_tether_rtt_p50_ms: r("idle.tether.p50", 3),
    idle_direct_rtt_p50_ms: r("idle.direct.p50", 3),
    tun_read_pps: r("tun.read_pps", 0),
    tun_write_pps: r("tun.write_pps", 0),
    cpu_s_per_gbit: cpuRole("total"),
    cpu_s_per_gbit_up: cpuRole("total_up"),
    cpu_s_per_gbit_down: cpuRole("total_down"),
    cpu_s_per_gbit_by_process: {
      laptop: cpuRole("laptop"),
      renderer: cpuRole("renderer"),
      exit: cpuRole("exit"),
      chromium_other: cpuRole("chromium_other"),
    },
    cpu_s_per_gbit_by_process_up: {
      laptop: cpuRole("laptop_up"),
      renderer: cpuRole("renderer_up"),
      exit: cpuRole("exit_up"),
    },
    cpu_s_per_gbit_by_process_down: {
      laptop: cpuRole("laptop_down"),
      renderer: cpuRole("renderer_down"),
      exit: cpuRole("exit_down"),
    },
    cpu_s_per_gbit_with_chromium_other: cpuRole("total_all"),
    cpu_cores_busy_up: {
      laptop: r("cores.tether.up.laptop", 2),
      renderer: r("cores.tether.up.renderer", 2),
      exit: r("cores.tether.up.exit", 2),
      chromium_other: r("cores.tether.up.chromium_other", 2),
    },
    cpu_cores_busy_down: {
      laptop: r("cores.tether.down.laptop", 2),
      renderer: r("cores.tether.down.renderer", 2),
      exit: r("cores.tether.down.exit", 2),
      chromium_other: r("cores.tether.down.chromium_other", 2),
    },
    peak_rss_mb: {
      laptop: round(series.max("rss.laptop"), 1),
      renderer: round(series.max("rss.renderer"), 1),
      exit: round(series.max("rss.exit"), 1),
    },
    losses: Object.fromEntries(
      ["tether", "base64", "unbatched"].flatMap((kind) =>
        ["up", "down"].map((dir) => [
          `${kind}_${dir}`,
          {
            inner_tcp_retransmits: r(`${kind}.${dir}.retransmits`, 0),
            laptop_tun_tx_dropped: r(`${kind}.${dir}.laptop_tun_drops`, 0),
            exit_tun_tx_dropped: r(`${kind}.${dir}.exit_tun_drops`, 0),
            relay_drops: r(`${kind}.${dir}.relay_drops`, 0),
            exit_drops: r(`${kind}.${dir}.exit_drops`, 0),
            laptop_drops: r(`${kind}.${dir}.laptop_drops`, 0),
            laptop_queue_delay_drops: r(`${kind}.${dir}.laptop_drops.queue_delay`, 0) ?? 0,
          },
        ]),
      ),
    ),
    soak_rss_growth_pct: soak === null ? null : (soak.rss_growth_pct ?? null),
    soak,
    samples: series.toJSON(),
  };
}

type Summary = ReturnType<typeof summarize>;

const fmt = (value: unknown, digits = 1): string =>
  typeof value === "number" ? value.toLocaleString("en-US", { maximumFractionDigits: digits }) : "-";
const pct = (value: unknown): string => (typeof value === "number" ? `${(value * 100).toFixed(0)}%` : "-");
/** An added delay, with its sign (Tether can be faster than its baseline within the noise). */
const added = (value: unknown, digits = 1): string =>
  typeof value === "number" ? `${value >= 0 ? "+" : "-"}${fmt(Math.abs(value), digits)}` : "-";

/** The table printed at the end: figure, Tether, baseline, comparison, the target. */
export function table(summary: Summary, series: Series): string {
  const s = summary as Record<string, unknown> & Summary;
  const m = (name: string) => series.median(name);
  const rows: string[][] = [["figure", "Tether", "baseline", "vs baseline", "target (issue 12)"]];
  const section = (title: string) => rows.push([`-- ${title}`, "", "", "", ""]);
  const add = (figure: string, tether: string, baseline = "", compared = "", target = "") =>
    rows.push([figure, tether, baseline, compared, target]);

  section("TCP goodput, Mbit/s, no shaping (baseline: direct path)");
  add(
    "up   laptop -> internet",
    fmt(s.tether_tcp_up_mbps, 0),
    fmt(s.direct_tcp_up_mbps, 0),
    pct(m("tether.up.vs_direct")),
    ">= 1000",
  );
  add(
    "down internet -> laptop",
    fmt(s.tether_tcp_down_mbps, 0),
    fmt(s.direct_tcp_down_mbps, 0),
    pct(m("tether.down.vs_direct")),
    ">= 1000",
  );
  section("bare relay ceiling, Mbit/s of TCP payload (baseline: ceiling)");
  add(
    "up, 32 packets/message",
    fmt(s.tether_tcp_up_mbps, 0),
    fmt(s.relay_ceiling_mbps, 0),
    pct(s.tether_vs_ceiling_ratio),
    ">= 80% of ceiling",
  );
  add(
    "down, 32 packets/message",
    fmt(s.tether_tcp_down_mbps, 0),
    fmt(s.relay_ceiling_down_mbps, 0),
    pct(m("tether.down.vs_ceiling")),
    ">= 80% of ceiling",
  );
  add(
    "up, 1 packet/message (Tether unbatched)",
    fmt(s.unbatched_tcp_up_mbps, 0),
    fmt(s.relay_ceiling_unbatched_mbps, 0),
    pct(m("unbatched.up.vs_ceiling")),
  );
  add(
    "up, base64 (Tether base64)",
    fmt(s.base64_tcp_up_mbps, 0),
    fmt(s.relay_ceiling_base64_mbps, 0),
    pct(m("base64.up.vs_ceiling")),
  );
  add(
    "up, one 64 KiB super-packet/message",
    fmt(s.tether_tcp_up_mbps, 0),
    fmt(s.relay_ceiling_64k_mbps, 0),
    pct(s.tether_vs_ceiling_64k_ratio),
  );
  add(
    "down, one 64 KiB super-packet/message",
    fmt(s.tether_tcp_down_mbps, 0),
    fmt(s.relay_ceiling_64k_down_mbps, 0),
    pct(s.tether_vs_ceiling_64k_down_ratio),
  );
  add(
    "ceiling messages/s, 32 / 1 packets per message",
    "",
    `${fmt(s.relay_ceiling_messages_per_s, 0)} / ${fmt(s.relay_ceiling_unbatched_messages_per_s, 0)}`,
  );
  section("encodings and batching, Mbit/s (baseline: binary, batched)");
  add("base64 up", fmt(s.base64_tcp_up_mbps, 0), fmt(s.tether_tcp_up_mbps, 0), pct(m("base64.up.vs_binary")));
  add(
    "base64 down",
    fmt(s.base64_tcp_down_mbps, 0),
    fmt(s.tether_tcp_down_mbps, 0),
    pct(m("base64.down.vs_binary")),
  );
  add(
    "unbatched up",
    fmt(s.unbatched_tcp_up_mbps, 0),
    fmt(s.tether_tcp_up_mbps, 0),
    pct(m("unbatched.up.vs_binary")),
  );
  add(
    "unbatched down",
    fmt(s.unbatched_tcp_down_mbps, 0),
    fmt(s.tether_tcp_down_mbps, 0),
    pct(m("unbatched.down.vs_binary")),
  );
  const ppm = s.packets_per_message as Record<string, number | null>;
  add(
    "packets/message up (bin/b64/unbatched)",
    `${fmt(ppm.binary_up)} / ${fmt(ppm.base64_up)} / ${fmt(ppm.unbatched_up)}`,
  );
  add(
    "packets/message down (bin/b64/unbatched)",
    `${fmt(ppm.binary_down)} / ${fmt(ppm.base64_down)} / ${fmt(ppm.unbatched_down)}`,
  );
  const bpm = s.relay_bytes_per_message as Record<string, number | null>;
  add(
    "bytes/message up (bin/b64/unbatched)",
    `${fmt(bpm.binary_up, 0)} / ${fmt(bpm.base64_up, 0)} / ${fmt(bpm.unbatched_up, 0)}`,
  );
  add(
    "bytes/message down (bin/b64/unbatched)",
    `${fmt(bpm.binary_down, 0)} / ${fmt(bpm.base64_down, 0)} / ${fmt(bpm.unbatched_down, 0)}`,
  );
  const calls = s.tun_packets_per_call as Record<string, Record<string, number | null>>;
  const callBytes = s.tun_bytes_per_call as Record<string, Record<string, number | null>>;
  for (const dir of ["up", "down"]) {
    const row = calls[`tether_${dir}`] ?? {};
    add(
      `packets per TUN call, ${dir}: laptop read/write, exit read/write`,
      `${fmt(row.laptop_read)}/${fmt(row.laptop_write)}, ${fmt(row.exit_read)}/${fmt(row.exit_write)}`,
    );
    const b = callBytes[`tether_${dir}`] ?? {};
    add(
      `bytes per TUN call, ${dir}: laptop read/write, exit read/write`,
      `${fmt(b.laptop_read, 0)}/${fmt(b.laptop_write, 0)}, ${fmt(b.exit_read, 0)}/${fmt(b.exit_write, 0)}`,
    );
  }
  section("RTT, ms, ping every 50 ms (baseline: direct path; compared: added)");
  add(
    "idle p50",
    fmt(s.idle_tether_rtt_p50_ms, 3),
    fmt(s.idle_direct_rtt_p50_ms, 3),
    added(s.idle_added_rtt_p50_ms, 3),
    "added <= 1.0",
  );
  const sparseRows = (label: string, row: Record<string, number | null>) => {
    add(
      `${label}: ping loss %`,
      fmt(row.tether_ping_loss_pct, 1),
      fmt(row.direct_ping_loss_pct, 1),
      "",
      "<= direct",
    );
    add(
      `${label}: DNS query p50 / p99`,
      `${fmt(row.tether_dns_query_p50_ms)} / ${fmt(row.tether_dns_query_p99_ms)}`,
      `${fmt(row.direct_dns_query_p50_ms)} / ${fmt(row.direct_dns_query_p99_ms)}`,
    );
    add(
      `${label}: DNS loss %`,
      fmt(row.tether_dns_loss_pct, 1),
      fmt(row.direct_dns_loss_pct, 1),
      "",
      "<= direct",
    );
  };
  const unshaped = s.unshaped_loaded as Record<string, Record<string, number | null>>;
  for (const [dir, row] of Object.entries(unshaped)) {
    const label = `no shaping, ${dir === "up" ? "upload" : "download"}`;
    add(`${label}: goodput Mbit/s`, fmt(row.tether_mbps, 0), fmt(row.direct_mbps, 0));
    add(
      `${label}: RTT p50 / p99`,
      `${fmt(row.tether_rtt_p50_ms)} / ${fmt(row.tether_rtt_p99_ms)}`,
      `${fmt(row.direct_rtt_p50_ms)} / ${fmt(row.direct_rtt_p99_ms)}`,
      `p99 ${added(row.tether_rtt_p99_above_idle_ms)} over idle`,
      "<= 15 over idle",
    );
    sparseRows(label, row);
  }
  const shaped = s.shaped as Record<string, Record<string, number | null>>;
  for (const [name, row] of Object.entries(shaped)) {
    const [cc, dir] = name.split("_");
    const load = dir === "up" ? "upload" : "download";
    add(
      `20 Mbit/s, ${cc}, ${load}: goodput Mbit/s`,
      fmt(row.tether_mbps, 1),
      fmt(row.direct_mbps, 1),
      pct(row.goodput_ratio),
      cc === "reno" ? ">= 90%" : "",
    );
    add(
      `20 Mbit/s, ${cc}, ${load}: RTT p50`,
      fmt(row.tether_rtt_p50_ms, 1),
      fmt(row.direct_rtt_p50_ms, 1),
      added(row.added_rtt_p50_ms),
      cc === "reno" ? "added <= 15" : "",
    );
    add(
      `20 Mbit/s, ${cc}, ${load}: RTT p99`,
      fmt(row.tether_rtt_p99_ms, 1),
      fmt(row.direct_rtt_p99_ms, 1),
      added(row.added_rtt_p99_ms),
      cc === "reno" ? "added <= 25" : "",
    );
    sparseRows(`20 Mbit/s, ${cc}, ${load}`, row);
  }
  ipv6Rows(s, section, add);
  section("CPU seconds per Gbit of goodput (up and down together); cores busy up / down");
  const cpu = s.cpu_s_per_gbit_by_process as Record<string, number | null>;
  const up = s.cpu_cores_busy_up as Record<string, number | null>;
  const down = s.cpu_cores_busy_down as Record<string, number | null>;
  for (const role of ["laptop", "renderer", "exit", "chromium_other"]) {
    add(
      role === "chromium_other" ? "chromium browser+network+gpu" : role,
      fmt(cpu[role], 3),
      "",
      `${fmt(up[role], 2)} / ${fmt(down[role], 2)} cores`,
    );
  }
  add("total laptop + renderer + exit", fmt(s.cpu_s_per_gbit, 3), "", "", "<= 1.0");
  add("total with all of chromium", fmt(s.cpu_s_per_gbit_with_chromium_other, 3));
  section(
    "losses per unshaped transfer: inner TCP retransmits / TUN tx drops laptop, exit / relay / exit / laptop drops",
  );
  const losses = s.losses as Record<string, Record<string, number | null>>;
  for (const [name, row] of Object.entries(losses)) {
    add(
      name.replace("_", " "),
      [
        row.inner_tcp_retransmits,
        row.laptop_tun_tx_dropped,
        row.exit_tun_tx_dropped,
        row.relay_drops,
        row.exit_drops,
        row.laptop_drops,
      ]
        .map((v) => fmt(v, 0))
        .join(" / "),
    );
  }
  section("peak RSS (VmHWM), MiB");
  const rss = s.peak_rss_mb as Record<string, number | null>;
  add("laptop / renderer / exit", `${fmt(rss.laptop)} / ${fmt(rss.renderer)} / ${fmt(rss.exit)}`);
  add(
    "soak RSS growth, %",
    s.soak_rss_growth_pct === null ? "not run (--soak)" : fmt(s.soak_rss_growth_pct, 1),
    "",
    "",
    "<= 5",
  );
  section("TUN micro-benchmark (bench/tun.ts), packets/s");
  add("read", fmt(s.tun_read_pps, 0), "", "", ">= 200,000");
  add("write", fmt(s.tun_write_pps, 0), "", "", ">= 250,000");

  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.filter((row) => !row[0]!.startsWith("-- ")).map((row) => row[column]!.length)),
  );
  return rows
    .map((row) =>
      row[0]!.startsWith("-- ")
        ? row[0]!
        : row
            .map((cell, column) => (column === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[column]!)))
            .join("  ")
            .trimEnd(),
    )
    .join("\n");
}
