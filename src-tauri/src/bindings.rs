//! The TypeScript the window is written against, generated from the Rust
//! types in `view` and `manage` and the command table below: `ui/src/lib/bindings.ts`.
//! A test fails when the committed file is stale; regenerate it with
//! `POND_WRITE_BINDINGS=1 cargo test -p pond-app bindings`.

use ts_rs::{Config, TS};

use crate::backups::{BackupRequest, BackupRunView, BackupView, BackupsView};
use crate::manage::{
    ChangeAction, ChangePlan, ChangeRequest, DropletChoice, ExecRequest, SecretRequest, SecretView,
};
use crate::view::*;

/// A command as the window calls it: name, arguments (name, TS type),
/// whether it streams progress, and its result type.
struct Command {
    name: &'static str,
    args: Vec<(&'static str, String)>,
    progress: bool,
    returns: String,
}

fn cfg() -> Config {
    Config::new().with_large_int("number")
}

fn ty<T: TS>() -> String {
    T::name(&cfg())
}

fn commands() -> Vec<Command> {
    let c = |name, args: Vec<(&'static str, String)>, progress, returns| Command {
        name,
        args,
        progress,
        returns,
    };
    vec![
        c("app_info", vec![], false, ty::<AppInfo>()),
        c("startup_project", vec![], false, "string | null".into()),
        c(
            "open_project",
            vec![("dir", ty::<String>())],
            false,
            ty::<Opened>(),
        ),
        c("recent_projects", vec![], false, ty::<Vec<String>>()),
        c(
            "init_project",
            vec![("req", ty::<InitRequest>())],
            false,
            ty::<ProjectView>(),
        ),
        c(
            "env_status",
            vec![("req", ty::<EnvRef>())],
            false,
            ty::<EnvStatus>(),
        ),
        c(
            "deploy",
            vec![("req", ty::<DeployRequest>())],
            true,
            ty::<DeployResult>(),
        ),
        c(
            "check_health",
            vec![("req", ty::<EnvRef>())],
            true,
            ty::<Vec<HealthView>>(),
        ),
        c(
            "swap",
            vec![("req", ty::<SwapRequest>())],
            true,
            ty::<SwapResult>(),
        ),
        c(
            "rollback",
            vec![("req", ty::<RollbackRequest>())],
            true,
            ty::<RollbackResult>(),
        ),
        c(
            "rollback_to",
            vec![("req", ty::<RollbackToRequest>())],
            true,
            ty::<SwapResult>(),
        ),
        c(
            "swap_plan",
            vec![("req", ty::<EnvRef>())],
            false,
            ty::<PlanView>(),
        ),
        c(
            "rollback_plan",
            vec![("req", ty::<RollbackPlanRequest>())],
            false,
            ty::<Vec<PlanView>>(),
        ),
        c(
            "server_logs",
            vec![("req", ty::<LogRequest>())],
            false,
            ty::<Vec<Progress>>(),
        ),
        c("list_accounts", vec![], false, ty::<AccountsView>()),
        c(
            "add_account",
            vec![("req", ty::<AddAccount>())],
            false,
            ty::<AccountView>(),
        ),
        c(
            "remove_account",
            vec![("name", ty::<String>())],
            false,
            "null".into(),
        ),
        c("ssh_key", vec![], false, ty::<KeyView>()),
        c("open_log_folder", vec![], false, ty::<String>()),
        c(
            "check_field",
            vec![("req", ty::<FieldCheck>())],
            false,
            "string | null".into(),
        ),
        c(
            "catalog",
            vec![("account", ty::<String>())],
            false,
            ty::<CatalogView>(),
        ),
        c(
            "check_domain",
            vec![("req", ty::<DomainCheckRequest>())],
            false,
            ty::<DomainCheck>(),
        ),
        c(
            "plan_new_server",
            vec![("req", ty::<NewServerRequest>())],
            false,
            ty::<NewServerPlan>(),
        ),
        c(
            "cancel",
            vec![("runId", ty::<String>())],
            false,
            "boolean".into(),
        ),
        c(
            "team_keys",
            vec![("dir", ty::<String>())],
            false,
            ty::<Vec<TeamKeyView>>(),
        ),
        c(
            "add_team_key",
            vec![("req", ty::<TeamKeyRequest>())],
            false,
            ty::<Vec<TeamKeyView>>(),
        ),
        c(
            "remove_team_key",
            vec![("req", ty::<TeamKeyRef>())],
            false,
            ty::<Vec<TeamKeyView>>(),
        ),
        c(
            "new_server",
            vec![("req", ty::<NewServerRequest>())],
            true,
            ty::<UrlsView>(),
        ),
        c(
            "resume_new_server",
            vec![("req", ty::<NewServerRequest>())],
            true,
            ty::<UrlsView>(),
        ),
        c(
            "plan_change",
            vec![("req", ty::<ChangeRequest>())],
            false,
            ty::<ChangePlan>(),
        ),
        c(
            "change",
            vec![("req", ty::<ChangeRequest>())],
            true,
            ty::<String>(),
        ),
        c(
            "account_droplets",
            vec![("account", ty::<String>())],
            false,
            ty::<Vec<DropletChoice>>(),
        ),
        c(
            "list_secrets",
            vec![("req", ty::<EnvRef>())],
            false,
            ty::<Vec<SecretView>>(),
        ),
        c(
            "list_backups",
            vec![("req", ty::<EnvRef>())],
            false,
            ty::<BackupsView>(),
        ),
        c(
            "take_backup",
            vec![("req", ty::<EnvRef>())],
            true,
            ty::<String>(),
        ),
        c(
            "restore_backup",
            vec![("req", ty::<BackupRequest>())],
            true,
            ty::<String>(),
        ),
        c(
            "change_secret",
            vec![("req", ty::<SecretRequest>())],
            true,
            ty::<String>(),
        ),
        c(
            "fix_setup",
            vec![("req", ty::<EnvRef>())],
            true,
            ty::<String>(),
        ),
        c(
            "renew_certificates",
            vec![("req", ty::<EnvRef>())],
            true,
            ty::<String>(),
        ),
        c(
            "exec_command",
            vec![("req", ty::<ExecRequest>())],
            true,
            "number".into(),
        ),
    ]
}

/// The whole generated file.
pub fn typescript() -> String {
    let cfg = cfg();
    let decls = [
        UiError::decl(&cfg),
        ProblemView::decl(&cfg),
        AppInfo::decl(&cfg),
        Opened::decl(&cfg),
        ProjectView::decl(&cfg),
        EnvView::decl(&cfg),
        DropletView::decl(&cfg),
        EnvRef::decl(&cfg),
        InitRequest::decl(&cfg),
        EnvStatus::decl(&cfg),
        ServerView::decl(&cfg),
        ColourView::decl(&cfg),
        ServiceView::decl(&cfg),
        Progress::decl(&cfg),
        DeployRequest::decl(&cfg),
        DeployResult::decl(&cfg),
        ServerDeployView::decl(&cfg),
        PlannedStep::decl(&cfg),
        PlanView::decl(&cfg),
        HealthView::decl(&cfg),
        SwapRequest::decl(&cfg),
        SwapResult::decl(&cfg),
        RollbackRequest::decl(&cfg),
        RollbackToRequest::decl(&cfg),
        RollbackPlanRequest::decl(&cfg),
        ReleaseView::decl(&cfg),
        RollbackResult::decl(&cfg),
        LogRequest::decl(&cfg),
        AccountsView::decl(&cfg),
        AccountView::decl(&cfg),
        AddAccount::decl(&cfg),
        KeyView::decl(&cfg),
        FieldCheck::decl(&cfg),
        CatalogView::decl(&cfg),
        RegionView::decl(&cfg),
        SizeView::decl(&cfg),
        ImageView::decl(&cfg),
        DomainCheckRequest::decl(&cfg),
        DomainCheck::decl(&cfg),
        NewServerRequest::decl(&cfg),
        NewServerPlan::decl(&cfg),
        UrlsView::decl(&cfg),
        TeamKeyView::decl(&cfg),
        TeamKeyRequest::decl(&cfg),
        TeamKeyRef::decl(&cfg),
        ChangeAction::decl(&cfg),
        ChangeRequest::decl(&cfg),
        ChangePlan::decl(&cfg),
        DropletChoice::decl(&cfg),
        SecretView::decl(&cfg),
        BackupView::decl(&cfg),
        BackupRunView::decl(&cfg),
        BackupsView::decl(&cfg),
        BackupRequest::decl(&cfg),
        SecretRequest::decl(&cfg),
        ExecRequest::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from src-tauri/src/view/ and bindings.rs — do not edit.\n\
         // Regenerate: POND_WRITE_BINDINGS=1 cargo test -p pond-app bindings\n\n\
         import { Channel, invoke } from \"@tauri-apps/api/core\";\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.push_str("/** Every engine command, typed. Progress arrives on `onEvent`. */\nexport const commands = {\n");
    for cmd in commands() {
        let mut params: Vec<String> = cmd.args.iter().map(|(n, t)| format!("{n}: {t}")).collect();
        let mut passed: Vec<String> = cmd.args.iter().map(|(n, _)| n.to_string()).collect();
        if cmd.progress {
            params.push("onEvent: (p: Progress) => void".into());
            passed.push("onEvent: channel".into());
        }
        let camel = camel(cmd.name);
        out.push_str(&format!(
            "  {camel}: ({}): Promise<{}> => ",
            params.join(", "),
            cmd.returns
        ));
        if cmd.progress {
            out.push_str(&format!(
                "{{\n    const channel = new Channel<Progress>();\n    channel.onmessage = onEvent;\n    return invoke(\"{}\", {{ {} }});\n  }},\n",
                cmd.name,
                passed.join(", ")
            ));
        } else if passed.is_empty() {
            out.push_str(&format!("invoke(\"{}\"),\n", cmd.name));
        } else {
            out.push_str(&format!(
                "invoke(\"{}\", {{ {} }}),\n",
                cmd.name,
                passed.join(", ")
            ));
        }
    }
    out.push_str("};\n\nexport type Commands = typeof commands;\n");
    out
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.push(ch.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bindings_are_fresh() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings.ts");
        let fresh = super::typescript();
        if std::env::var_os("POND_WRITE_BINDINGS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "ui/src/lib/bindings.ts is stale; regenerate it with POND_WRITE_BINDINGS=1 cargo test -p pond-app bindings"
        );
    }
}
