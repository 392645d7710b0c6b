import { defineConfig } from "vitest/config";

// Two projects: `unit` runs anywhere in seconds; `e2e` needs root, network namespaces, a built
// PWA and Debian's Chromium, and says so when it cannot run (it never passes silently).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{protocol,tunnel,tun,cli,laptop,exit,pwa,bench,testing,packaging}/**/*.test.ts"],
          environment: "node",
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
