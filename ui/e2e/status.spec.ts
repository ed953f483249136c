import { expect, test } from "@playwright/test";
import { appInfo, calls, install, openProject, project, status, step } from "./fixtures";

const base = {
  app_info: appInfo,
  recent_projects: { value: [] },
  open_project: { value: { kind: "project", project } },
  swap_plan: {
    value: {
      title: "swap production: green goes live",
      steps: [
        {
          description: "Make green live (release 20261125-111500-v2)",
          target: "droplet acme-shop-production-1 (203.0.113.10)",
          template: "common/swap",
          script: "#!/usr/bin/env bash\n# pond: template common/swap\nreadonly EXPECT_LIVE='blue'\n",
        },
      ],
    },
  },
  rollback_plan: {
    value: [
      {
        title: "rollback production: blue goes live",
        steps: [
          {
            description: "Make blue live (release 20261125-101500-v1)",
            target: "droplet acme-shop-production-1 (203.0.113.10)",
            template: "common/swap",
            script: "#!/usr/bin/env bash\n# pond: template common/swap\nreadonly EXPECT_LIVE='green'\n",
          },
        ],
      },
    ],
  },
};

test("the status panel shows each server's state, live colour, builds, services and disk", async ({ page }) => {
  await install(page, { ...base, env_status: { value: status("blue") } });
  await openProject(page);
  const row = page.getByRole("row", { name: /acme-shop-production-1/ });
  await expect(row).toContainText("running");
  await expect(row.locator(".badge")).toHaveText("blue");
  await expect(row).toContainText("v1");
  await expect(row).toContainText("v2");
  await expect(row).toContainText("php8.2-fpm running");
  await expect(row).toContainText("20.0 GB");
  await expect(page.getByText(/Updated just now/)).toBeVisible();
  await expect(page.getByRole("button", { name: "Deploy to green" })).toBeEnabled();
});

test("an unreachable server says why", async ({ page }) => {
  const s = status("blue");
  s.servers[0] = { ...s.servers[0]!, state: "unreachable", error: "cannot reach 198.18.3.10:22: connection refused", live: null, colours: [], services: [] };
  await install(page, { ...base, env_status: { value: s } });
  await openProject(page);
  const row = page.getByRole("row", { name: /acme-shop-production-1/ });
  await expect(row).toContainText("unreachable");
  await expect(row).toContainText("connection refused");
  await expect(page.getByRole("button", { name: "Swap…" })).toBeDisabled();
});

test("deploy shows the plan first, streams progress, then offers preview and swap", async ({ page }) => {
  const planned = [
    { description: "Build release 20261125-120000-v3 from releases/20261124-v2 with the upload (3 files, 2400000 bytes; 1 deleted) and point green at it", template: "common/deploy-apply", script: "#!/usr/bin/env bash\n# pond: template common/deploy-apply\n" },
    { description: "Start preparing the next deploy's copy in the background, once this deploy's lock is released", template: "common/spare", script: "#!/usr/bin/env bash\n# pond: template common/spare\n" },
  ];
  const server = { server: "acme-shop-production-1", release: "20261125-120000-v3", files_sent: 3, bytes_sent: 2_400_000, files_deleted: 1, plan: planned };
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    deploy: [
      { value: { colour: "green", first: false, preview_url: project.environments[0]!.preview_url, servers: [server], hooks: ["deploy/post-deploy.sh"] }, progress: [step("comparing 19,876 files")] },
      {
        value: { colour: "green", first: false, preview_url: project.environments[0]!.preview_url, servers: [server], hooks: ["deploy/post-deploy.sh"] },
        progress: [step("uploading 3 files (2.3 MB)"), { host: "acme-shop-production-1", stream: "out", line: "hook: php artisan migrate --force" }, step("green now runs v3")],
      },
    ],
    "plugin:opener|open_url": { value: null },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Deploy to green" }).click();
  const plan = page.getByRole("region", { name: "Deploy plan" });
  await expect(plan).toContainText("3 files to send (2.3 MB), 1 file to delete");
  await expect(plan).toContainText("Then the post-deploy hook deploy/post-deploy.sh runs in the new release.");
  await expect(plan).toContainText("The live colour is not touched");
  await plan.getByText("What runs on acme-shop-production-1").click();
  const steps = plan.getByRole("list", { name: "What runs on acme-shop-production-1" });
  await expect(steps.getByRole("listitem").first()).toContainText("Build release 20261125-120000-v3 from releases/20261124-v2");
  await expect(steps).toContainText("Start preparing the next deploy's copy in the background");
  await steps.getByText("Script: common/deploy-apply").click();
  await expect(steps).toContainText("# pond: template common/deploy-apply");
  await plan.getByRole("button", { name: "Deploy" }).click();
  const log = page.getByRole("log", { name: /Output of the last action/ });
  await expect(log).toContainText("uploading 3 files");
  await expect(log).toContainText("php artisan migrate --force");
  await expect(page.getByRole("status")).toHaveText("Deployed to green. Preview it, then swap.");
  await page.getByRole("button", { name: "Preview green" }).click();

  const made = await calls(page);
  const deploys = made.filter((c) => c.cmd === "deploy").map((c) => (c.args.req as { dry_run: boolean }).dry_run);
  expect(deploys).toEqual([true, false]);
  expect(made.find((c) => c.cmd === "plugin:opener|open_url")?.args).toMatchObject({ url: project.environments[0]!.preview_url });
});

