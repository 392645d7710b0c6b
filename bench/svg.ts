// The bench's chart: panels of horizontal bars stacked in one SVG, each with a linear or a log
// scale (Tether and the kernel differ by orders of magnitude, so goodput and RTT need log). No
// dependencies: the SVG is a string.

export interface Bar {
  label: string;
  value: number | null | undefined;
  /** Tether, its baseline, or the ceiling: the three colours of the chart. */
  kind: "tether" | "baseline" | "ceiling";
}

export interface Panel {
  title: string;
  unit: string;
  scale: "linear" | "log";
  bars: Bar[];
}

const COLORS: Record<Bar["kind"], string> = { tether: "#2563eb", baseline: "#9ca3af", ceiling: "#f59e0b" };
const WIDTH = 860;
const LABEL_WIDTH = 290;
const PLOT_WIDTH = 440;
const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const PANEL_HEAD = 46;
const PANEL_FOOT = 26;

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function format(value: number): string {
  if (Number.isInteger(value)) return String(value);
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** Tick values and a value -> x function for a panel's bars. */
function axis(panel: Panel): { ticks: number[]; x: (v: number) => number } {
  const values = panel.bars.map((b) => b.value).filter((v): v is number => typeof v === "number" && v > 0);
  const max = values.length === 0 ? 1 : Math.max(...values);
  if (panel.scale === "log") {
    const min = values.length === 0 ? 0.1 : Math.min(...values);
    const lo = 10 ** Math.floor(Math.log10(min));
    const hi = 10 ** Math.ceil(Math.log10(max * 1.0001));
    const ticks: number[] = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
    const span = Math.log10(hi) - Math.log10(lo) || 1;
    return { ticks, x: (v) => (PLOT_WIDTH * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / span };
  }
  const step = 10 ** Math.floor(Math.log10(max));
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + step / 2; t += step) ticks.push(t);
  return { ticks, x: (v) => (PLOT_WIDTH * v) / hi };
}

export function renderChart(title: string, subtitle: string, panels: readonly Panel[]): string {
  const parts: string[] = [];
  let y = 56;
  for (const panel of panels) {
    const { ticks, x } = axis(panel);
    const height = panel.bars.length * (BAR_HEIGHT + BAR_GAP);
    parts.push(
      `<text x="16" y="${y + 18}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
      `<text x="${WIDTH - 16}" y="${y + 18}" font-size="11" text-anchor="end" fill="#555">${escapeXml(
        `${panel.unit}, ${panel.scale} scale`,
      )}</text>`,
    );
    const top = y + PANEL_HEAD - 14;
    for (const tick of ticks) {
      const tx = LABEL_WIDTH + x(tick);
      parts.push(
        `<line x1="${tx.toFixed(1)}" y1="${top}" x2="${tx.toFixed(1)}" y2="${top + height}" stroke="#e5e7eb"/>`,
        `<text x="${tx.toFixed(1)}" y="${top + height + 14}" font-size="10" text-anchor="middle" fill="#555">${format(tick)}</text>`,
      );
    }
    panel.bars.forEach((bar, i) => {
      const by = top + i * (BAR_HEIGHT + BAR_GAP);
      parts.push(
        `<text x="${LABEL_WIDTH - 8}" y="${by + BAR_HEIGHT - 4}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`,
      );
      if (typeof bar.value === "number" && bar.value > 0) {
        const w = Math.max(1, x(bar.value));
        parts.push(
          `<rect x="${LABEL_WIDTH}" y="${by}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${COLORS[bar.kind]}"/>`,
          `<text x="${(LABEL_WIDTH + w + 4).toFixed(1)}" y="${by + BAR_HEIGHT - 4}" font-size="11">${format(bar.value)}</text>`,
        );
      } else {
        parts.push(
          `<text x="${LABEL_WIDTH + 4}" y="${by + BAR_HEIGHT - 4}" font-size="11" fill="#999">not measured</text>`,
        );
      }
    });
    y = top + height + PANEL_FOOT;
  }
  const legend = (Object.keys(COLORS) as Bar["kind"][])
    .map(
      (kind, i) =>
        `<rect x="${16 + i * 110}" y="${y + 4}" width="12" height="12" fill="${COLORS[kind]}"/>` +
        `<text x="${32 + i * 110}" y="${y + 14}" font-size="11">${kind}</text>`,
    )
    .join("");
  const total = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${total}" viewBox="0 0 ${WIDTH} ${total}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="16" y="24" font-size="18" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="16" y="42" font-size="11" fill="#555">${escapeXml(subtitle)}</text>`,
    ...parts,
    legend,
    "</svg>",
    "",
  ].join("\n");
}
