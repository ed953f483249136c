// Generated from src-tauri/src/view/ and bindings.rs — do not edit.
// Regenerate: POND_WRITE_BINDINGS=1 cargo test -p pond-app bindings

import { Channel, invoke } from "@tauri-apps/api/core";

export type UiError = { message: string, hint: string | null, problems: Array<ProblemView>, };

export type ProblemView = { path: string, message: string, };

export type AppInfo = { version: string, templates: Array<string>, };

export type Opened = { "kind": "project", project: ProjectView, } | { "kind": "missing", dir: string, } | { "kind": "invalid", file: string, problems: Array<ProblemView>, };

export type ProjectView = { dir: string, file: string, name: string, stack: string, environments: Array<EnvView>, };

export type EnvView = { name: string, kind: string, domain: string, production_url: string, preview_url: string, droplets: Array<DropletView>, 
/**
 * What runs right before a swap, one line each (a database snapshot,
 * the pre-swap hooks); empty when nothing does.
 */
before_swap: Array<string>, 
/**
 * Whether Pond manages the environment's database (so a swap with
 * pre-swap hooks snapshots it and a rollback can restore that).
 */
has_database: boolean, };

export type DropletView = { name: string, role: string, address: string | null, pinned: boolean, };

export type EnvRef = { dir: string, env: string, };

export type InitRequest = { dir: string, name: string, stack: string, };

export type EnvStatus = { env: string, 
/**
 * When the servers answered (UTC, RFC 3339).
 */
checked_at: string, 
/**
 * The domain's URL as served now: `https://` once a certificate is
 * in place.
 */
production_url: string, 
/**
 * The preview host's URL as served now.
 */
preview_url: string, 
/**
 * A load-balanced environment's HTTPS at its balancer.
 */
balancer_https: string | null, balancer_https_needs_attention: boolean, servers: Array<ServerView>, };

export type ServerView = { server: string, 
/**
 * "running", or "unreachable" with `error` saying why.
 */
state: string, error: string | null, live: string | null, colours: Array<ColourView>, services: Array<ServiceView>, 
/**
 * Free disk in MB.
 */
disk_free_mb: number | null, releases_on_disk: Array<string>, 
/**
 * The releases kept here, newest first, with who deployed each when
 * and which colour points at it (the CLI's `pond releases`).
 */
releases: Array<ReleaseView>, 
/**
 * Whether the server's Pond-managed SSH keys match pond.json's team
 * ("in step", or what differs); None when the server did not say.
 */
team_keys: string | null, 
/**
 * True when they match.
 */
team_keys_in_step: boolean, 
/**
 * What differs from what Pond set up on the server (`pond check`;
 * team keys are `team_keys`): files it wrote, users, packages,
 * firewall, templates and settings; empty: in step. None when the
 * server did not say.
 */
setup: Array<string> | null, 
/**
 * Other environments (`project/env`) the server also hosts.
 */
shared_with: Array<string>, 
/**
 * The environment's processes and schedule here, one line each
 * (`queue@1: running for 2 min, release …`; `schedule: every minute;
 * last run … ok`), as `pond status` prints them.
 */
processes: Array<string>, 
/**
 * True when a process is not running or runs another release than the
 * live one, or the schedule's timer is stopped or its last run failed.
 */
processes_need_attention: boolean, 
/**
 * The domain's HTTPS here, as `pond status` prints it (what it
 * serves, the certificate's names, issuer, expiry and next renewal, a
 * failed renewal first); None when HTTPS was never set up here.
 */
https: string | null, 
/**
 * True when the last renewal failed, the renewal timer is stopped,
 * the certificate expired, or the domain is not served over HTTPS.
 */
https_needs_attention: boolean, };

export type ColourView = { colour: string, release: string, tag: string, at: string, by: string, };

export type ServiceView = { name: string, running: boolean, };

export type Progress = { host: string, 
/**
 * "step" (a headline), "out" or "err" (the server's own output).
 */
stream: string, line: string, };

export type DeployRequest = { dir: string, env: string, 
/**
 * Build tag; the project's short git commit when empty.
 */
tag: string | null, 
/**
 * Compute what would be sent; change nothing.
 */
dry_run: boolean, 
/**
 * An id the window picks so it can cancel this run (`cancel`).
 */
run_id: string | null, };

