import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The Tauri shell loads http://localhost:1420 in dev and ui/dist when built.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 1420, strictPort: true, host: "127.0.0.1" },
  build: { outDir: "dist", target: "es2022", emptyOutDir: true },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