test("swap shows the health check; unhealthy disables it until the env name is typed", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: [{ value: status("blue") }, { value: status("blue") }, { value: status("green") }],
    check_health: {
      value: [{ server: "acme-shop-production-1", host: "k3x9q2-green.shop.example.com", status: 500, healthy: false, details: "PHP Fatal error: Class \"Foo\" not found" }],
    },
    swap: { value: { live: "green", production_url: "http://shop.example.com/" }, progress: [step("green is live")] },
    rollback: { value: { live: "blue", release: "20261125-101500-v1", restored: null, data_left: null } },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Swap…" }).click();
  const dialog = page.getByRole("dialog", { name: "Swap production: green goes live" });
  await expect(dialog).toContainText("HTTP 500 not healthy");
  await expect(dialog).toContainText('Class "Foo" not found');
  await expect(dialog).toContainText("Swap is disabled: green is not healthy");
  // The engine's plan, as `pond swap --dry-run` prints it.
  await dialog.getByText("What runs: swap production: green goes live").click();
  await expect(dialog.getByRole("list", { name: "What runs: swap production: green goes live" })).toContainText(
    "Make green live (release 20261125-111500-v2) — on droplet acme-shop-production-1 (203.0.113.10)",
  );
  const go = dialog.getByRole("button", { name: "Force swap to green" });
  await expect(go).toBeDisabled();
  await dialog.getByLabel("Type production to force the swap").fill("productio");
  await expect(go).toBeDisabled();
  await dialog.getByLabel("Type production to force the swap").fill("production");
  await go.click();
  await expect(page.getByRole("status")).toHaveText("green is live on production.");
  const swapCall = (await calls(page)).find((c) => c.cmd === "swap");
  expect(swapCall?.args.req).toEqual({ dir: project.dir, env: "production", force: true });

  // Roll back is offered afterwards; without the data it needs no name.
  await page.locator(".next").getByRole("button", { name: "Roll back…" }).click();
  const back = page.getByRole("dialog", { name: "Roll back production" });
  await expect(back).toContainText("The database is left as it is.");
  // The engine's plan, as `pond rollback --dry-run` prints it.
  await back.getByText("What runs: rollback production: blue goes live").click();
  await expect(back.getByRole("list", { name: "What runs: rollback production: blue goes live" })).toContainText(
    "Make blue live (release 20261125-101500-v1) — on droplet acme-shop-production-1 (203.0.113.10)",
  );
  await back.getByRole("button", { name: "Roll back", exact: true }).click();
  await expect(page.getByRole("status")).toHaveText("Rolled back: blue is live again.");
  const rollbackCall = (await calls(page)).find((c) => c.cmd === "rollback");
  expect(rollbackCall?.args.req).toEqual({ dir: project.dir, env: "production", with_data: false });
  const planCall = (await calls(page)).find((c) => c.cmd === "rollback_plan");
  expect(planCall?.args.req).toEqual({ dir: project.dir, env: "production", release: null, with_data: false });
});