export type DeployResult = { colour: string, first: boolean, preview_url: string, servers: Array<ServerDeployView>, 
/**
 * The post-deploy hooks that run in the new release (pond.json).
 */
hooks: Array<string>, };

export type ServerDeployView = { server: string, release: string, files_sent: number, 
/**
 * Bytes on the wire (compressed), as a number (< 2^53).
 */
bytes_sent: number, files_deleted: number, 
/**
 * What runs on the server, in order: the engine's plan, as a dry run
 * built it (`pond deploy --dry-run` prints the same).
 */
plan: Array<PlannedStep>, };

export type PlannedStep = { description: string, 
/**
 * Where it runs ("droplet web-1 (203.0.113.5)").
 */
target: string, 
/**
 * The template it renders (empty for an API request).
 */
template: string, 
/**
 * The script in full, as the server receives it.
 */
script: string, };

export type PlanView = { title: string, steps: Array<PlannedStep>, };

export type HealthView = { server: string, host: string, status: number, healthy: boolean, details: string, };

export type SwapRequest = { dir: string, env: string, 
/**
 * Swap even if the inactive colour is unhealthy (logged on the server).
 */
force: boolean, };

export type SwapResult = { live: string, production_url: string, };

export type RollbackRequest = { dir: string, env: string, with_data: boolean, };

export type RollbackToRequest = { dir: string, env: string, release: string, };

export type RollbackPlanRequest = { dir: string, env: string, release: string | null, with_data: boolean, };

export type ReleaseView = { id: string, 
/**
 * Its tag, time and deployer, as the server recorded them (empty when
 * the record was trimmed).
 */
tag: string, at: string, by: string, 
/**
 * The colours pointing at it.
 */
colours: Array<string>, 
/**
 * Whether the live colour points at it.
 */
live: boolean, };

export type RollbackResult = { live: string, release: string, 
/**
 * The snapshot restored (with_data).
 */
restored: string | null, 
/**
 * The snapshot the undone swap took, left unrestored.
 */
data_left: string | null, };

export type LogRequest = { dir: string, env: string, lines: number, };

export type AccountsView = { 
/**
 * The keychain in use, or why none is usable.
 */
keychain: string, keychain_usable: boolean, accounts: Array<AccountView>, };

export type AccountView = { name: string, api_url: string, email: string | null, token_stored: boolean, 
/**
 * Where its servers' certificates come from, in words.
 */
acme: string, };

export type AddAccount = { name: string, api_url: string, token: string, 
/**
 * The ACME directory of its servers' certificates (null or empty:
 * Let's Encrypt).
 */
acme_directory: string | null, 
/**
 * A PEM file the servers trust to reach that directory (the lab's).
 */
acme_ca: string | null, };

export type KeyView = { path: string, fingerprint: string, public_key: string, };

export type FieldCheck = { 
/**
 * project_name, env_name, account_name, domain, secret_prefix,
 * db_name, db_user, do_slug, build_tag.
 */
kind: string, value: string, };

export type CatalogView = { regions: Array<RegionView>, sizes: Array<SizeView>, 
/**
 * Tested images first, newest first; then the rest.
 */
images: Array<ImageView>, 
/**
 * The image a new server gets unless the user picks another.
 */
default_image: string, };

export type RegionView = { slug: string, name: string, available: boolean, };

export type SizeView = { slug: string, memory_mb: number, vcpus: number, disk_gb: number, price_monthly: number, regions: Array<string>, };

export type ImageView = { slug: string, 
/**
 * "Debian 13 x64"; untested images end in "(not tested by Pond)".
 */
label: string, 
/**
 * Pond's tests run on this image.
 */
tested: boolean, };

export type DomainCheckRequest = { account: string, domain: string, };

export type DomainCheck = { 
/**
 * DigitalOcean's DNS hosts the domain in this account already.
 */
hosted: boolean, 
/**
 * DNS delegates the domain's zone to DigitalOcean's name servers (None:
 * not known).
 */
delegated: boolean | null, 
/**
 * What the user must know about name servers.
 */
note: string, };

