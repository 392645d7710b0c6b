// What the phone downloads to run Tether, gzipped: every script of the built app (the page's
// entry and its chunks, workbox-window, the service worker), plus HTML, CSS and manifest for the
// record. Fails (exit 1) when the JavaScript the app loads to start passes the budget. Chunks the
// page imports only when the user asks for them (the QR decoder, on "Scan") are listed apart and
// not in the budget: the e2e checks the page does not fetch them before.
//   npm run size            after `npm run build`
//   npm run size -- --json  machine-readable, for tests
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";

/** The budget for all JavaScript the phone loads, gzipped, bytes (issue 4: under 60 kB). */
export const JS_BUDGET_GZIP_BYTES = 60_000;
export const PWA_DIR = resolve(import.meta.dirname, "../dist/pwa");
/** Chunks loaded only on the user's request, by file name (a dynamic import in the page). */
export const ON_DEMAND_CHUNKS: readonly RegExp[] = [
  // page/qr-decode.ts (jsQR): imported by page/scan.ts when the user taps "Scan" and the browser has no BarcodeDetector.
  /^assets\/qr-decode-[\w-]+\.js$/,
];

export interface FileSize {
  file: string;
  bytes: number;
  gzip: number;
}

export interface BundleReport {
  /** Scripts the app loads to start (the budget's). */
  js: FileSize[];
  /** Scripts loaded only when the user asks (ON_DEMAND_CHUNKS). */
  onDemand: FileSize[];
  other: FileSize[];
  /** Gzipped bytes of `js`: what the budget limits. */
  jsGzipTotal: number;
  onDemandGzipTotal: number;
  budget: number;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function bundleReport(dir = PWA_DIR): BundleReport {
  const sizes = walk(dir)
    .filter((path) => /\.(m?js|css|html|webmanifest)$/.test(path))
    .map((path) => {
      const content = readFileSync(path);
      return {
        file: relative(dir, path),
        bytes: content.length,
        gzip: gzipSync(content, { level: 9 }).length,
      };
    })
    .sort((a, b) => b.gzip - a.gzip);
  const scripts = sizes.filter((s) => /\.m?js$/.test(s.file));
  const lazy = (s: FileSize) =>
    ON_DEMAND_CHUNKS.some((pattern) => pattern.test(s.file.replaceAll("\\", "/")));
  const js = scripts.filter((s) => !lazy(s));
  const onDemand = scripts.filter(lazy);
  const sum = (list: FileSize[]) => list.reduce((total, s) => total + s.gzip, 0);
  return {
    js,
    onDemand,
    other: sizes.filter((s) => !/\.m?js$/.test(s.file)),
    jsGzipTotal: sum(js),
    onDemandGzipTotal: sum(onDemand),
    budget: JS_BUDGET_GZIP_BYTES,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const report = bundleReport();
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;
    const line = (s: FileSize) =>
      `  ${s.file.padEnd(48)} ${kb(s.bytes).padStart(9)} ${kb(s.gzip).padStart(9)} gzip\n`;
    process.stdout.write(`JavaScript the phone loads (dist/pwa):\n${report.js.map(line).join("")}`);
    process.stdout.write(
      `  ${"total".padEnd(48)} ${"".padStart(9)} ${kb(report.jsGzipTotal).padStart(9)} gzip (budget ${kb(report.budget)})\n`,
    );
    process.stdout.write(
      `Loaded only when the user asks (not in the budget):\n${report.onDemand.map(line).join("")}`,
    );
    process.stdout.write(`Also loaded:\n${report.other.map(line).join("")}`);
  }
  if (report.jsGzipTotal > report.budget) {
    process.stderr.write(
      `bundle-size: ${report.jsGzipTotal} B of JavaScript (gzip) is over the ${report.budget} B budget\n`,
    );
    process.exit(1);
  }
}
