// Scenario plumbing for the Playwright tests: each test declares what the
// engine answers per command (a value, an error, progress lines then a
// value, or a sequence of those); the page's mock IPC plays it back and
// records every call.

import type { Page } from "@playwright/test";
import type {
  AccountsView,
  EnvStatus,
  KeyView,
  Progress,
  ProjectView,
  UiError,
} from "../src/lib/bindings";

export type Answer =
  | { value: unknown; progress?: Progress[] }
  | { error: UiError; progress?: Progress[] }
  /** Streams `progress`, then waits until the window calls `cancel`, then fails with `error`. */
  | { untilCancelled: UiError; progress?: Progress[] };

export type Scenario = Record<string, Answer | Answer[]>;

export async function install(page: Page, scenario: Scenario) {
  scenario = { startup_project: { value: null }, ...scenario };
  await page.addInitScript((s: Scenario) => {
    const used: Record<string, number> = {};
    let cancelled: (() => void) | null = null;
    window.__POND_MOCK__ = (cmd, args) => {
      if (cmd === "cancel" && !s["cancel"]) {
        const had = cancelled !== null;
        cancelled?.();
        cancelled = null;
        return had;
      }
      const entry = s[cmd];
      if (entry === undefined) throw { message: `the test gave no answer for ${cmd}`, hint: null, problems: [] };
      let answer: Answer;
      if (Array.isArray(entry)) {
        const i = used[cmd] ?? 0;
        used[cmd] = i + 1;
        answer = entry[Math.min(i, entry.length - 1)] as Answer;
      } else {
        answer = entry;
      }
      const channel = args.onEvent as { onmessage: (p: Progress) => void } | undefined;
      for (const p of answer.progress ?? []) channel?.onmessage(p);
      if ("untilCancelled" in answer) {
        const failure = answer.untilCancelled;
        return new Promise((_, reject) => (cancelled = () => reject(failure)));
      }
      if ("error" in answer) throw answer.error;
      return answer.value;
    };
  }, scenario);
}

/** The calls the page made, without progress channels. */
export async function calls(page: Page): Promise<{ cmd: string; args: Record<string, unknown> }[]> {
  return page.evaluate(() => window.__POND_CALLS__ as { cmd: string; args: Record<string, unknown> }[]);
}

export const appInfo: Answer = { value: { version: "0.1.0", templates: ["common/base", "common/swap"] } };

export const project: ProjectView = {
  dir: "/home/dev/acme-shop",
  file: "/home/dev/acme-shop/pond.json",
  name: "acme-shop",
  stack: "php",
  environments: [
    {
      name: "production",
      kind: "single",
      domain: "shop.example.com",
      production_url: "http://shop.example.com/",
      preview_url: "http://k3x9q2.shop.example.com/",
      droplets: [{ name: "acme-shop-production-1", role: "web", address: "198.18.3.10", pinned: true }],
      before_swap: [],
      has_database: true,
    },
  ],
};

export function status(live: "blue" | "green"): EnvStatus {
  return {
    env: "production",
    checked_at: new Date().toISOString(),
    production_url: "https://shop.example.com/",
    preview_url: "https://k3x9q2.shop.example.com/",
    balancer_https: null,
    balancer_https_needs_attention: false,
    servers: [
      {
        server: "acme-shop-production-1",
        state: "running",
        error: null,
        live,
        colours: [
          { colour: "blue", release: "20261125-101500-v1", tag: "v1", at: "2026-11-25T10:15:00Z", by: "ana@laptop" },
          { colour: "green", release: "20261125-111500-v2", tag: "v2", at: "2026-11-25T11:15:00Z", by: "ana@laptop" },
        ],
        services: [
          { name: "nginx", running: true },
          { name: "php8.2-fpm", running: true },
          { name: "mariadb", running: true },
        ],
        disk_free_mb: 20480,
        releases_on_disk: ["20261124-090000-v0", "20261125-101500-v1", "20261125-111500-v2"],
        releases: [
          { id: "20261125-111500-v2", tag: "v2", at: "2026-11-25T11:15:00Z", by: "ana@laptop", colours: ["green"], live: live === "green" },
          { id: "20261125-101500-v1", tag: "v1", at: "2026-11-25T10:15:00Z", by: "ana@laptop", colours: ["blue"], live: live === "blue" },
          { id: "20261124-090000-v0", tag: "v0", at: "2026-11-24T09:00:00Z", by: "ben@desk", colours: [], live: false },
        ],
        team_keys: "in step",
        team_keys_in_step: true,
        setup: [],
        shared_with: [],
        processes: [],
        processes_need_attention: false,
        https: "https://shop.example.com/; certificate for shop.example.com, www.shop.example.com from R11, expires 2027-02-23 10:15 UTC, renews after 2027-01-24 10:15 UTC",
        https_needs_attention: false,
      },
    ],
  };
}

export const accounts: AccountsView = {
  keychain: "Secret Service",
  keychain_usable: true,
  accounts: [{ name: "agency", api_url: "https://api.digitalocean.com/v2", email: "ops@agency.example", token_stored: true, acme: "Let's Encrypt" }],
};

export const key: KeyView = {
  path: "/home/dev/.config/pond/id_ed25519",
  fingerprint: "SHA256:q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c",
  public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1oE2Vf4d8b6k2m4n6p8r0t2v4x6z8B0D2F4H6J8L0N pond",
};

export function step(line: string, host = "acme-shop-production-1"): Progress {
  return { host, stream: "step", line };
}

export async function openProject(page: Page) {
  await page.goto("/");
  await page.getByLabel("Project folder").fill(project.dir);
  await page.getByRole("button", { name: "Open", exact: true }).click();
}