test("a rollback the engine would refuse says why and cannot be started; with the data, the plan is asked again", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("green") },
    rollback_plan: [
      { value: base.rollback_plan.value },
      { error: { message: "the snapshot swap-20261125-111500-v2 was taken before another release went live; nothing was changed", hint: null, problems: [] } },
    ],
  });
  await openProject(page);
  await page.getByRole("button", { name: "Roll back…" }).click();
  const back = page.getByRole("dialog", { name: "Roll back production" });
  await expect(back.getByRole("button", { name: "Roll back", exact: true })).toBeEnabled();
  await back.getByLabel("Also restore the database snapshot taken before that swap").check();
  await expect(back.getByRole("alert")).toContainText("was taken before another release went live");
  await back.getByLabel("Type production to restore the database").fill("production");
  await expect(back.getByRole("button", { name: "Roll back code and data" })).toBeDisabled();
  const asked = (await calls(page)).filter((c) => c.cmd === "rollback_plan").map((c) => c.args.req);
  expect(asked).toEqual([
    { dir: project.dir, env: "production", release: null, with_data: false },
    { dir: project.dir, env: "production", release: null, with_data: true },
  ]);
  expect((await calls(page)).some((c) => c.cmd === "rollback")).toBe(false);
});

test("the swap dialog says what runs first; rolling back the data asks for the name and says what was restored", async ({ page }) => {
  const withHooks = {
    ...project,
    environments: [
      {
        ...project.environments[0]!,
        before_swap: [
          "a snapshot of the database first (Roll back can restore it)",
          "pre-swap hook deploy/migrate.sh (once, on the first web server)",
        ],
      },
    ],
  };
  await install(page, {
    ...base,
    open_project: { value: { kind: "project", project: withHooks } },
    env_status: { value: status("blue") },
    check_health: { value: [{ server: "acme-shop-production-1", host: "h", status: 200, healthy: true, details: "" }] },
    rollback: {
      value: { live: "green", release: "20261125-101500-v1", restored: "swap-20261125-111500-v2", data_left: null },
      progress: [step("restoring acme_production from swap-20261125-111500-v2")],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Swap…" }).click();
  const swapDialog = page.getByRole("dialog", { name: "Swap production: green goes live" });
  await expect(swapDialog.getByRole("list", { name: "Runs before the swap" }).getByRole("listitem")).toHaveText([
    "a snapshot of the database first (Roll back can restore it)",
    "pre-swap hook deploy/migrate.sh (once, on the first web server)",
  ]);
  await swapDialog.getByRole("button", { name: "Cancel" }).click();

  await page.getByRole("button", { name: "Roll back…" }).click();
  const back = page.getByRole("dialog", { name: "Roll back production" });
  await back.getByLabel("Also restore the database snapshot taken before that swap").check();
  await expect(back).toContainText("Everything written to the database since that swap is lost.");
  const go = back.getByRole("button", { name: "Roll back code and data" });
  await expect(go).toBeDisabled();
  await back.getByLabel("Type production to restore the database").fill("production");
  await go.click();
  await expect(page.getByRole("status")).toHaveText(
    "Rolled back: green is live again. The database was restored from snapshot swap-20261125-111500-v2.",
  );
  const rollbackCall = (await calls(page)).find((c) => c.cmd === "rollback");
  expect(rollbackCall?.args.req).toEqual({ dir: project.dir, env: "production", with_data: true });
});

test("a healthy inactive colour swaps without force; a failed swap shows the error and its hint", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    check_health: { value: [{ server: "acme-shop-production-1", host: "h", status: 200, healthy: true, details: "" }] },
    swap: { error: { message: "the environment is locked by ana@laptop (pid 4242) since 12:01", hint: "Another deploy holds the lock.", problems: [] } },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Swap…" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("HTTP 200 healthy");
  await dialog.getByRole("button", { name: "Swap to green" }).click();
  await expect(page.getByRole("alert")).toContainText("locked by ana@laptop");
  await expect(page.getByRole("alert")).toContainText("Another deploy holds the lock.");
  await expect(page.locator(".busy")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Deploy to green" })).toBeEnabled();
  const swapCall = (await calls(page)).find((c) => c.cmd === "swap");
  expect(swapCall?.args.req).toEqual({ dir: project.dir, env: "production", force: false });
});

test("the log button shows the servers' logs", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    server_logs: { value: [{ host: "acme-shop-production-1", stream: "out", line: '{"op":"deploy","tag":"v2","by":"ana@laptop"}' }] },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Log", exact: true }).click();
  await expect(page.getByRole("dialog", { name: "Logs of production" })).toContainText('"op":"deploy"');
});

test("a running deploy can be cancelled; the window says what state the server is in", async ({ page }) => {
  const server = { server: "acme-shop-production-1", release: "r", files_sent: 3, bytes_sent: 2048, files_deleted: 0, plan: [] };
  const message = "Deploy cancelled. The live colour was not touched; the inactive colour may hold an unfinished release, which the next deploy replaces.";
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    deploy: [
      { value: { colour: "green", first: false, preview_url: "http://p/", servers: [server], hooks: [] } },
      { untilCancelled: { message, hint: null, problems: [] }, progress: [step("uploading 3 files")] },
    ],
  });
  await openProject(page);
  await page.getByRole("button", { name: "Deploy to green" }).click();
  await page.getByRole("region", { name: "Deploy plan" }).getByRole("button", { name: "Deploy" }).click();
  await expect(page.getByRole("log", { name: /Output of the last action/ })).toContainText("uploading 3 files");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("alert")).toContainText("The live colour was not touched");
  await expect(page.locator(".busy")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Deploy to green" })).toBeEnabled();
  const made = await calls(page);
  const runId = (made.filter((c) => c.cmd === "deploy")[1]?.args.req as { run_id: string }).run_id;
  expect(runId).toMatch(/^[0-9a-f-]{36}$/);
  expect(made.find((c) => c.cmd === "cancel")?.args).toEqual({ runId });
});

