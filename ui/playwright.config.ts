import { defineConfig } from "@playwright/test";

// Every screen, in Debian's Chromium, against the mock build (IPC answered
// by each test through @tauri-apps/api/mocks). The real-window tests are
// scripts/app-smoke (WebKitGTK under Xvfb).
export default defineConfig({
  testDir: "e2e",
  timeout: 30_000,
  workers: 2,
  reporter: [["list"]],
  use: {
    baseURL: "http://127.0.0.1:4174",
    launchOptions: {
      executablePath: process.env.POND_CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox"],
    },
  },
  webServer: {
    command: "npx vite preview --outDir dist-mock --port 4174 --strictPort --host 127.0.0.1",
    url: "http://127.0.0.1:4174",
    reuseExistingServer: false,
  },
});
