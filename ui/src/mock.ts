// Test builds only (`vite build --mode mock`): routes every Tauri IPC call
// through @tauri-apps/api/mocks to `window.__POND_MOCK__`, which each
// Playwright test installs with the answers its scenario needs, and
// records the calls in `window.__POND_CALLS__` for the test to inspect.

import { mockIPC } from "@tauri-apps/api/mocks";

type Handler = (cmd: string, args: Record<string, unknown>) => unknown;

declare global {
  interface Window {
    __POND_MOCK__?: Handler;
    __POND_CALLS__: { cmd: string; args: unknown }[];
  }
}

window.__POND_CALLS__ = [];

mockIPC(async (cmd, args) => {
  const a = (args ?? {}) as Record<string, unknown>;
  const recorded: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) if (k !== "onEvent") recorded[k] = v;
  window.__POND_CALLS__.push({ cmd, args: recorded });
  const handler = window.__POND_MOCK__;
  if (!handler) throw new Error(`no mock installed for ${cmd}`);
  return handler(cmd, a);
});
