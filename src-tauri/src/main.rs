//! Pond's desktop app: a thin Tauri shell. Each command (in `commands`)
//! converts arguments and calls the `pond` engine; no deploy logic lives
//! here. `view` holds the shapes sent to the window, `bindings` generates
//! their TypeScript.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod bindings;
mod commands;
mod view;
mod wizard;

fn main() {
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(wizard::SessionTokens::default())
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
            commands::server_logs,
            commands::list_accounts,
            commands::add_account,
            commands::remove_account,
            commands::ssh_key,
            commands::check_field,
            wizard::catalog,
            wizard::check_domain,
            wizard::plan_new_server,
            wizard::new_server,
        ])
        .run(tauri::generate_context!())
        .expect("the Pond window failed to start");
}
