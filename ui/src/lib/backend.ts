// The one door from the UI to the engine. The Tauri implementation calls
// the shell's commands; the fake one lets the same UI run in a plain
// browser for tests. Components receive a Backend and never import Tauri.

import { invoke, isTauri } from "@tauri-apps/api/core";

export interface AppInfo {
  version: string;
  templates: string[];
}

export interface Backend {
  appInfo(): Promise<AppInfo>;
}

export const tauriBackend: Backend = {
  appInfo: () => invoke<AppInfo>("app_info"),
};

/** A backend with fixed answers, for the browser and tests. */
export function fakeBackend(info: AppInfo): Backend {
  return { appInfo: () => Promise.resolve(info) };
}

/** Tauri inside the app window; a labelled fake in a plain browser. */
export function chooseBackend(): Backend {
  return isTauri()
    ? tauriBackend
    : fakeBackend({ version: "browser preview", templates: [] });
}
