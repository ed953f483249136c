//! What a shared path holds on the server before the site writes anything:
//! the project's own directory tree under it (every directory, with its
//! placeholder files such as `.gitignore`, never other content: uploads
//! stay on the server) and the places the framework writes at run time
//! (Laravel's `storage/framework/{cache/data,sessions,views}`,
//! `storage/logs`, `storage/app/public`). Sent on every deploy as the
//! `SHARED_TREE` input of `common/deploy-apply`, which makes what is
//! missing as the site user and changes nothing that exists.

use std::path::Path;

/// File names kept as placeholders (they hold a directory in git).
const PLACEHOLDERS: [&str; 3] = [".gitignore", ".gitkeep", ".keep"];
/// A placeholder larger than this is content, not a placeholder.
const PLACEHOLDER_MAX_BYTES: u64 = 4096;
/// At most this many lines are sent: a shared path full of local test
/// uploads should not make every deploy's input huge.
const MAX_ENTRIES: usize = 2000;

/// The frameworks whose layout Pond knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Laravel,
}

impl Framework {
    /// Laravel: an `artisan` file and `bootstrap/app.php` at the root.
    pub fn detect(project_root: &Path) -> Option<Framework> {
        (project_root.join("artisan").is_file() && project_root.join("bootstrap/app.php").is_file())
            .then_some(Framework::Laravel)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Laravel => "laravel",
        }
    }

    /// Directories the framework writes at run time (relative to the
    /// release), which must exist when they are under a shared path.
    fn writable_dirs(self) -> &'static [&'static str] {
        match self {
            Framework::Laravel => &[
                "storage/app/public",
                "storage/framework/cache/data",
                "storage/framework/sessions",
                "storage/framework/views",
                "storage/logs",
            ],
        }
    }
}

/// The shared tree, one entry per line: `d\tPATH` for a directory,
/// `f\tPATH\tBASE64` for a placeholder file. Paths are relative to the
/// release and lie under one of `shared`. The second value says how many
/// entries were left out (over [`MAX_ENTRIES`]).
pub fn shared_tree(
    project_root: &Path,
    shared: &[String],
    framework: Option<Framework>,
) -> anyhow::Result<(String, usize)> {
    let mut entries: Vec<String> = Vec::new();
    let mut left_out = 0;
    let mut push = |entry: String, entries: &mut Vec<String>| {
        if entries.len() < MAX_ENTRIES {
            entries.push(entry);
        } else {
            left_out += 1;
        }
    };
    for path in shared {
        let local = project_root.join(path);
        let meta = match std::fs::symlink_metadata(&local) {
            Ok(m) => m,
            Err(_) => continue,
        };
        if meta.is_dir() {
            walk(&local, path, &mut |e| push(e, &mut entries))?;
        }
    }
    if let Some(framework) = framework {
        for dir in framework.writable_dirs() {
            let under = shared
                .iter()
                .any(|s| dir == s || dir.starts_with(&format!("{s}/")));
            let line = format!("d\t{dir}");
            if under && !entries.contains(&line) {
                push(line, &mut entries);
            }
        }
    }
    let mut text = entries.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    Ok((text, left_out))
}

/// Every directory under `dir` (whose path in the release is `rel`) and its
/// placeholder files, parents first; links are not followed.
fn walk(dir: &Path, rel: &str, emit: &mut dyn FnMut(String)) -> anyhow::Result<()> {
    use anyhow::Context;
    use base64::Engine;
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.contains(['\t', '\n', '\r']) {
            continue;
        }
        let path = format!("{rel}/{name}");
        let meta = std::fs::symlink_metadata(child.path())?;
        if meta.is_dir() {
            emit(format!("d\t{path}"));
            walk(&child.path(), &path, emit)?;
        } else if meta.is_file()
            && PLACEHOLDERS.contains(&name.as_str())
            && meta.len() <= PLACEHOLDER_MAX_BYTES
        {
            let bytes = std::fs::read(child.path())
                .with_context(|| format!("reading {}", child.path().display()))?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            emit(format!("f\t{path}\t{encoded}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laravel_project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (rel, text) in [
            ("artisan", "<?php"),
            ("bootstrap/app.php", "<?php"),
            ("storage/app/.gitignore", "*\n!public/\n!.gitignore\n"),
            ("storage/app/public/.gitignore", "*\n!.gitignore\n"),
            ("storage/framework/cache/.gitignore", "*\n"),
            ("storage/logs/laravel.log", "a local log line\n"),
            ("storage/app/public/avatar.png", "local upload"),
        ] {
            std::fs::create_dir_all(p.join(rel).parent().unwrap()).unwrap();
            std::fs::write(p.join(rel), text).unwrap();
        }
        dir
    }

    #[test]
    fn sends_directories_and_placeholders_but_no_content() {
        let project = laravel_project();
        let framework = Framework::detect(project.path());
        assert_eq!(framework, Some(Framework::Laravel));
        let (tree, left_out) = shared_tree(project.path(), &["storage".into()], framework).unwrap();
        assert_eq!(left_out, 0);
        let lines: Vec<&str> = tree.lines().collect();
        assert_eq!(
            lines,
            [
                "d\tstorage/app",
                "f\tstorage/app/.gitignore\tKgohcHVibGljLwohLmdpdGlnbm9yZQo=",
                "d\tstorage/app/public",
                "f\tstorage/app/public/.gitignore\tKgohLmdpdGlnbm9yZQo=",
                "d\tstorage/framework",
                "d\tstorage/framework/cache",
                "f\tstorage/framework/cache/.gitignore\tKgo=",
                "d\tstorage/logs",
                // Laravel's run-time places the project did not have.
                "d\tstorage/framework/cache/data",
                "d\tstorage/framework/sessions",
                "d\tstorage/framework/views",
            ]
        );
        assert!(!tree.contains("laravel.log") && !tree.contains("avatar"));
    }

    #[test]
    fn framework_dirs_only_under_a_shared_path_and_no_framework_no_extras() {
        let project = laravel_project();
        let (tree, _) = shared_tree(
            project.path(),
            &["storage/app/public".into()],
            Some(Framework::Laravel),
        )
        .unwrap();
        assert_eq!(
            tree,
            "f\tstorage/app/public/.gitignore\tKgohLmdpdGlnbm9yZQo=\n\
             d\tstorage/app/public\n"
        );
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(Framework::detect(plain.path()), None);
        let (tree, _) = shared_tree(plain.path(), &["uploads".into()], None).unwrap();
        assert_eq!(tree, "");
    }

    #[test]
    fn caps_the_number_of_entries() {
        let project = tempfile::tempdir().unwrap();
        for i in 0..(MAX_ENTRIES + 5) {
            std::fs::create_dir_all(project.path().join(format!("up/{i:05}"))).unwrap();
        }
        let (tree, left_out) = shared_tree(project.path(), &["up".into()], None).unwrap();
        assert_eq!(tree.lines().count(), MAX_ENTRIES);
        assert_eq!(left_out, 5);
    }
}