export type NewServerRequest = { dir: string, account: string, env: string, region: string, size: string, image: string, domain: string, 
/**
 * "same" (MariaDB on the web droplet), "droplet" (a new database
 * droplet), "host:IPV4" (an existing server) or "none".
 */
database: string, 
/**
 * "single" or "load_balanced".
 */
kind: string, 
/**
 * Web droplets of a load-balanced environment (1-20).
 */
droplets: number, db_dump: string | null, 
/**
 * A database to copy, `ssh://USER@HOST[:PORT]/DATABASE`.
 */
db_from: string | null, attachments: string | null, tag: string, secret_prefix: string, 
/**
 * A droplet the account already runs to put the environment on
 * (`account_droplets`); none: new droplets.
 */
on: string | null, 
/**
 * Names the run for `cancel` (which stops it at its next step).
 */
run_id: string | null, 
/**
 * The droplet requests the review showed (`NewServerPlan.requests`):
 * a run refuses, creating nothing, when pond.json or the user's key
 * now give others.
 */
shown_requests: Array<string> | null, };

export type NewServerPlan = { lines: Array<string>, 
/**
 * The requests creating its droplets, one line each with its body, as
 * the run sends them (`NewServer::droplet_requests`; `pond create
 * --dry-run` prints the same).
 */
requests: Array<string>, 
/**
 * Droplets the run creates.
 */
droplets: number, 
/**
 * Their monthly price together, when the size's price is known.
 */
price_monthly: number | null, };

export type UrlsView = { production: string, preview: string, blue: string, green: string, 
/**
 * Why the domain is not on HTTPS yet (null: it is, or HTTPS is off).
 */
https_problem: string | null, };

export type TeamKeyView = { name: string, public_key: string, };

export type TeamKeyRequest = { dir: string, name: string, 
/**
 * Only a public key line; a private key is refused (and never echoed).
 */
public_key: string, };

export type TeamKeyRef = { dir: string, name: string, };

export type ChangeAction = "unbind" | "purge" | "destroy" | "scale";

export type ChangeRequest = { dir: string, env: string, action: ChangeAction, 
/**
 * Web droplets wanted (scale only).
 */
droplets: number, 
/**
 * The environment's name as the user typed it (ignored by `plan_change`).
 */
confirm: string, };

export type ChangePlan = { lines: Array<string>, };

export type DropletChoice = { name: string, address: string, region: string, 
/**
 * `project/env` of the Pond environments its tags name.
 */
serves: Array<string>, };

export type SecretView = { server: string, name: string, 
/**
 * When it was set (UTC, RFC 3339).
 */
set_at: string, };

export type BackupView = { server: string, id: string, 
/**
 * When it was taken (UTC, RFC 3339).
 */
at: string, bytes: number, };

export type BackupRunView = { server: string, at: string, ok: boolean, 
/**
 * Started at `at`, not finished (yet).
 */
running: boolean, detail: string, };

export type BackupsView = { 
/**
 * Newest first, per server.
 */
backups: Array<BackupView>, last_runs: Array<BackupRunView>, };

export type BackupRequest = { dir: string, env: string, id: string, };

export type SecretRequest = { dir: string, env: string, name: string, 
/**
 * "set", "generate" or "remove".
 */
action: string, 
/**
 * The value to set (set only); never sent back to the window.
 */
value: string | null, 
/**
 * Random bytes (generate only).
 */
bytes: number, 
/**
 * Base64 instead of hex (generate only).
 */
base64: boolean, };

export type ExecRequest = { dir: string, env: string, 
/**
 * "live" or "inactive".
 */
colour: string, 
/**
 * A web server's name; none: the environment's first.
 */
server: string | null, 
/**
 * The command line, run with `sh -c` as the site user.
 */
command: string, };

