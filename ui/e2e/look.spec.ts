// Readability: light and dark themes follow the OS; at 200 % zoom nothing
// needs horizontal scrolling. Screenshots of each screen go to
// test-results/screens/ (copied to docs/screenshots/).
import { expect, test } from "@playwright/test";
import { accounts, appInfo, install, key, openProject, project, status } from "./fixtures";

const scenario = {
  app_info: appInfo,
  recent_projects: { value: ["/home/dev/acme-shop", "/home/dev/blog"] },
  open_project: { value: { kind: "project", project } },
  env_status: { value: status("blue") },
  list_accounts: { value: accounts },
  ssh_key: { value: key },
};

for (const scheme of ["light", "dark"] as const) {
  test(`status panel in the ${scheme} theme`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: 1100, height: 720 });
    await install(page, scenario);
    await page.goto("/");
    await page.screenshot({ path: `test-results/screens/projects-${scheme}.png` });
    await openProject(page);
    await expect(page.getByRole("row", { name: /acme-shop-production-1/ })).toContainText("running");
    const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const dark = bg === "rgb(15, 23, 32)";
    expect(dark).toBe(scheme === "dark");
    await page.screenshot({ path: `test-results/screens/status-${scheme}.png` });
    await page.getByRole("button", { name: "Settings" }).click();
    await expect(page.getByText(key.fingerprint)).toBeVisible();
    await page.screenshot({ path: `test-results/screens/settings-${scheme}.png` });
  });
}

test("the deploy plan lists what runs on each server, with its scripts", async ({ page }) => {
  await page.setViewportSize({ width: 1100, height: 900 });
  const plan = [
    {
      description: "Build release 20261206T150000Z-v7 from releases/20261205T100000Z-v6 with the upload (3 files, 2400000 bytes; 1 deleted) and point green at it",
      target: "droplet acme-shop-production-1 (203.0.113.10)",
      template: "common/deploy-apply",
      script: "#!/usr/bin/env bash\n# pond: template common/deploy-apply\nreadonly ROOT='/var/www/pond/projects/acme-shop/production'\nreadonly TARGET='green'\n…",
    },
    { description: "Start preparing the next deploy's copy in the background, once this deploy's lock is released", target: "droplet acme-shop-production-1 (203.0.113.10)", template: "common/spare", script: "#!/usr/bin/env bash\n# pond: template common/spare\n…" },
  ];
  const server = { server: "acme-shop-production-1", release: "20261206T150000Z-v7", files_sent: 3, bytes_sent: 2_400_000, files_deleted: 1, plan };
  await install(page, {
    ...scenario,
    deploy: [{ value: { colour: "green", first: false, preview_url: project.environments[0]!.preview_url, servers: [server], hooks: ["deploy/post-deploy.sh"] } }],
  });
  await openProject(page);
  await page.getByRole("button", { name: "Deploy to green" }).click();
  const region = page.getByRole("region", { name: "Deploy plan" });
  await region.getByText("What runs on acme-shop-production-1").click();
  await region.getByText("Script: common/deploy-apply").click();
  await expect(region.getByRole("list", { name: "What runs on acme-shop-production-1" })).toContainText("readonly TARGET='green'");
  await region.screenshot({ path: "test-results/screens/deploy-plan-light.png" });
});

test("rolling back to a kept release shows the engine's plan first", async ({ page }) => {
  await page.setViewportSize({ width: 1100, height: 900 });
  const on = "droplet acme-shop-production-1 (203.0.113.10)";
  const release = "20261124-090000-v0";
  await install(page, {
    ...scenario,
    rollback_plan: {
      value: [
        {
          title: `point green of production at ${release}`,
          steps: [{ description: `Point green at release ${release}`, target: on, template: "common/point", script: "#!/usr/bin/env bash\n# pond: template common/point\nreadonly COLOUR='green'\n…" }],
        },
        {
          title: "rollback production: green goes live",
          steps: [{ description: `Make green live (release ${release})`, target: on, template: "common/swap", script: "#!/usr/bin/env bash\n# pond: template common/swap\nreadonly EXPECT_LIVE='blue'\n…" }],
        },
      ],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Releases…" }).click();
  const dialog = page.getByRole("dialog", { name: "Releases of production" });
  await dialog.getByRole("table", { name: "Releases" }).getByRole("row").nth(3).getByRole("button", { name: "Roll back to this" }).click();
  const plan = dialog.getByRole("region", { name: "Rollback plan" });
  await plan.getByText(`What runs: point green of production at ${release}`).click();
  await plan.getByText("What runs: rollback production: green goes live").click();
  await plan.getByText("Script: common/swap").click();
  await expect(plan.getByRole("list", { name: "What runs: rollback production: green goes live" }).locator("pre")).toContainText("readonly EXPECT_LIVE='blue'");
  await dialog.screenshot({ path: "test-results/screens/rollback-plan-light.png" });
});

test.describe("at 200 % zoom (a 1100×720 window: 550×360 CSS pixels at scale 2)", () => {
  test.use({ viewport: { width: 550, height: 360 }, deviceScaleFactor: 2 });
  for (const screen of ["Environments", "Settings"]) {
    test(`${screen} need no horizontal scrolling`, async ({ page }) => {
      await install(page, scenario);
      await openProject(page);
      await expect(page.getByRole("row", { name: /acme-shop-production-1/ })).toBeVisible();
      if (screen === "Settings") {
        await page.getByRole("button", { name: "Settings" }).click();
        await expect(page.getByText(key.fingerprint)).toBeVisible();
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      await page.screenshot({ path: `test-results/screens/${screen.toLowerCase()}-zoom200.png`, fullPage: true });
      expect(overflow).toBeLessThanOrEqual(0);
    });
  }
});
