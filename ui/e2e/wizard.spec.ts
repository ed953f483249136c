import { expect, test } from "@playwright/test";
import { accounts, appInfo, calls, install, openProject, project, status, step } from "./fixtures";

const catalog = {
  regions: [
    { slug: "ams3", name: "Amsterdam 3", available: true },
    { slug: "fra1", name: "Frankfurt 1", available: true },
  ],
  sizes: [
    { slug: "s-1vcpu-1gb", memory_mb: 1024, vcpus: 1, disk_gb: 25, price_monthly: 6, regions: ["ams3", "fra1"] },
    { slug: "s-2vcpu-4gb", memory_mb: 4096, vcpus: 2, disk_gb: 80, price_monthly: 24, regions: ["fra1"] },
  ],
  images: [
    { slug: "debian-13-x64", label: "Debian 13 x64", tested: true },
    { slug: "debian-12-x64", label: "Debian 12 x64", tested: true },
    { slug: "ubuntu-24-04-x64", label: "Ubuntu 24.04 (LTS) x64 (not tested by Pond)", tested: false },
  ],
  default_image: "debian-13-x64",
};

test("the wizard walks every step, keeps values on Back, checks fields with the engine, reviews cost, runs live", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: [{ value: { kind: "project", project } }, { value: { kind: "project", project } }],
    env_status: { value: status("blue") },
    list_accounts: { value: accounts },
    check_field: [{ value: "expected 1-32 characters of a-z, 0-9 and '-' for an environment name" }, { value: null }],
    catalog: { value: catalog },
    check_domain: {
      value: {
        hosted: false,
        delegated: false,
        note: "DigitalOcean does not host staging.example.com yet; Pond will add it. example.com uses ns.registrar.test, not DigitalOcean: set its name servers to ns1, ns2 and ns3.digitalocean.com at the registrar, or staging.example.com will not reach the server.",
      },
    },
    plan_new_server: {
      value: {
        lines: ["check the token of account agency", "create droplet acme-shop-staging-1 (fra1, s-2vcpu-4gb, debian-12-x64, about $24.00/month)", "first deploy (build first) to both colours, blue live; health check"],
        requests: ['[1] create droplet acme-shop-staging-1 (fra1, s-2vcpu-4gb, debian-12-x64) tagged pond, pond-acme-shop, pond-acme-shop-staging — on DigitalOcean account agency; Post /v2/droplets {"name":"acme-shop-staging-1","region":"fra1"}'],
        droplets: 3,
        price_monthly: 72,
      },
    },
    new_server: {
      value: { production: "http://staging.example.com/", preview: "http://p.staging.example.com/", blue: "http://p-blue.staging.example.com/", green: "http://p-green.staging.example.com/", https_problem: null },
      progress: [step("creating droplet acme-shop-staging-1", "digitalocean"), step("waiting for droplet 7 to become active", "digitalocean"), { host: "acme-shop-staging-1", stream: "out", line: "Setting up nginx" }],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "New server…" }).click();
  await expect(page.getByRole("heading", { name: "New server" })).toBeVisible();
  await expect(page.getByLabel(/agency/)).toBeChecked();
  await page.getByRole("button", { name: "Next" }).click();

  // Environment: the engine refuses the first name.
  const name = page.getByLabel("Name");
  await name.fill("Staging!");
  await expect(page.getByText("expected 1-32 characters")).toBeVisible();
  await name.fill("staging");
  await expect(page.getByText("expected 1-32 characters")).toBeHidden();
  await page.getByLabel(/Load-balanced/).check();
  await page.getByRole("spinbutton", { name: "Web droplets" }).fill("3");
  await page.getByRole("button", { name: "Next" }).click();

  // Server: sizes follow the region; the image is under Advanced.
  await page.getByLabel("Region").selectOption("fra1");
  await page.getByLabel("Size").selectOption("s-2vcpu-4gb");
  await expect(page.getByLabel("Image")).toHaveCount(0);
  await page.getByRole("button", { name: "Advanced" }).click();
  // The account's default is the newest image Pond tests; others say they are not tested.
  await expect(page.getByLabel("Image")).toHaveValue("debian-13-x64");
  await expect(page.getByLabel("Image").locator("option[value='ubuntu-24-04-x64']")).toHaveText(/not tested by Pond/);
  await page.getByLabel("Image").selectOption("debian-12-x64");
  await page.getByRole("button", { name: "Next" }).click();

  // Domain, with DO's name-server note and the hosting check.
  await page.getByLabel("Domain").fill("staging.example.com");
  await expect(page.getByRole("status")).toContainText("Pond will add it");
  await expect(page.getByRole("status")).toContainText("uses ns.registrar.test, not DigitalOcean");
  await expect(page.getByRole("status")).toHaveClass(/warn/);
  await page.getByRole("button", { name: "Back" }).click();
  await expect(page.getByLabel("Region")).toHaveValue("fra1");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByLabel("Domain")).toHaveValue("staging.example.com");
  await page.getByRole("button", { name: "Next" }).click();

  // Load-balanced: one database for all web droplets, so not on each.
  await expect(page.getByLabel(/MariaDB on this server/)).toBeDisabled();
  await expect(page.getByLabel(/A new database droplet/)).toBeChecked();
  await expect(page.getByLabel("Its IPv4 address")).toHaveCount(0);
  await page.getByLabel(/An existing server/).check();
  await page.getByLabel("Its IPv4 address").fill("10.110.0.5");
  await expect(page.getByText("the password never reaches this computer")).toBeVisible();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel(/copy a database from a server/).fill("ssh://root@198.18.0.9/shop");
  await page.getByRole("button", { name: "Next" }).click();
  const prefix = page.getByLabel("Secret preview prefix");
  await expect(prefix).toHaveValue(/^[a-z0-9]{14}$/);
  await page.getByRole("button", { name: "Next" }).click();

  const review = page.getByRole("region", { name: "Review" });
  await expect(review).toContainText("create droplet acme-shop-staging-1");
  await expect(review).toContainText("Cost: about $72.00 per month for 3 droplets");
  await review.getByText("The DigitalOcean requests creating its droplets (1)").click();
  await expect(review.locator("ul.requests li")).toContainText(['Post /v2/droplets {"name":"acme-shop-staging-1"']);
  await review.screenshot({ path: "test-results/screens/wizard-review-light.png" });
  await page.getByRole("button", { name: "Create server" }).click();

  const progress = page.getByRole("region", { name: "Progress" });
  await expect(progress.locator("ol.progress li")).toHaveText(["creating droplet acme-shop-staging-1", "waiting for droplet 7 to become active"]);
  await expect(progress).toContainText("Setting up nginx");
  await expect(progress).toContainText("staging is live");
  await expect(progress.getByRole("button", { name: "http://p-green.staging.example.com/" })).toBeVisible();
  // The run carries the requests the review showed, which the engine compares.
  const ran = (await calls(page)).find((c) => c.cmd === "new_server")?.args.req as Record<string, unknown>;
  expect(ran.shown_requests).toEqual([expect.stringContaining('Post /v2/droplets {"name":"acme-shop-staging-1"')]);
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByRole("heading", { name: "production" })).toBeVisible();

  const made = await calls(page);
  const sent = made.find((c) => c.cmd === "new_server")?.args.req as Record<string, unknown>;
  expect(sent).toMatchObject({ dir: project.dir, account: "agency", env: "staging", region: "fra1", size: "s-2vcpu-4gb", image: "debian-12-x64", domain: "staging.example.com", database: "host:10.110.0.5", db_from: "ssh://root@198.18.0.9/shop", tag: "first", kind: "load_balanced", droplets: 3 });
  expect(made.filter((c) => c.cmd === "check_field").map((c) => (c.args.req as { kind: string }).kind)).toEqual(
    expect.arrayContaining(["env_name", "domain", "ipv4", "db_source", "build_tag", "secret_prefix"]),
  );
});