/** Every engine command, typed. Progress arrives on `onEvent`. */
export const commands = {
  appInfo: (): Promise<AppInfo> => invoke("app_info"),
  startupProject: (): Promise<string | null> => invoke("startup_project"),
  openProject: (dir: string): Promise<Opened> => invoke("open_project", { dir }),
  recentProjects: (): Promise<Array<string>> => invoke("recent_projects"),
  initProject: (req: InitRequest): Promise<ProjectView> => invoke("init_project", { req }),
  envStatus: (req: EnvRef): Promise<EnvStatus> => invoke("env_status", { req }),
  deploy: (req: DeployRequest, onEvent: (p: Progress) => void): Promise<DeployResult> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("deploy", { req, onEvent: channel });
  },
  checkHealth: (req: EnvRef, onEvent: (p: Progress) => void): Promise<Array<HealthView>> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("check_health", { req, onEvent: channel });
  },
  swap: (req: SwapRequest, onEvent: (p: Progress) => void): Promise<SwapResult> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("swap", { req, onEvent: channel });
  },
  rollback: (req: RollbackRequest, onEvent: (p: Progress) => void): Promise<RollbackResult> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("rollback", { req, onEvent: channel });
  },
  rollbackTo: (req: RollbackToRequest, onEvent: (p: Progress) => void): Promise<SwapResult> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("rollback_to", { req, onEvent: channel });
  },
  swapPlan: (req: EnvRef): Promise<PlanView> => invoke("swap_plan", { req }),
  rollbackPlan: (req: RollbackPlanRequest): Promise<Array<PlanView>> => invoke("rollback_plan", { req }),
  serverLogs: (req: LogRequest): Promise<Array<Progress>> => invoke("server_logs", { req }),
  listAccounts: (): Promise<AccountsView> => invoke("list_accounts"),
  addAccount: (req: AddAccount): Promise<AccountView> => invoke("add_account", { req }),
  removeAccount: (name: string): Promise<null> => invoke("remove_account", { name }),
  sshKey: (): Promise<KeyView> => invoke("ssh_key"),
  openLogFolder: (): Promise<string> => invoke("open_log_folder"),
  checkField: (req: FieldCheck): Promise<string | null> => invoke("check_field", { req }),
  catalog: (account: string): Promise<CatalogView> => invoke("catalog", { account }),
  checkDomain: (req: DomainCheckRequest): Promise<DomainCheck> => invoke("check_domain", { req }),
  planNewServer: (req: NewServerRequest): Promise<NewServerPlan> => invoke("plan_new_server", { req }),
  cancel: (runId: string): Promise<boolean> => invoke("cancel", { runId }),
  teamKeys: (dir: string): Promise<Array<TeamKeyView>> => invoke("team_keys", { dir }),
  addTeamKey: (req: TeamKeyRequest): Promise<Array<TeamKeyView>> => invoke("add_team_key", { req }),
  removeTeamKey: (req: TeamKeyRef): Promise<Array<TeamKeyView>> => invoke("remove_team_key", { req }),
  newServer: (req: NewServerRequest, onEvent: (p: Progress) => void): Promise<UrlsView> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("new_server", { req, onEvent: channel });
  },
  resumeNewServer: (req: NewServerRequest, onEvent: (p: Progress) => void): Promise<UrlsView> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("resume_new_server", { req, onEvent: channel });
  },
  planChange: (req: ChangeRequest): Promise<ChangePlan> => invoke("plan_change", { req }),
  change: (req: ChangeRequest, onEvent: (p: Progress) => void): Promise<string> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("change", { req, onEvent: channel });
  },
  accountDroplets: (account: string): Promise<Array<DropletChoice>> => invoke("account_droplets", { account }),
  listSecrets: (req: EnvRef): Promise<Array<SecretView>> => invoke("list_secrets", { req }),
  listBackups: (req: EnvRef): Promise<BackupsView> => invoke("list_backups", { req }),
  takeBackup: (req: EnvRef, onEvent: (p: Progress) => void): Promise<string> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("take_backup", { req, onEvent: channel });
  },
  restoreBackup: (req: BackupRequest, onEvent: (p: Progress) => void): Promise<string> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("restore_backup", { req, onEvent: channel });
  },
  changeSecret: (req: SecretRequest, onEvent: (p: Progress) => void): Promise<string> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("change_secret", { req, onEvent: channel });
  },
  fixSetup: (req: EnvRef, onEvent: (p: Progress) => void): Promise<string> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("fix_setup", { req, onEvent: channel });
  },
  renewCertificates: (req: EnvRef, onEvent: (p: Progress) => void): Promise<string> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("renew_certificates", { req, onEvent: channel });
  },
  execCommand: (req: ExecRequest, onEvent: (p: Progress) => void): Promise<number> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onEvent;
    return invoke("exec_command", { req, onEvent: channel });
  },
};

export type Commands = typeof commands;
