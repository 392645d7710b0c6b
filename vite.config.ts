import { defineConfig } from "vite";
import { VitePWA } from "vite-plugin-pwa";

/** Colours of the app's chrome (splash screen, status bar); the icon's teal. */
const THEME = "#0f766e";
const BACKGROUND = "#ffffff";

// The phone app lives in pwa/ and is built into dist/pwa, which the exit serves.
export default defineConfig({
  root: "pwa",
  build: {
    outDir: "../dist/pwa",
    emptyOutDir: true,
    target: "es2022",
  },
  plugins: [
    VitePWA({
      // Our own service worker (pwa/src/sw/sw.ts): precache, navigation fallback, notification taps.
      strategies: "injectManifest",
      srcDir: "src/sw",
      filename: "sw.ts",
      // Updates wait for the page's word (applied when idle, or on the user's): see page/update.ts.
      registerType: "prompt",
      injectRegister: false,
      injectManifest: {
        globPatterns: ["**/*.{js,css,html,svg,png,webmanifest}"],
        // The QR decoder is fetched when the user asks to scan, not downloaded with the app.
        globIgnores: ["**/qr-decode-*.js"],
      },
      includeAssets: ["icon.svg", "icons/*.png"],
      manifest: {
        id: "/",
        name: "Tether",
        short_name: "Tether",
        description: "Relays your laptop's internet through this phone's browser.",
        lang: "en",
        start_url: "/",
        scope: "/",
        display: "standalone",
        theme_color: THEME,
        background_color: BACKGROUND,
        icons: [
          { src: "/icons/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any" },
          { src: "/icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any" },
          { src: "/icons/maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
          { src: "/icon.svg", sizes: "any", type: "image/svg+xml", purpose: "any" },
        ],
      },
    }),
  ],
});
