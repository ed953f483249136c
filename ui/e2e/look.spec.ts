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
