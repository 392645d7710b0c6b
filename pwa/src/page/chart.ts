// The throughput chart: two lines on a canvas, no library. Down is solid, up is dashed, so the
// lines differ by more than colour; the canvas's aria-label says the same in words.
import { formatRate } from "../shared/format.js";
import { CHART_SPAN_MS, type ChartPoint } from "../shared/rates.js";

export interface ChartColors {
  up: string;
  down: string;
  grid: string;
  text: string;
}

/** A round top for the y axis (1, 2 or 5 times a power of ten), at least `max`. */
export function niceCeiling(max: number): number {
  if (max <= 0) return 1000;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Draws the last CHART_SPAN_MS of `points` (bits/s) ending at `now`, in device pixels. */
export function drawChart(
  ctx: CanvasRenderingContext2D,
  width: number,
  height: number,
  scale: number,
  points: readonly ChartPoint[],
  now: number,
  colors: ChartColors,
): void {
  ctx.clearRect(0, 0, width, height);
  let max = 0;
  for (const p of points) max = Math.max(max, p.up, p.down);
  const top = niceCeiling(max);
  const pad = 4 * scale;
  const x = (at: number) => pad + ((at - (now - CHART_SPAN_MS)) / CHART_SPAN_MS) * (width - 2 * pad);
  const y = (bps: number) => height - pad - (bps / top) * (height - 2 * pad - 14 * scale);

  ctx.strokeStyle = colors.grid;
  ctx.lineWidth = scale;
  ctx.setLineDash([]);
  ctx.beginPath();
  for (const fraction of [0, 0.5, 1]) {
    const gy = Math.round(y(top * fraction)) + 0.5;
    ctx.moveTo(pad, gy);
    ctx.lineTo(width - pad, gy);
  }
  ctx.stroke();

  ctx.fillStyle = colors.text;
  ctx.font = `${11 * scale}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  ctx.fillText(formatRate(top), pad, pad - 2 * scale);

  const line = (pick: (p: ChartPoint) => number, color: string, dash: number[]) => {
    if (points.length < 2) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2 * scale;
    ctx.setLineDash(dash.map((d) => d * scale));
    ctx.beginPath();
    points.forEach((p, i) => {
      if (i === 0) ctx.moveTo(x(p.at), y(pick(p)));
      else ctx.lineTo(x(p.at), y(pick(p)));
    });
    ctx.stroke();
  };
  line((p) => p.down, colors.down, []);
  line((p) => p.up, colors.up, [6, 4]);
  ctx.setLineDash([]);
}

/** The chart in words, for screen readers. */
export function describeChart(points: readonly ChartPoint[]): string {
  if (points.length === 0) return "Throughput chart: no data yet";
  let up = 0;
  let down = 0;
  for (const p of points) {
    up = Math.max(up, p.up);
    down = Math.max(down, p.down);
  }
  return `Throughput over the last ${Math.round(CHART_SPAN_MS / 60_000)} minutes: peak down ${formatRate(down)}, peak up ${formatRate(up)}`;
}