test("a server that differs from what Pond set up, and the environments it shares, show on the panel", async ({ page }) => {
  const s = status("blue");
  s.servers[0] = {
    ...s.servers[0]!,
    setup: ["/etc/nginx/sites-available/pond-acme-shop-production.conf was changed since it was provisioned"],
    shared_with: ["acme-shop/staging", "blog/production"],
  };
  await install(page, { ...base, env_status: { value: s } });
  await openProject(page);
  const row = page.getByRole("row", { name: /acme-shop-production-1/ });
  await expect(row).toContainText("setup differs");
  await expect(row).toContainText("pond-acme-shop-production.conf was changed since it was provisioned");
  await expect(row).toContainText("shared with acme-shop/staging, blog/production");
});

test("each server's processes and schedule show on the panel, flagged when one needs a look", async ({ page }) => {
  const s = status("blue");
  s.servers[0] = {
    ...s.servers[0]!,
    processes: [
      "queue@1: running for 3 min, release 20261125-111500-v2",
      "schedule: every minute; last run 2026-11-25T11:20:00Z FAILED (exited 1)",
    ],
    processes_need_attention: true,
  };
  await install(page, { ...base, env_status: { value: s } });
  await openProject(page);
  const row = page.getByRole("row", { name: /acme-shop-production-1/ });
  await expect(row).toContainText("processes need a look");
  const list = row.getByRole("list", { name: "Processes and schedule" });
  await expect(list.getByRole("listitem")).toHaveText([
    "queue@1: running for 3 min, release 20261125-111500-v2",
    "schedule: every minute; last run 2026-11-25T11:20:00Z FAILED (exited 1)",
  ]);
});

test("each server's certificate shows on the panel", async ({ page }) => {
  await install(page, { ...base, env_status: { value: status("blue") } });
  await openProject(page);
  const row = page.getByRole("row", { name: /acme-shop-production-1/ });
  const https = row.getByRole("note", { name: "HTTPS" });
  await expect(https).toContainText("certificate for shop.example.com, www.shop.example.com from R11, expires 2027-02-23");
  await expect(https).not.toHaveClass(/down/);
});

test("the panel renews the certificates on request and shows the engine's progress", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    renew_certificates: {
      value: "production's certificates are renewed.",
      progress: [step("Certificate renewal timer"), step("HTTPS certificate for shop.example.com"), step("Preview hosts' certificate: install")],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Renew certificates now" }).click();
  await expect(page.getByRole("status")).toHaveText("production's certificates are renewed.");
  await expect(page.getByRole("log", { name: /Output of the last action/ })).toContainText("Preview hosts' certificate: install");
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "renew_certificates")?.args.req).toEqual({ dir: expect.any(String), env: "production" });
});

