import { expect, test } from "@playwright/test";
import { accounts, appInfo, calls, install, key, openProject, project } from "./fixtures";

test("accounts: add checks the token with the engine, never shows it again; remove", async ({ page }) => {
  const after = { ...accounts, accounts: [...accounts.accounts, { name: "client-b", api_url: "https://api.digitalocean.com/v2", email: "b@example.com", token_stored: true, acme: "Let's Encrypt (staging)" }] };
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    list_accounts: [{ value: accounts }, { value: after }, { value: accounts }],
    ssh_key: { value: key },
    check_field: { value: null },
    add_account: { value: after.accounts[1] },
    remove_account: { value: null },
  });
  await page.goto("/");
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(page.getByText("Tokens are kept in: Secret Service")).toBeVisible();
  await expect(page.getByRole("row", { name: /agency/ })).toContainText("in keychain");

  await page.getByLabel("Name").fill("client-b");
  await page.getByLabel("Token").fill("dop_v1_secret_token_value");
  await page.locator("summary", { hasText: "Certificates" }).click();
  await page.getByLabel("ACME directory").fill("https://acme-staging-v02.api.letsencrypt.org/directory");
  await page.getByRole("button", { name: "Check and add" }).click();
  await expect(page.getByRole("status")).toContainText("Added client-b; the token is in your keychain.");
  await expect(page.getByRole("row", { name: /client-b/ })).toContainText("Let's Encrypt (staging)");
  await expect(page.getByLabel("Token")).toHaveValue("");
  await expect(page.locator("body")).not.toContainText("dop_v1_secret_token_value");

  await page.getByRole("button", { name: "Remove account client-b" }).click();
  await expect(page.getByRole("row", { name: /client-b/ })).toHaveCount(0);
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "add_account")?.args.req).toEqual({
    name: "client-b",
    api_url: "https://api.digitalocean.com/v2",
    token: "dop_v1_secret_token_value",
    acme_directory: "https://acme-staging-v02.api.letsencrypt.org/directory",
    acme_ca: null,
  });
  expect(made.find((c) => c.cmd === "remove_account")?.args).toEqual({ name: "client-b" });
});

test("a refused token is reported and nothing is added", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    list_accounts: { value: { ...accounts, accounts: [] } },
    ssh_key: { value: key },
    check_field: [{ value: null }],
    add_account: { error: { message: "checking the token against https://api.digitalocean.com/v2: DigitalOcean said 401: Unable to authenticate you", hint: "The DigitalOcean token was refused: check it in Settings → Accounts.", problems: [] } },
  });
  await page.goto("/");
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByLabel("Name").fill("agency");
  await page.getByLabel("Token").fill("dop_v1_wrong");
  await page.getByRole("button", { name: "Check and add" }).click();
  await expect(page.getByRole("alert")).toContainText("Unable to authenticate you");
  await expect(page.getByText("No accounts yet.")).toBeVisible();
});

test("an error's details copy for a bug report; the log folder opens from Settings", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    list_accounts: { value: { ...accounts, accounts: [] } },
    ssh_key: { value: key },
    check_field: [{ value: null }],
    add_account: { error: { message: "checking the token: DigitalOcean said 401", hint: "The token was refused.", problems: [{ path: "token", message: "refused" }] } },
    open_log_folder: { value: "/home/dev/.local/state/pond/logs" },
  });
  await page.goto("/");
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByLabel("Name").fill("agency");
  await page.getByLabel("Token").fill("dop_v1_wrong");
  await page.getByRole("button", { name: "Check and add" }).click();
  await page.getByRole("alert").getByRole("button", { name: "Copy details" }).click();
  await expect(page.getByRole("alert").getByRole("button", { name: "Copied" })).toBeVisible();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe("checking the token: DigitalOcean said 401\nThe token was refused.\ntoken: refused");
  expect(copied).not.toContain("dop_v1_wrong");

  await page.getByRole("button", { name: "Open log folder" }).click();
  await expect(page.getByText("Opened /home/dev/.local/state/pond/logs")).toBeVisible();
  const made = await calls(page);
  expect(made.filter((c) => c.cmd === "open_log_folder")).toHaveLength(1);
});

test("the SSH key shows its public half and fingerprint", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    list_accounts: { value: accounts },
    ssh_key: { value: key },
  });
  await page.goto("/");
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(page.getByText(key.fingerprint)).toBeVisible();
  await expect(page.getByText(key.public_key)).toBeVisible();
  await expect(page.locator("body")).not.toContainText("PRIVATE KEY");
  await page.getByRole("button", { name: "Copy public key" }).click();
  await expect(page.getByRole("button", { name: "Copied" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key.public_key);
});

test("team keys of the open project: listed, checked by the engine, added, removed", async ({ page }) => {
  const ana = { name: "ana", public_key: key.public_key.replace("pond", "ana@laptop") };
  const bob = { name: "bob", public_key: key.public_key.replace("pond", "bob@desk") };
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "project", project: { ...project, environments: [] } } },
    list_accounts: { value: accounts },
    ssh_key: { value: key },
    team_keys: { value: [ana] },
    // Member, then member + key for each key typed: only the private key is refused.
    check_field: [{ value: null }, { value: null }, { value: "this is a PRIVATE key; use the one line of its .pub file" }, { value: null }],
    add_team_key: { value: [ana, bob] },
    remove_team_key: { value: [bob] },
  });
  await openProject(page);
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { name: "Team keys of acme-shop" })).toBeVisible();
  await expect(page.getByRole("row", { name: /ana/ })).toContainText("ana@laptop");
  await page.getByLabel("Member", { exact: true }).fill("bob");
  await page.getByLabel("Public key (the .pub line)").fill("-----BEGIN OPENSSH PRIVATE KEY-----");
  await expect(page.getByText("this is a PRIVATE key")).toBeVisible();
  await expect(page.getByRole("button", { name: "Add key" })).toBeDisabled();
  await page.getByLabel("Public key (the .pub line)").fill(bob.public_key);
  await page.getByRole("button", { name: "Add key" }).click();
  await expect(page.getByRole("row", { name: /bob/ })).toContainText("bob@desk");
  await page.getByRole("button", { name: "Remove ana's key" }).click();
  await expect(page.getByRole("row", { name: /ana/ })).toHaveCount(0);
  const made = await calls(page);
  expect(made.find((c) => c.cmd === "add_team_key")?.args.req).toEqual({ dir: project.dir, name: "bob", public_key: bob.public_key });
});
