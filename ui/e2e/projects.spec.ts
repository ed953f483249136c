import { expect, test } from "@playwright/test";
import { accounts, appInfo, calls, install, key, project } from "./fixtures";

test("a folder without pond.json offers to create one, checking the name with the engine", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "missing", dir: "/home/dev/New Shop" } },
    check_field: [
      { value: null },
      { value: "expected 1-40 characters of a-z, 0-9 and '-' for a project name" },
      { value: null },
    ],
    init_project: { value: { ...project, name: "new-shop", environments: [] } },
  });
  await page.goto("/");
  await expect(page.getByText("Engine 0.1.0 · 2 templates")).toBeVisible();
  await page.getByLabel("Project folder").fill("/home/dev/New Shop");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Create Pond project" })).toBeVisible();
  const name = page.getByLabel("Project name");
  await expect(name).toHaveValue("new-shop");

  await name.fill("New Shop!");
  await expect(page.getByText("expected 1-40 characters")).toBeVisible();
  await expect(page.getByRole("button", { name: "Create Pond project" })).toBeDisabled();
  await name.fill("new-shop");
  await expect(page.getByText("expected 1-40 characters")).toBeHidden();
  await page.getByLabel("Stack").selectOption("static");
  await page.getByRole("button", { name: "Create Pond project" }).click();
  await expect(page.getByRole("heading", { name: "No environments yet" })).toBeVisible();

  const made = await calls(page);
  const checks = made.filter((c) => c.cmd === "check_field").map((c) => c.args.req);
  expect(checks).toContainEqual({ kind: "project_name", value: "New Shop!" });
  expect(made.find((c) => c.cmd === "init_project")?.args.req).toEqual({
    dir: "/home/dev/New Shop",
    name: "new-shop",
    stack: "static",
  });
});

test("an invalid pond.json is shown as its problems with JSON paths", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: ["/home/dev/broken"] },
    open_project: {
      value: {
        kind: "invalid",
        file: "/home/dev/broken/pond.json",
        problems: [
          { path: "environments[0].domain", message: '"shop..example" is not a valid domain' },
          { path: "name", message: '"$(id)" is not a valid project name' },
        ],
      },
    },
  });
  await page.goto("/");
  await page.getByRole("button", { name: "/home/dev/broken" }).click();
  const alert = page.getByRole("alert");
  await expect(alert).toContainText("/home/dev/broken/pond.json is not a valid Pond project file");
  await expect(alert.locator("code").first()).toHaveText("environments[0].domain");
  await expect(alert).toContainText('"$(id)" is not a valid project name');
});

test("the folder picker is reachable by keyboard and opens the chosen project", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    "plugin:dialog|open": { value: "/home/dev/acme-shop" },
    open_project: { value: { kind: "project", project } },
    env_status: { value: null, progress: [] },
  });
  await page.goto("/");
  const picker = page.getByRole("button", { name: "Choose folder…" });
  for (let i = 0; i < 8 && !(await picker.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(picker).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "production" })).toBeVisible();
  expect((await calls(page)).find((c) => c.cmd === "open_project")?.args).toEqual({ dir: "/home/dev/acme-shop" });
});

test("engine errors are shown with what to do, and nothing keeps spinning", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { error: { message: "cannot read /root/x/pond.json: permission denied", hint: "Check the folder's permissions.", problems: [] } },
  });
  await page.goto("/");
  await page.getByLabel("Project folder").fill("/root/x");
  await page.getByRole("button", { name: "Open", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("permission denied");
  await expect(page.getByRole("alert")).toContainText("Check the folder's permissions.");
  await expect(page.getByRole("button", { name: "Open", exact: true })).toBeEnabled();
});

test("a project folder given on the command line opens at start", async ({ page }) => {
  await install(page, {
    startup_project: { value: "/home/dev/acme-shop" },
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "project", project } },
    env_status: { value: null },
  });
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "production" })).toBeVisible();
  expect((await calls(page)).find((c) => c.cmd === "open_project")?.args).toEqual({ dir: "/home/dev/acme-shop" });
});

test("an invalid pond.json given on the command line shows its problems at start", async ({ page }) => {
  await install(page, {
    startup_project: { value: "/home/dev/broken" },
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: {
      value: {
        kind: "invalid",
        file: "/home/dev/broken/pond.json",
        problems: [
          { path: "web_root", message: '"../" is not a valid web root; expected a relative directory inside the release like public' },
          { path: "shared_paths[0]", message: '".pond-seeded" is not a valid shared path' },
        ],
      },
    },
  });
  await page.goto("/");
  const alert = page.getByRole("alert");
  await expect(alert).toContainText("/home/dev/broken/pond.json is not a valid Pond project file");
  await expect(alert.locator("code")).toHaveText(["web_root", "shared_paths[0]"]);
  await expect(alert).toContainText('"../" is not a valid web root');
  await expect(page.getByLabel("Project folder")).toHaveValue("/home/dev/broken");
  const opens = (await calls(page)).filter((c) => c.cmd === "open_project");
  expect(opens.map((c) => c.args)).toEqual([{ dir: "/home/dev/broken" }]);
});

test("a folder without pond.json given on the command line offers to create one, once", async ({ page }) => {
  await install(page, {
    startup_project: { value: "/home/dev/New Shop" },
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "missing", dir: "/home/dev/New Shop" } },
    check_field: { value: null },
    list_accounts: { value: accounts },
    ssh_key: { value: key },
  });
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Create Pond project" })).toBeVisible();
  await expect(page.getByLabel("Project name")).toHaveValue("new-shop");
  // Away and back: the start folder is not opened again.
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Projects" }).click();
  await expect(page.getByRole("heading", { name: "Open a project" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Create Pond project" })).toBeHidden();
  expect((await calls(page)).filter((c) => c.cmd === "open_project")).toHaveLength(1);
});