test("a failed run says which step failed and leaves the window usable", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "project", project } },
    env_status: { value: status("blue") },
    list_accounts: { value: accounts },
    check_field: { value: null },
    catalog: { value: catalog },
    check_domain: { value: { hosted: true, delegated: true, note: "hosted" } },
    plan_new_server: { value: { lines: ["create droplet"], requests: [], droplets: 1, price_monthly: 6 } },
    new_server: {
      error: { message: "droplet 9 did not become active within 300 s (status \"new\"): droplet 9 was deleted; nothing is left behind", hint: null, problems: [] },
      progress: [step("creating droplet acme-shop-production2-1", "digitalocean")],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "New server…" }).click();
  const current = page.locator('[aria-current="step"]');
  for (const next of ["Environment", "Server", "Domain"]) {
    await page.getByRole("button", { name: "Next" }).click();
    await expect(current).toHaveText(next);
  }
  await page.getByLabel("Domain").fill("shop2.example.com");
  await expect(page.getByRole("status")).toHaveText("hosted");
  for (const next of ["Database", "Data", "Build", "Review"]) {
    await page.getByRole("button", { name: "Next" }).click();
    await expect(current).toHaveText(next);
  }
  await page.getByRole("button", { name: "Create server" }).click();
  await expect(page.getByRole("alert")).toContainText("nothing is left behind");
  await expect(page.locator(".spinner")).toHaveCount(0);
  await page.getByRole("button", { name: "Close" }).click();
  await expect(page.getByRole("heading", { name: "production" })).toBeVisible();
});