test("the domain opens over HTTPS once served so, and a balancer's certificate shows above its servers", async ({ page }) => {
  const balanced = status("blue");
  balanced.balancer_https =
    "NOT SERVING HTTPS (pond tls … --renew requests a certificate for shop.example.com, *.shop.example.com) — http://shop.example.com/ only; the load balancer's certificate pond-acme-shop-production-1 is error";
  balanced.balancer_https_needs_attention = true;
  await install(page, { ...base, env_status: { value: balanced }, "plugin:opener|open_url": { value: null } });
  await openProject(page);
  const note = page.getByRole("note", { name: "Load balancer HTTPS" });
  await expect(note).toContainText("NOT SERVING HTTPS");
  await expect(note).toHaveClass(/down/);
  await page.getByRole("button", { name: "shop.example.com" }).click();
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "plugin:opener|open_url")?.args).toMatchObject({ url: "https://shop.example.com/" });
});

test("a failed certificate renewal is flagged on the panel", async ({ page }) => {
  const failed = status("blue");
  failed.servers[0] = {
    ...failed.servers[0]!,
    https: "LAST RENEWAL FAILED 2027-01-24T10:15:00Z: Detail: DNS problem: NXDOMAIN — https://shop.example.com/; certificate for shop.example.com",
    https_needs_attention: true,
  };
  await install(page, { ...base, env_status: { value: failed } });
  await openProject(page);
  const flagged = page.getByRole("row", { name: /acme-shop-production-1/ }).getByRole("note", { name: "HTTPS" });
  await expect(flagged).toContainText("LAST RENEWAL FAILED");
  await expect(flagged).toHaveClass(/down/);
  await expect(flagged).toHaveCSS("color", "rgb(179, 38, 30)");
});

