// Throughput and packet rates from the relay's running counters, read a few times a second. The
// relay only counts; rates, and the chart's history, are worked out here at sampling time, so the
// hot path pays nothing for them.

/** Most samples per second the page takes: more would cost battery for nothing a person sees. */
export const MAX_SAMPLES_PER_SECOND = 4;
export const SAMPLE_INTERVAL_MS = 1000 / MAX_SAMPLES_PER_SECOND;
/** "Now" is the rate over about this long: smooth enough to read, quick enough to follow. */
export const RATE_WINDOW_MS = 2_000;
/** The chart shows this much history, one point per CHART_STEP_MS. */
export const CHART_SPAN_MS = 5 * 60_000;
export const CHART_STEP_MS = 1_000;

export interface Counters {
  at: number;
  bytesUp: number;
  bytesDown: number;
  packetsUp: number;
  packetsDown: number;
}

export interface Rates {
  /** bits per second */
  up: number;
  down: number;
  /** packets per second */
  upPackets: number;
  downPackets: number;
}

export interface ChartPoint {
  at: number;
  /** bits per second over the step before `at` */
  up: number;
  down: number;
}

const MAX_CHART_POINTS = CHART_SPAN_MS / CHART_STEP_MS;

export class RateMeter {
  /** Recent samples for "now" (bounded: pruned to the window on every push). */
  private readonly recent: Counters[] = [];
  private readonly points: ChartPoint[] = [];
  private lastPoint: Counters | undefined;

  /** A sample of the relay's counters. Counters that went backwards (a new relay) start over. */
  push(sample: Counters): void {
    const newest = this.recent.at(-1);
    if (newest && (sample.bytesUp < newest.bytesUp || sample.bytesDown < newest.bytesDown)) {
      this.recent.length = 0;
      this.lastPoint = undefined;
    }
    this.recent.push(sample);
    while (this.recent.length > 2 && sample.at - this.recent[1]!.at >= RATE_WINDOW_MS) this.recent.shift();

    const last = this.lastPoint;
    if (!last) {
      this.lastPoint = sample;
    } else if (sample.at - last.at >= CHART_STEP_MS) {
      const seconds = (sample.at - last.at) / 1000;
      // A gap (the page was frozen) is drawn as what it averaged, at the time it ended.
      this.points.push({
        at: sample.at,
        up: ((sample.bytesUp - last.bytesUp) * 8) / seconds,
        down: ((sample.bytesDown - last.bytesDown) * 8) / seconds,
      });
      this.lastPoint = sample;
      while (this.points.length > MAX_CHART_POINTS || this.points[0]!.at < sample.at - CHART_SPAN_MS)
        this.points.shift();
    }
  }

  /** Rates over the last window; zero until two samples are in. */
  rates(): Rates {
    const first = this.recent[0];
    const last = this.recent.at(-1);
    if (!first || !last || last.at <= first.at) return { up: 0, down: 0, upPackets: 0, downPackets: 0 };
    const seconds = (last.at - first.at) / 1000;
    return {
      up: ((last.bytesUp - first.bytesUp) * 8) / seconds,
      down: ((last.bytesDown - first.bytesDown) * 8) / seconds,
      upPackets: (last.packetsUp - first.packetsUp) / seconds,
      downPackets: (last.packetsDown - first.packetsDown) / seconds,
    };
  }

  /** The chart's points, oldest first, at most CHART_SPAN_MS of them. */
  history(): readonly ChartPoint[] {
    return this.points;
  }
}
