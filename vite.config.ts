import { defineConfig } from "vite";
import { VitePWA } from "vite-plugin-pwa";

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
      registerType: "prompt",
      injectRegister: false,
      includeAssets: ["icon.svg"],
      manifest: {
        name: "Tether",
        short_name: "Tether",
        description: "Relays your laptop's internet through this phone's browser.",
        start_url: "/",
        scope: "/",
        display: "standalone",
        theme_color: "#0f766e",
        background_color: "#ffffff",
        icons: [{ src: "icon.svg", sizes: "any", type: "image/svg+xml" }],
      },
      workbox: {
        globPatterns: ["**/*.{js,css,html,svg,png,webmanifest}"],
        navigateFallback: "/index.html",
        navigateFallbackDenylist: [/^\/(tunnel|healthz|metrics)/],
      },
    }),
  ],
});