test("a server whose setup differs can be provisioned again from the panel", async ({ page }) => {
  const differs = status("blue");
  differs.servers[0] = { ...differs.servers[0]!, setup: ["user web_acme-shop_production is missing"] };
  await install(page, {
    ...base,
    env_status: [{ value: differs }, { value: status("blue") }],
    fix_setup: { value: "production is provisioned again.", progress: [step("Base setup"), step("Record what was provisioned")] },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Provision again" }).click();
  await expect(page.getByRole("status")).toHaveText("production is provisioned again.");
  await expect(page.getByRole("log", { name: /Output of the last action/ })).toContainText("Record what was provisioned");
  await expect(page.getByRole("row", { name: /acme-shop-production-1/ })).toContainText("setup in step");
  await expect(page.getByRole("button", { name: "Provision again" })).toHaveCount(0);
});

test("destroy shows its plan, asks for the name, runs the plan shown and reopens the project", async ({ page }) => {
  const plan = [
    "keep droplet acme-shop-production-1 (id 7, 198.18.3.10): it also serves blog/production; remove only production from it (vhosts, PHP-FPM pool, users, releases, shared files, database) and its tag",
    "delete DNS record shop.example.com A 198.18.3.10",
    "remove environment production from pond.json",
  ];
  const emptied = { ...project, environments: [] };
  await install(page, {
    ...base,
    open_project: [{ value: { kind: "project", project } }, { value: { kind: "project", project: emptied } }],
    env_status: { value: status("blue") },
    plan_change: { value: { lines: plan } },
    change: { value: "production is destroyed.", progress: [step("removing production from acme-shop-production-1")] },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Destroy…" }).click();
  const dialog = page.getByRole("dialog", { name: "Destroy production" });
  await expect(dialog).toContainText("keep droplet acme-shop-production-1");
  await expect(dialog).toContainText("delete DNS record shop.example.com A 198.18.3.10");
  const confirm = dialog.getByRole("button", { name: "Destroy production" });
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel("Type production to confirm").fill("producti");
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel("Type production to confirm").fill("production");
  await confirm.click();
  await expect(page.getByRole("heading", { name: "production" })).toHaveCount(0);
  const made = await calls(page);
  const changes = made.filter((c) => c.cmd === "plan_change" || c.cmd === "change").map((c) => [c.cmd, c.args.req]);
  expect(changes).toEqual([
    ["plan_change", { dir: project.dir, env: "production", action: "destroy", droplets: 2, confirm: "" }],
    ["change", { dir: project.dir, env: "production", action: "destroy", droplets: 2, confirm: "production" }],
  ]);
  expect(made.filter((c) => c.cmd === "open_project")).toHaveLength(2);
});

test("unbind can also remove Pond's files, and says what stays", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    plan_change: [
      { value: { lines: ["forget acme-shop-production-1 in pond.json (no droplet is deleted)"] } },
      {
        value: {
          lines: [
            "remove production's layout, vhosts, PHP-FPM pool and users from acme-shop-production-1 (the servers, the other environments on them and the database stay)",
            "forget acme-shop-production-1 in pond.json (no droplet is deleted)",
          ],
        },
      },
    ],
  });
  await openProject(page);
  await page.getByRole("button", { name: "Unbind…" }).click();
  const dialog = page.getByRole("dialog", { name: "Unbind production" });
  await expect(dialog).toContainText("no droplet is deleted");
  await dialog.getByLabel("Also remove Pond's files for production from its servers").check();
  await expect(dialog).toContainText("the other environments on them and the database stay");
  const made = await calls(page);
  const actions = made.filter((c) => c.cmd === "plan_change").map((c) => (c.args.req as { action: string }).action);
  expect(actions).toEqual(["unbind", "purge"]);
});

test("scale plans for the number chosen, and a changed number needs its plan shown again", async ({ page }) => {
  const lb = { ...project, environments: [{ ...project.environments[0]!, kind: "load_balanced" }] };
  await install(page, {
    ...base,
    open_project: { value: { kind: "project", project: lb } },
    env_status: { value: status("blue") },
    plan_change: [
      { value: { lines: ["create droplet acme-shop-production-2 (about $6.00/month)"] } },
      { value: { lines: ["create droplets acme-shop-production-2…3 (about $12.00/month)"] } },
    ],
    change: { value: "production runs 3 web droplets behind its load balancer." },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Scale…" }).click();
  const dialog = page.getByRole("dialog", { name: "Scale production" });
  await expect(dialog).toContainText("acme-shop-production-2 (about $6.00/month)");
  await dialog.getByLabel("Type production to confirm").fill("production");
  await dialog.getByRole("spinbutton", { name: "Web droplets" }).fill("3");
  await expect(dialog).toContainText("Show the plan to continue.");
  await expect(dialog.getByRole("button", { name: "Scale production" })).toBeDisabled();
  await dialog.getByRole("button", { name: "Show the plan" }).click();
  await expect(dialog).toContainText("acme-shop-production-2…3");
  await dialog.getByLabel("Type production to confirm").fill("production");
  await dialog.getByRole("button", { name: "Scale production" }).click();
  await expect(page.getByRole("status")).toHaveText("production runs 3 web droplets behind its load balancer.");
  const made = await calls(page);
  const scaled = made.filter((c) => c.cmd === "plan_change" || c.cmd === "change").map((c) => [c.cmd, (c.args.req as { droplets: number }).droplets]);
  expect(scaled).toEqual([["plan_change", 2], ["plan_change", 3], ["change", 3]]);
});

test("secrets: names and times only; a typed value is sent once and cleared; generate and remove", async ({ page }) => {
  const listed = [{ server: "acme-shop-production-1", name: "APP_KEY", set_at: "2026-12-06T00:10:00Z" }];
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    list_secrets: [
      { value: listed },
      { value: [...listed, { server: "acme-shop-production-1", name: "MAIL_PASSWORD", set_at: "2026-12-06T00:12:00Z" }] },
      { value: listed },
      { value: listed },
    ],
    change_secret: [{ value: "MAIL_PASSWORD is set; the next deploy fills it in." }, { value: "MAIL_PASSWORD is removed." }],
  });
  await openProject(page);
  await page.getByRole("button", { name: "Secrets…" }).click();
  const dialog = page.getByRole("dialog", { name: "Secrets of production" });
  await expect(dialog).toContainText("APP_KEY");
  await dialog.getByLabel("Name").fill("mail password");
  await expect(dialog).toContainText("A-Z, 0-9 and '_'");
  await expect(dialog.getByRole("button", { name: "Set (or replace)" })).toBeDisabled();
  await dialog.getByLabel("Name").fill("MAIL_PASSWORD");
  await dialog.getByLabel("Value").fill("hunter2-&-more");
  await dialog.getByRole("button", { name: "Set (or replace)" }).click();
  await expect(dialog.getByRole("status")).toHaveText("MAIL_PASSWORD is set; the next deploy fills it in.");
  await expect(dialog.getByLabel("Value")).toHaveValue("");
  await expect(dialog).toContainText("MAIL_PASSWORD");
  await expect(dialog).not.toContainText("hunter2");
  await dialog.getByRole("button", { name: "Remove MAIL_PASSWORD" }).click();
  await dialog.getByRole("button", { name: "Confirm removing MAIL_PASSWORD" }).click();
  await expect(dialog.getByRole("status")).toHaveText("MAIL_PASSWORD is removed.");
  // A typed value does not outlive the dialog.
  await dialog.getByLabel("Value").fill("left-behind");
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Secrets…" }).click();
  await expect(dialog.getByLabel("Value")).toHaveValue("");
  const made = await calls(page);
  const changes = made.filter((c) => c.cmd === "change_secret").map((c) => c.args.req as { action: string; name: string; value: string | null });
  expect(changes.map((c) => [c.action, c.name, c.value])).toEqual([
    ["set", "MAIL_PASSWORD", "hunter2-&-more"],
    ["remove", "MAIL_PASSWORD", null],
  ]);
});

test("run command streams its output and shows its exit code", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    exec_command: { value: 3, progress: [{ host: "acme-shop-production-1", stream: "out", line: "Migration table not found." }] },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Run command…" }).click();
  const dialog = page.getByRole("dialog", { name: "Run a command on production" });
  await expect(dialog.getByRole("button", { name: "Run" })).toBeDisabled();
  await dialog.getByLabel("Command").fill("php artisan migrate:status");
  await dialog.getByLabel("Release").selectOption("inactive");
  await dialog.getByRole("button", { name: "Run" }).click();
  await expect(dialog.getByRole("status")).toHaveText("Exited with code 3.");
  await expect(dialog.getByRole("log", { name: /Output of the command/ })).toContainText("Migration table not found.");
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "exec_command")?.args.req).toEqual({
    dir: project.dir,
    env: "production",
    colour: "inactive",
    server: null,
    command: "php artisan migrate:status",
  });
});

