//! What a user attaches to a bug report: the app's log folder (a file for
//! each day the app ran, written by `pond::logging`, the last 7 kept),
//! opened in the system's file manager.

use tauri_plugin_opener::OpenerExt;

use crate::view::UiError;

type Res<T> = Result<T, UiError>;

/// Opens the log folder (made if missing); returns its path.
#[tauri::command]
pub async fn open_log_folder(app: tauri::AppHandle) -> Res<String> {
    let dir = pond::logging::log_dir()?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| UiError::from(anyhow::anyhow!("creating {}: {e}", dir.display())))?;
    let shown = dir.display().to_string();
    app.opener()
        .open_path(shown.clone(), None::<&str>)
        .map_err(|e| UiError::from(anyhow::anyhow!("opening {shown}: {e}")))?;
    Ok(shown)
}