test("a run can be stopped after its current step and resumed from there", async ({ page }) => {
  const stopped = "Stopped before provisioning, as asked. The droplets exist and are recorded in pond.json: Resume (pond create production2 --resume) finishes the job, pond destroy production2 removes them.";
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "project", project } },
    env_status: { value: status("blue") },
    list_accounts: { value: accounts },
    check_field: { value: null },
    catalog: { value: catalog },
    check_domain: { value: { hosted: true, delegated: true, note: "hosted" } },
    plan_new_server: { value: { lines: ["create droplet"], requests: [], droplets: 1, price_monthly: 6 } },
    new_server: {
      untilCancelled: { message: stopped, hint: null, problems: [] },
      progress: [step("creating droplet acme-shop-production2-1", "digitalocean"), step("waiting for droplet 9 to become active", "digitalocean")],
    },
    resume_new_server: {
      value: { production: "http://shop2.example.com/", preview: "http://p.shop2.example.com/", blue: "http://p-blue.shop2.example.com/", green: "http://p-green.shop2.example.com/", https_problem: "shop2-production-1: Detail: DNS problem: NXDOMAIN looking up A for shop2.example.com" },
      progress: [step("checking droplet acme-shop-production2-1 (9)", "digitalocean")],
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "New server…" }).click();
  for (let i = 0; i < 3; i++) await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Domain").fill("shop2.example.com");
  await expect(page.getByRole("status")).toHaveText("hosted");
  for (let i = 0; i < 4; i++) await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Create server" }).click();
  await expect(page.getByRole("button", { name: "Close" })).toHaveCount(0);
  await page.getByRole("button", { name: "Stop" }).click();
  await expect(page.getByRole("alert")).toContainText("Stopped before provisioning");
  await expect(page.getByRole("alert")).toContainText("recorded in pond.json");
  await expect(page.locator(".spinner")).toHaveCount(0);
  await page.getByRole("button", { name: "Resume" }).click();
  const progress = page.getByRole("region", { name: "Progress" });
  await expect(progress).toContainText("production is live");
  await expect(progress.getByRole("note")).toContainText("HTTPS is not set up yet (shop2-production-1: Detail: DNS problem: NXDOMAIN");
  await expect(progress.locator("ol.progress li")).toContainText(["creating droplet acme-shop-production2-1", "checking droplet acme-shop-production2-1 (9)"]);
  const made = await calls(page);
  const runIds = made.filter((c) => c.cmd === "new_server" || c.cmd === "resume_new_server").map((c) => (c.args.req as { run_id: string }).run_id);
  expect(runIds).toHaveLength(2);
  expect(made.find((c) => c.cmd === "cancel")?.args.runId).toBe(runIds[0]);
});

test("a new environment can go on a droplet the account already runs", async ({ page }) => {
  await install(page, {
    app_info: appInfo,
    recent_projects: { value: [] },
    open_project: { value: { kind: "project", project } },
    env_status: { value: status("blue") },
    list_accounts: { value: accounts },
    check_field: { value: null },
    catalog: { value: catalog },
    account_droplets: {
      value: [
        { name: "acme-shop-production-1", address: "198.18.3.10", region: "ams3", serves: ["acme-shop/production"] },
        { name: "blog-production-1", address: "198.18.3.11", region: "fra1", serves: [] },
      ],
    },
    check_domain: { value: { hosted: true, delegated: true, note: "DigitalOcean hosts staging.example.com." } },
    plan_new_server: {
      value: {
        lines: ["check the token of account agency", "use droplet acme-shop-production-1 (198.18.3.10), which already runs: tag it pond-acme-shop-staging (no new droplet, no new cost)"],
        requests: [],
        droplets: 0,
        price_monthly: 0,
      },
    },
  });
  await openProject(page);
  await page.getByRole("button", { name: "New server…" }).click();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Name").fill("staging");
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel(/A droplet this account already runs/).check();
  const droplet = page.getByLabel("Droplet");
  await expect(droplet.locator("option")).toHaveText([
    "acme-shop-production-1 (198.18.3.10, ams3) — serves acme-shop/production",
    "blog-production-1 (198.18.3.11, fra1)",
  ]);
  await expect(page.getByLabel("Region")).toHaveCount(0);
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Domain").fill("staging.example.com");
  await page.getByRole("button", { name: "Next" }).click();
  // On one server the database goes there too: no new database droplet.
  await expect(page.getByLabel(/A new database droplet/)).toBeDisabled();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Next" }).click();
  const review = page.getByRole("region", { name: "Review" });
  await expect(review).toContainText("use droplet acme-shop-production-1");
  const made = await calls(page);
  const sent = made.find((c) => c.cmd === "plan_new_server")?.args.req as Record<string, unknown>;
  expect(sent).toMatchObject({ env: "staging", kind: "single", on: "acme-shop-production-1", database: "same" });
});