test("backups: a failed last run shows red; back up now; a restore asks for the name first", async ({ page }) => {
  const server = "acme-shop-production-1";
  const one = { server, id: "backup-20261206T010000Z-scheduled", at: "2026-12-06T01:00:00Z", bytes: 2048 };
  const two = { server, id: "backup-20261206T020000Z-manual", at: "2026-12-06T02:00:00Z", bytes: 4096 };
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    list_backups: [
      { value: { backups: [one], last_runs: [{ server, at: "2026-12-06T01:30:00Z", ok: false, running: false, detail: "MariaDB is not running on this server" }] } },
      { value: { backups: [two, one], last_runs: [{ server, at: "2026-12-06T02:00:00Z", ok: true, running: false, detail: two.id }] } },
      { value: { backups: [two, one], last_runs: [{ server, at: "2026-12-06T02:05:00Z", ok: true, running: false, detail: "x" }] } },
    ],
    take_backup: { value: two.id, progress: [step("backup taken")] },
    restore_backup: { value: `production is restored from backup ${one.id}.`, progress: [step("database restored")] },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Backups…" }).click();
  const dialog = page.getByRole("dialog", { name: "Backups of production" });
  await expect(dialog).toContainText("FAILED — MariaDB is not running on this server");
  await expect(dialog.locator(".svc.down")).toHaveCount(1);
  await expect(dialog.locator(".svc.down")).toHaveCSS("color", "rgb(179, 38, 30)");
  await dialog.getByRole("button", { name: "Back up now" }).click();
  await expect(dialog.getByRole("status")).toHaveText(`Backup ${two.id} is kept on production's servers.`);
  await expect(dialog.getByRole("table", { name: "Backups" }).getByRole("row")).toHaveCount(3);
  await expect(dialog.locator(".svc.down")).toHaveCount(0);
  await dialog.getByRole("row", { name: new RegExp(one.id) }).getByRole("button", { name: "Restore…" }).click();
  const go = dialog.getByRole("button", { name: `Restore ${one.id}` });
  await expect(go).toBeDisabled();
  await dialog.getByLabel("Type production to restore the backup").fill("production");
  await go.click();
  await expect(dialog.getByRole("status")).toHaveText(`production is restored from backup ${one.id}.`);
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "restore_backup")?.args.req).toEqual({ dir: project.dir, env: "production", id: one.id });
});

