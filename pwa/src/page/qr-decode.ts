// The QR decoder for browsers without BarcodeDetector (Chromium on desktop Linux, Firefox, Safari
// before 17): jsQR, pure JavaScript. Loaded by scan.ts with a dynamic import only when the user asks
// to scan, so it is a chunk of its own and not in the app's main bundle.
import jsQR from "jsqr";

/** The text of the first QR code in an RGBA frame, or undefined. */
export function decodeQr(rgba: Uint8ClampedArray, width: number, height: number): string | undefined {
  // A screen or paper code is dark on light: inverted codes are not tried (half the work per frame).
  return jsQR(rgba, width, height, { inversionAttempts: "dontInvert" })?.data || undefined;
}
