// Draws the app's PNG icons (the same picture as pwa/public/icon.svg) with a minimal PNG encoder:
// no image library, no canvas. Run after changing the picture, and commit the PNGs:
//   node --import tsx tools/make-icons.ts
//
// The picture, in a 512-unit square: a teal tile, a white cross of round-capped bars, and a white
// dot at each end of the horizontal bar (laptop, phone in the middle, exit).
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { deflateSync } from "node:zlib";

const OUT_DIR = resolve(import.meta.dirname, "../pwa/public/icons");
const TEAL: Rgb = [0x0f, 0x76, 0x6e];
const WHITE: Rgb = [0xff, 0xff, 0xff];
/** Samples per pixel side: 4 x 4 = 16 per pixel, smooth enough for edges at any size. */
const SUPERSAMPLE = 4;

type Rgb = [number, number, number];

/** Signed distance (in icon units) from a point to the shapes; negative inside. */
const roundedSquare = (x: number, y: number, radius: number) => {
  const qx = Math.abs(x - 256) - (256 - radius);
  const qy = Math.abs(y - 256) - (256 - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
};
const capsule = (x: number, y: number, ax: number, ay: number, bx: number, by: number, r: number) => {
  const [px, py, dx, dy] = [x - ax, y - ay, bx - ax, by - ay];
  const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - t * dx, py - t * dy) - r;
};
const circle = (x: number, y: number, cx: number, cy: number, r: number) => Math.hypot(x - cx, y - cy) - r;

function glyph(x: number, y: number): number {
  return Math.min(
    capsule(x, y, 160, 256, 352, 256, 24),
    capsule(x, y, 256, 160, 256, 352, 24),
    circle(x, y, 160, 256, 40),
    circle(x, y, 352, 256, 40),
  );
}

interface IconSpec {
  file: string;
  size: number;
  /** Tile corner radius in icon units; 0: full bleed (maskable and Apple icons are cut by the OS). */
  cornerRadius: number;
}

const ICONS: IconSpec[] = [
  { file: "icon-192.png", size: 192, cornerRadius: 96 },
  { file: "icon-512.png", size: 512, cornerRadius: 96 },
  // Maskable: the OS cuts any shape out of it; the cross stays within the central 80 % safe zone.
  { file: "maskable-512.png", size: 512, cornerRadius: 0 },
  // iOS rounds the corners itself and shows transparency as black: full bleed, opaque.
  { file: "apple-touch-icon.png", size: 180, cornerRadius: 0 },
];

export function renderIcon(spec: IconSpec): Uint8Array {
  const { size } = spec;
  const rgba = new Uint8Array(size * size * 4);
  const unit = 512 / size;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let tile = 0;
      let mark = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = (px + (sx + 0.5) / SUPERSAMPLE) * unit;
          const y = (py + (sy + 0.5) / SUPERSAMPLE) * unit;
          const inTile = spec.cornerRadius === 0 || roundedSquare(x, y, spec.cornerRadius) <= 0;
          if (inTile) {
            tile++;
            if (glyph(x, y) <= 0) mark++;
          }
        }
      }
      const i = (py * size + px) * 4;
      const share = tile === 0 ? 0 : mark / tile;
      for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(TEAL[c]! + (WHITE[c]! - TEAL[c]!) * share);
      rgba[i + 3] = Math.round((255 * tile) / SUPERSAMPLE ** 2);
    }
  }
  return encodePng(size, size, rgba);
}

// ── PNG: signature, IHDR, one IDAT (zlib of filter-0 scanlines), IEND ─────────────────────────

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export function encodePng(width: number, height: number, rgba: Uint8Array): Uint8Array {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits per channel, RGBA, deflate, no filter set, no interlace
  const rows = new Uint8Array(height * (1 + width * 4));
  for (let y = 0; y < height; y++) {
    rows[y * (1 + width * 4)] = 0; // filter: none
    rows.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (1 + width * 4) + 1);
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", new Uint8Array(0)),
  ];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    png.set(part, offset);
    offset += part.length;
  }
  return png;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  mkdirSync(OUT_DIR, { recursive: true });
  for (const spec of ICONS) {
    const png = renderIcon(spec);
    writeFileSync(join(OUT_DIR, spec.file), png);
    process.stdout.write(`${spec.file}: ${spec.size}x${spec.size}, ${png.length} bytes\n`);
  }
}
