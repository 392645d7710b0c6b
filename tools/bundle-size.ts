// What the phone downloads to run Tether, gzipped: every script of the built app (the page's
// entry and its chunks, workbox-window, the service worker), plus HTML, CSS and manifest for the
// record. Fails (exit 1) when the JavaScript passes the budget.
//   npm run size            after `npm run build`
//   npm run size -- --json  machine-readable, for tests
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";

/** The budget for all JavaScript the phone loads, gzipped, bytes (issue 4: under 60 kB). */
export const JS_BUDGET_GZIP_BYTES = 60_000;
export const PWA_DIR = resolve(import.meta.dirname, "../dist/pwa");

export interface FileSize {
  file: string;
  bytes: number;
  gzip: number;
}

export interface BundleReport {
  js: FileSize[];
  other: FileSize[];
  jsGzipTotal: number;
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
  const js = sizes.filter((s) => /\.m?js$/.test(s.file));
  return {
    js,
    other: sizes.filter((s) => !/\.m?js$/.test(s.file)),
    jsGzipTotal: js.reduce((sum, s) => sum + s.gzip, 0),
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
    process.stdout.write(`Also loaded:\n${report.other.map(line).join("")}`);
  }
  if (report.jsGzipTotal > report.budget) {
    process.stderr.write(
      `bundle-size: ${report.jsGzipTotal} B of JavaScript (gzip) is over the ${report.budget} B budget\n`,
    );
    process.exit(1);
  }
}
