//! Pond's desktop app: a thin Tauri shell. Each command converts arguments
//! and calls the `pond` engine; no deploy logic lives here.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// Facts about the engine the window shows before a project is open.
#[derive(serde::Serialize)]
struct AppInfo {
    version: &'static str,
    templates: Vec<&'static str>,
}

#[tauri::command]
fn app_info() -> AppInfo {
    AppInfo {
        version: pond::VERSION,
        templates: pond::plan::template::ids(),
    }
}

fn main() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![app_info])
        .run(tauri::generate_context!())
        .expect("the Pond window failed to start");
}
