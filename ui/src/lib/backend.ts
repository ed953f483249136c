// The one door from the UI to the engine: the generated, typed commands
// (bindings.ts, from the Rust types) plus the native folder picker and
// opening a URL in the browser.
// Components receive a Backend and never import Tauri themselves, so tests
// can drive every screen through Tauri's IPC mocks.

import { open } from "@tauri-apps/plugin-dialog";
import { openUrl } from "@tauri-apps/plugin-opener";
import { commands, type UiError } from "./bindings";

export type Backend = typeof commands & {
  /** The native "choose a folder" dialog; null when cancelled. */
  pickFolder(): Promise<string | null>;
  /** Opens a URL in the user's browser. */
  openUrl(url: string): Promise<void>;
};

export const tauriBackend: Backend = {
  ...commands,
  pickFolder: async () => {
    const chosen = await open({ directory: true, multiple: false, title: "Open a project folder" });
    return typeof chosen === "string" ? chosen : null;
  },
  openUrl: (url) => openUrl(url),
};

/** Any rejection from a command, as the UiError shape the engine sends. */
export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "message" in e) {
    const o = e as Partial<UiError>;
    return { message: String(o.message), hint: o.hint ?? null, problems: o.problems ?? [] };
  }
  return { message: String(e), hint: null, problems: [] };
}