test("releases: each kept one with tag, time, who and colour; rolling back to one shows its plan first", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: [{ value: status("blue") }, { value: status("green") }],
    rollback_to: { value: { live: "green", production_url: "http://shop.example.com/" }, progress: [step("green is healthy"), step("green is live")] },
    rollback_plan: {
      value: [
        {
          title: "point green of production at 20261124-090000-v0",
          steps: [
            {
              description: "Point green at release 20261124-090000-v0",
              target: "droplet web-1 (203.0.113.5)",
              template: "common/point",
              script: "#!/usr/bin/env bash\n# pond: template common/point\nreadonly COLOUR='green'\n",
            },
          ],
        },
        {
          title: "rollback production: green goes live",
          steps: [
            {
              description: "Make green live (release 20261124-090000-v0)",
              target: "droplet web-1 (203.0.113.5)",
              template: "common/swap",
              script: "#!/usr/bin/env bash\n# pond: template common/swap\nreadonly EXPECT_LIVE='blue'\n",
            },
          ],
        },
      ],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Releases…" }).click();
  const dialog = page.getByRole("dialog", { name: "Releases of production" });
  const rows = dialog.getByRole("table", { name: "Releases" }).getByRole("row");
  await expect(rows).toHaveCount(4);
  await expect(rows.nth(2)).toContainText("v1");
  await expect(rows.nth(2)).toContainText("blue (live)");
  await expect(rows.nth(2).getByRole("button", { name: "Roll back to this" })).toHaveCount(0);
  await expect(rows.nth(3)).toContainText("ben@desk");
  await rows.nth(3).getByRole("button", { name: "Roll back to this" }).click();
  const plan = dialog.getByRole("region", { name: "Rollback plan" });
  await expect(plan.getByRole("listitem")).toHaveText([
    "green is pointed at v0 on every server",
    "green is health-checked; if it is not healthy, nothing goes live",
    "green goes live; blue stays as it is, for a rollback",
  ]);
  // The engine's own plans, as `pond rollback --to ID --dry-run` prints them.
  await plan.getByText("What runs: point green of production at 20261124-090000-v0").click();
  await expect(plan.getByRole("list", { name: "What runs: point green of production at 20261124-090000-v0" })).toContainText(
    "Point green at release 20261124-090000-v0 — on droplet web-1 (203.0.113.5)",
  );
  await plan.getByText("What runs: rollback production: green goes live").click();
  const swapSteps = plan.getByRole("list", { name: "What runs: rollback production: green goes live" });
  await swapSteps.getByText("Script: common/swap").click();
  await expect(swapSteps.locator("pre")).toContainText("readonly EXPECT_LIVE='blue'");
  await plan.getByRole("button", { name: "Roll back to v0" }).click();
  await expect(page.getByRole("status")).toHaveText("green is live on production with release v0.");
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "rollback_plan")?.args.req).toEqual({ dir: project.dir, env: "production", release: "20261124-090000-v0", with_data: false });
  expect(made.find((c) => c.cmd === "rollback_to")?.args.req).toEqual({ dir: project.dir, env: "production", release: "20261124-090000-v0" });
});

test("releases: a rollback the engine would refuse says why and cannot be started", async ({ page }) => {
  await install(page, {
    ...base,
    env_status: { value: status("blue") },
    rollback_plan: {
      error: { message: "release 20261124-090000-v0 is not kept on web-2; nothing was changed. `pond releases production` lists what is", hint: null, problems: [] },
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Releases…" }).click();
  const dialog = page.getByRole("dialog", { name: "Releases of production" });
  const rows = dialog.getByRole("table", { name: "Releases" }).getByRole("row");
  await rows.nth(3).getByRole("button", { name: "Roll back to this" }).click();
  await expect(dialog).toContainText("is not kept on web-2");
  await expect(dialog.getByRole("button", { name: "Roll back to v0" })).toBeDisabled();
  expect((await calls(page)).some((c) => c.cmd === "rollback_to")).toBe(false);
});
