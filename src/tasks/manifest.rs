//! The local side of a deploy: which files of the project tree go to the
//! server (honouring the ignore file with gitignore semantics), their
//! content hashes, and the difference against what the server has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// blake3 of the content (of the link target for symlinks), hex.
    pub hash: String,
    pub size: u64,
    /// `644`, `755`, or `l` for a symlink.
    pub mode: String,
}

/// Path (relative, `/`-separated) → entry.
pub type Manifest = BTreeMap<String, Entry>;

/// Paths that are never deployed, whatever the ignore file says.
const ALWAYS_IGNORED: [&str; 3] = ["pond.json", ".git", ".pond"];

/// Walks `root` and hashes every file that is not ignored.
pub fn scan(root: &Path, ignore_file: &str) -> anyhow::Result<Manifest> {
    let mut walk = ignore::WalkBuilder::new(root);
    walk.standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b));
    let ignore_path = root.join(ignore_file);
    if ignore_path.is_file()
        && let Some(e) = walk.add_ignore(&ignore_path)
    {
        return Err(anyhow::anyhow!("{}: {e}", ignore_path.display()));
    }
    let mut manifest = Manifest::new();
    for entry in walk.build() {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        let path = entry.path();
        let rel = path.strip_prefix(root).expect("under root");
        if rel.as_os_str().is_empty() {
            continue;
        }
        let rel_text = rel
            .to_str()
            .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
        let first = rel_text.split('/').next().unwrap_or_default();
        if ALWAYS_IGNORED.contains(&first) || rel_text == ignore_file {
            continue;
        }
        if rel_text.contains(['\t', '\n', '\r']) {
            bail!(
                "{} has a tab or newline in its name; rename it or add it to {ignore_file}",
                path.display()
            );
        }
        let meta = std::fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path)?;
            let target = target.to_string_lossy();
            manifest.insert(
                rel_text.to_string(),
                Entry {
                    hash: blake3::hash(target.as_bytes()).to_hex().to_string(),
                    size: 0,
                    mode: "l".into(),
                },
            );
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                "755"
            } else {
                "644"
            };
            manifest.insert(
                rel_text.to_string(),
                Entry {
                    hash: blake3::hash(&bytes).to_hex().to_string(),
                    size: meta.len(),
                    mode: mode.into(),
                },
            );
        }
    }
    Ok(manifest)
}

/// The manifest as the server stores it: `hash\tsize\tmode\tpath` lines.
pub fn to_text(m: &Manifest) -> String {
    let mut out = String::new();
    for (path, e) in m {
        out.push_str(&format!("{}\t{}\t{}\t{}\n", e.hash, e.size, e.mode, path));
    }
    out
}

/// Parses `F\thash\tsize\tmode\tpath` lines the server reports.
pub fn parse_remote(lines: &str) -> Manifest {
    let mut m = Manifest::new();
    for line in lines.lines() {
        let mut parts = line.splitn(5, '\t');
        if parts.next() != Some("F") {
            continue;
        }
        let (Some(hash), Some(size), Some(mode), Some(path)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        m.insert(
            path.to_string(),
            Entry {
                hash: hash.into(),
                size: size.parse().unwrap_or(0),
                mode: mode.into(),
            },
        );
    }
    m
}

/// What to send and what to delete to turn `remote` into `local`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub send: Vec<String>,
    pub delete: Vec<String>,
    pub bytes: u64,
}

pub fn delta(local: &Manifest, remote: &Manifest) -> Delta {
    let mut d = Delta::default();
    for (path, e) in local {
        if remote.get(path) != Some(e) {
            d.bytes += e.size;
            d.send.push(path.clone());
        }
    }
    for path in remote.keys() {
        if !local.contains_key(path) {
            d.delete.push(path.clone());
        }
    }
    d
}

/// Writes a tar of `send` (read from `root`) plus Pond's metadata files
/// into `out`, zstd-compressed.
pub fn write_upload(
    out: impl std::io::Write,
    root: &Path,
    send: &[String],
    manifest: &Manifest,
    delete: &[String],
    generated: &[(String, Vec<u8>)],
) -> anyhow::Result<()> {
    let encoder = zstd::Encoder::new(out, 1)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    // Real modes and mtimes (the server extracts without owners).
    tar.mode(tar::HeaderMode::Complete);
    for path in send {
        let full: PathBuf = root.join(path);
        tar.append_path_with_name(&full, path)
            .with_context(|| format!("adding {} to the upload", full.display()))?;
    }
    let mut add = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)?;
        Ok(())
    };
    for (path, bytes) in generated {
        add(path, bytes)?;
    }
    add(".pond/manifest", to_text(manifest).as_bytes())?;
    let mut deleted = Vec::new();
    for p in delete {
        deleted.extend_from_slice(p.as_bytes());
        deleted.push(0);
    }
    add(".pond/deleted", &deleted)?;
    let encoder = tar.into_inner()?;
    encoder.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("public")).unwrap();
        std::fs::create_dir_all(p.join("node_modules/x")).unwrap();
        std::fs::create_dir_all(p.join(".git")).unwrap();
        std::fs::write(p.join("public/index.php"), "<?php echo 1;").unwrap();
        std::fs::write(p.join("node_modules/x/a.js"), "x").unwrap();
        std::fs::write(p.join(".git/HEAD"), "ref").unwrap();
        std::fs::write(p.join("pond.json"), "{}").unwrap();
        std::fs::write(p.join("debug.log"), "log").unwrap();
        std::fs::write(p.join(".env.example"), "A=1").unwrap();
        std::fs::write(p.join(".pondignore"), "node_modules/\n*.log\n").unwrap();
        dir
    }

    #[test]
    fn scans_with_gitignore_semantics_and_fixed_exclusions() {
        let dir = tree();
        let m = scan(dir.path(), ".pondignore").unwrap();
        let paths: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(paths, [".env.example", "public/index.php"]);
        assert_eq!(
            m["public/index.php"].hash,
            blake3::hash(b"<?php echo 1;").to_hex().to_string()
        );
    }

    #[test]
    fn delta_sends_changed_and_new_and_deletes_removed() {
        let e = |h: &str| Entry {
            hash: h.into(),
            size: 1,
            mode: "644".into(),
        };
        let local = Manifest::from([
            ("a".into(), e("1")),
            ("b".into(), e("2")),
            ("c".into(), e("3")),
        ]);
        let remote = Manifest::from([
            ("a".into(), e("1")),
            ("b".into(), e("9")),
            ("d".into(), e("4")),
        ]);
        let d = delta(&local, &remote);
        assert_eq!(d.send, ["b", "c"]);
        assert_eq!(d.delete, ["d"]);
        assert_eq!(d.bytes, 2);
        let text = to_text(&local)
            .lines()
            .map(|l| format!("F\t{l}\n"))
            .collect::<String>();
        assert_eq!(parse_remote(&text), local);
    }

    #[test]
    fn upload_round_trips_through_tar_and_zstd() {
        let dir = tree();
        let m = scan(dir.path(), ".pondignore").unwrap();
        let mut buf = vec![];
        write_upload(
            &mut buf,
            dir.path(),
            &["public/index.php".into()],
            &m,
            &["old.txt".into()],
            &[(".env".into(), b"A=1".to_vec())],
        )
        .unwrap();
        let decoded = zstd::decode_all(&buf[..]).unwrap();
        let mut archive = tar::Archive::new(&decoded[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "public/index.php",
                ".env",
                ".pond/manifest",
                ".pond/deleted"
            ]
        );
    }
}
