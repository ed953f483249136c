//! Pond's desktop app: a thin Tauri shell. Each command (in `commands`)
//! converts arguments and calls the `pond` engine; no deploy logic lives
//! here (`manage` and `wizard` hold the commands that change which servers
//! an environment has; `backups` the environment's backups). `view` holds
//! the shapes sent to the window,
//! `bindings` generates their TypeScript.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod backups;
#[cfg(test)]
mod bindings;
mod cancel;
mod commands;
mod diagnostics;
mod manage;
mod serving;
mod settings;
mod team;
mod view;
mod wizard;

fn main() {
    // WebKitGTK's accelerated compositing costs ~85 MB in the web process
    // (measured with benches/app.py) and buys nothing for a page of tables
    // and forms. POND_WEBKIT_COMPOSITING=1 keeps it on (WebKitWebDriver's
    // screenshots need it); any value of WebKit's own variable disables it.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none()
        && std::env::var_os("POND_WEBKIT_COMPOSITING").is_none()
    {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1") };
    }
    // The log file for bug reports; without one the app still runs.
    let _logs = match pond::logging::init_file() {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("Not logging to a file: {e:#}");
            None
        }
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "app started");
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(wizard::SessionTokens::default())
        .manage(cancel::Runs::default())
        .manage(manage::Plans::default())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::startup_project,
            commands::open_project,
            commands::recent_projects,
            commands::init_project,
            commands::env_status,
            commands::deploy,
            commands::check_health,
            commands::swap,
            commands::rollback,
            commands::rollback_to,
            commands::rollback_plan,
            commands::swap_plan,
            commands::server_logs,
            settings::list_accounts,
            settings::add_account,
            settings::remove_account,
            settings::ssh_key,
            diagnostics::open_log_folder,
            settings::check_field,
            cancel::cancel,
            team::team_keys,
            team::add_team_key,
            team::remove_team_key,
            wizard::catalog,
            wizard::check_domain,
            wizard::plan_new_server,
            wizard::new_server,
            wizard::resume_new_server,
            manage::plan_change,
            manage::change,
            manage::account_droplets,
            manage::list_secrets,
            backups::list_backups,
            backups::take_backup,
            backups::restore_backup,
            manage::change_secret,
            manage::fix_setup,
            manage::renew_certificates,
            manage::exec_command,
        ])
        .run(tauri::generate_context!())
        .expect("the Pond window failed to start");
}
