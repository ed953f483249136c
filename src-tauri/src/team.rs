//! The project's team keys (pond.json `team_keys`) for the Settings screen:
//! list, add (checked by the same rules as the whole file) and remove.

use crate::commands::{Res, open};
use crate::view::*;
use pond::project::{InitError, Project};

fn keys(p: &Project) -> Vec<TeamKeyView> {
    p.file
        .team_keys
        .iter()
        .map(|k| TeamKeyView {
            name: k.name.clone(),
            public_key: k.public_key.clone(),
        })
        .collect()
}

#[tauri::command]
pub fn team_keys(dir: String) -> Res<Vec<TeamKeyView>> {
    Ok(keys(&open(&dir)?))
}

#[tauri::command]
pub fn add_team_key(req: TeamKeyRequest) -> Res<Vec<TeamKeyView>> {
    let mut p = open(&req.dir)?;
    match p.add_team_key(&req.name, &req.public_key) {
        Ok(()) => Ok(keys(&p)),
        Err(InitError::Invalid(problems)) => Err(UiError {
            message: "the key was not added".into(),
            hint: None,
            problems: problems.iter().map(ProblemView::from).collect(),
        }),
        Err(InitError::Other(e)) => Err(e.into()),
    }
}

#[tauri::command]
pub fn remove_team_key(req: TeamKeyRef) -> Res<Vec<TeamKeyView>> {
    let mut p = open(&req.dir)?;
    p.remove_team_key(&req.name)?;
    Ok(keys(&p))
}
