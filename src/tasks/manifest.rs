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

/// How a walk decides a regular file's hash: `(path, metadata,
/// read_and_hash)` → its hash.
type HashOf<'a> = dyn FnMut(&str, &std::fs::Metadata, &dyn Fn() -> anyhow::Result<String>) -> anyhow::Result<String>
    + 'a;

/// The mode a manifest gives a regular file: `755` if executable, else `644`.
fn file_mode(meta: &std::fs::Metadata) -> &'static str {
    if crate::platform::is_executable(meta) {
        "755"
    } else {
        "644"
    }
}

/// Remembered hashes: path → (size, mtime ns, inode, mode, hash).
type HashCache = std::collections::HashMap<String, (u64, i128, u64, String, String)>;

fn load_cache(path: &Path) -> HashCache {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (path, size, mtime, ino, mode, hash) = (
                f.next()?,
                f.next()?,
                f.next()?,
                f.next()?,
                f.next()?,
                f.next()?,
            );
            // (A line cut short by a crash is dropped: the cache is not synced.)
            (f.next().is_none() && hash.len() == 64).then_some(())?;
            Some((
                path.to_string(),
                (
                    size.parse().ok()?,
                    mtime.parse().ok()?,
                    ino.parse().ok()?,
                    mode.to_string(),
                    hash.to_string(),
                ),
            ))
        })
        .collect()
}

fn save_cache(path: &Path, cache: &HashCache) {
    use std::fmt::Write;
    let mut text = String::with_capacity(cache.len() * 160);
    for (p, (size, mtime, ino, mode, hash)) in cache {
        let _ = writeln!(text, "{p}\t{size}\t{mtime}\t{ino}\t{mode}\t{hash}");
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A cache: failing to write it only costs time next deploy, so it is
    // replaced by a rename but not synced to disk (a deploy waits for it;
    // after a crash, a lost or cut cache only means hashing again).
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    if std::fs::write(&tmp, text.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path))
        .is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Walks `root` and hashes every file that is not ignored. With a cache
/// file, files whose size, mtime and inode are unchanged keep their hash,
/// so a deploy of a big tree only reads the files that changed.
pub fn scan_cached(root: &Path, ignore_file: &str, cache_path: &Path) -> anyhow::Result<Manifest> {
    let old = load_cache(cache_path);
    let mut new = HashCache::new();
    let manifest = walk(root, ignore_file, &mut |rel, meta, read| {
        let (mtime, ino) = crate::platform::stamp(meta);
        let mode = file_mode(meta);
        let hash = match old.get(rel) {
            Some((size, m, i, md, hash))
                if *size == meta.len() && *m == mtime && *i == ino && md == mode =>
            {
                hash.clone()
            }
            _ => read()?,
        };
        new.insert(
            rel.to_string(),
            (meta.len(), mtime, ino, mode.to_string(), hash.clone()),
        );
        Ok(hash)
    })?;
    save_cache(cache_path, &new);
    Ok(manifest)
}

/// Walks `root` and hashes every file that is not ignored.
pub fn scan(root: &Path, ignore_file: &str) -> anyhow::Result<Manifest> {
    walk(root, ignore_file, &mut |_, _, read| read())
}

/// The walk behind [`scan`]: `hash_of(path, metadata, read_and_hash)`
/// decides each regular file's hash. Each directory is read once, its
/// entries in name order, and closed before the directories under it are
/// read; an entry's type comes with the listing, and on Linux and macOS
/// its metadata from the directory it is in (`fstatat`: no lookup of its
/// whole path). On Windows a file's metadata is read from the file (the
/// listing's copy can lag behind a write, and size and time are all the
/// hash cache has there).
fn walk(root: &Path, ignore_file: &str, hash_of: &mut HashOf) -> anyhow::Result<Manifest> {
    // The ignore file's patterns are relative to the project root (so
    // `/storage/` means the top-level storage only).
    let ignore_path = root.join(ignore_file);
    let matcher = if ignore_path.is_file() {
        let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
        if let Some(e) = builder.add(&ignore_path) {
            return Err(anyhow::anyhow!("{}: {e}", ignore_path.display()));
        }
        Some(
            builder
                .build()
                .map_err(|e| anyhow::anyhow!("{}: {e}", ignore_path.display()))?,
        )
    } else {
        None
    };
    let mut manifest = Manifest::new();
    let mut walk = Walk {
        root,
        ignore_file,
        matcher: matcher.as_ref(),
        hash_of,
        manifest: &mut manifest,
    };
    walk.dir(root, "")?;
    Ok(manifest)
}

/// One walk of a project tree ([`walk`]).
struct Walk<'a> {
    root: &'a Path,
    ignore_file: &'a str,
    matcher: Option<&'a ignore::gitignore::Gitignore>,
    hash_of: &'a mut HashOf<'a>,
    manifest: &'a mut Manifest,
}

impl Walk<'_> {
    /// The entries of `dir` (`rel` in the project, "" for its root), and
    /// the directories under it, depth first.
    fn dir(&mut self, dir: &Path, rel: &str) -> anyhow::Result<()> {
        let walking = || format!("walking {}", self.root.display());
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))
            .with_context(walking)?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("reading {}", dir.display()))
            .with_context(walking)?;
        entries.sort_by_key(|e| e.file_name());
        let mut below = vec![];
        for entry in entries {
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("reading {}", path.display()))?;
            // (Ignored paths first: an ignored name may be anything.)
            if self
                .matcher
                .is_some_and(|m| m.matched(&path, kind.is_dir()).is_ignore())
            {
                continue;
            }
            let name = entry.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
            let rel_text = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            if (rel.is_empty() && ALWAYS_IGNORED.contains(&name)) || rel_text == self.ignore_file {
                continue;
            }
            if rel_text.contains(['\t', '\n', '\r']) {
                bail!(
                    "{} has a tab or newline in its name; rename it or add it to {}",
                    path.display(),
                    self.ignore_file
                );
            }
            if kind.is_dir() {
                below.push((path, rel_text));
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path)?;
                let target = target.to_string_lossy();
                self.manifest.insert(
                    rel_text,
                    Entry {
                        hash: blake3::hash(target.as_bytes()).to_hex().to_string(),
                        size: 0,
                        mode: "l".into(),
                    },
                );
            } else if kind.is_file() {
                #[cfg(not(windows))]
                let meta = entry.metadata();
                #[cfg(windows)]
                let meta = std::fs::symlink_metadata(&path);
                let meta = meta.with_context(|| format!("reading {}", path.display()))?;
                let read = || -> anyhow::Result<String> {
                    let mut hasher = blake3::Hasher::new();
                    let file = std::fs::File::open(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    hasher
                        .update_reader(file)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Ok(hasher.finalize().to_hex().to_string())
                };
                let hash = (self.hash_of)(&rel_text, &meta, &read)?;
                self.manifest.insert(
                    rel_text,
                    Entry {
                        hash,
                        size: meta.len(),
                        mode: file_mode(&meta).into(),
                    },
                );
            }
        }
        // (This directory's listing is closed by now: one open directory at
        // a time, however deep the tree.)
        for (path, rel_text) in below {
            self.dir(&path, &rel_text)?;
        }
        Ok(())
    }
}

/// The manifest as the server stores it: `hash\tsize\tmode\tpath` lines.
pub fn to_text(m: &Manifest) -> String {
    let mut out = String::new();
    for (path, e) in m {
        out.push_str(&format!("{}\t{}\t{}\t{}\n", e.hash, e.size, e.mode, path));
    }
    out
}

/// Parses the manifest lines the server reports: `F\thash\tsize\tmode\tpath`,
/// or the release's own `hash\tsize\tmode\tpath` lines as they are (sent
/// as is when no file is stale: `common/deploy-prepare`), whose hash is 64
/// hex digits or `-`. Other lines (reports, `S\tpath`) are not entries.
pub fn parse_remote(lines: &str) -> Manifest {
    let mut m = Manifest::new();
    for line in lines.lines() {
        let (line, tagged) = match line.strip_prefix("F\t") {
            Some(entry) => (entry, true),
            None => (line, false),
        };
        let mut parts = line.splitn(4, '\t');
        let (Some(hash), Some(size), Some(mode), Some(path)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let is_hash = hash == "-"
            || (hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        if !tagged && !is_hash {
            continue;
        }
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

/// Paths the server reports as changed since its manifest (`S\tpath`).
pub fn parse_stale(lines: &str) -> Vec<String> {
    lines
        .lines()
        .filter_map(|l| l.strip_prefix("S\t"))
        .map(str::to_string)
        .collect()
}

/// What to send and what to delete to turn `remote` into `local`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub send: Vec<String>,
    pub delete: Vec<String>,
    pub bytes: u64,
}

/// `stale` paths changed on the server since its manifest: they are sent
/// again if they exist locally, deleted otherwise.
pub fn delta(local: &Manifest, remote: &Manifest, stale: &[String]) -> Delta {
    let mut d = Delta::default();
    for (path, e) in local {
        if remote.get(path) != Some(e) {
            d.bytes += e.size;
            d.send.push(path.clone());
        }
    }
    for path in remote.keys().chain(stale) {
        if !local.contains_key(path) && !d.delete.contains(path) {
            d.delete.push(path.clone());
        }
    }
    d
}

/// The mode a file gets on the server: readable by the environment's group
/// (the site user and nginx), writable only by the deploy user that owns
/// it, nothing for others; executable where it is locally.
fn server_mode(meta: &std::fs::Metadata) -> u32 {
    let executable = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        {
            false
        }
    };
    if meta.is_dir() || executable {
        0o750
    } else {
        0o640
    }
}

/// Writes a tar of `send` (read from `root`), the generated config files,
/// and the manifest entries of what was sent into `out`, zstd-compressed.
pub fn write_upload(
    out: impl std::io::Write,
    root: &Path,
    send: &[String],
    manifest: &Manifest,
    generated: &[(String, Vec<u8>)],
) -> anyhow::Result<()> {
    write_upload_against(
        out,
        root,
        send,
        manifest,
        generated,
        &super::upload_store::Reference::default(),
        None,
    )
}

/// Where the upload carries the entries of the files it sends.
pub const MANIFEST_DELTA: &str = ".pond/manifest.delta";

/// The directories above `paths` (relative, `/`-separated), each once,
/// parents before children: where an upload of them puts files, which the
/// server checks for links first (`deploy-apply`'s `ABOVE`).
pub fn directories_above<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut dirs = std::collections::BTreeSet::new();
    for path in paths {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            dirs.insert(path[..end].to_string());
            end += 1;
        }
    }
    // Sorted, a directory comes before everything under it ("a" < "a/b").
    dirs.into_iter().collect()
}

/// [`write_upload`] compressed against `reference` (the server's copies
/// of files it replaces, which the server rebuilds to decompress), keeping
/// what it sends in `keep` for later deploys.
pub fn write_upload_against(
    out: impl std::io::Write,
    root: &Path,
    send: &[String],
    manifest: &Manifest,
    generated: &[(String, Vec<u8>)],
    reference: &super::upload_store::Reference,
    keep: Option<&super::upload_store::Store>,
) -> anyhow::Result<()> {
    let bytes: u64 = send
        .iter()
        .filter_map(|p| manifest.get(p))
        .map(|e| e.size)
        .sum();
    let mut encoder = if reference.prefix.is_empty() {
        zstd::Encoder::new(out, 1)?
    } else {
        let mut e = zstd::Encoder::with_ref_prefix(out, 1, &reference.prefix)?;
        // Matches reach back over the whole prefix: a window covering it,
        // found at level 1 by long-distance matching.
        e.window_log(reference.window_log(bytes))?;
        e.long_distance_matching(true)?;
        e
    };
    // A reference the server rebuilt wrongly fails this, not silently.
    encoder.include_checksum(true)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    // Real mtimes; modes as the server keeps releases (the deploy user
    // extracts as itself, without owners).
    tar.mode(tar::HeaderMode::Complete);
    // Entries of files whose content changed since the scan, as sent.
    let mut sent_as = Manifest::new();
    // What is kept is written on a thread of its own, never slowing the
    // stream (a first deploy keeps thousands of files).
    let (keeping, kept) = match keep {
        Some(store) => {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(String, Vec<u8>)>(256);
            let store = store.clone();
            let writer = std::thread::spawn(move || {
                for (hash, content) in rx {
                    store.put(&hash, &content);
                }
            });
            (Some(tx), Some(writer))
        }
        None => (None, None),
    };
    for path in send {
        let full: PathBuf = root.join(path);
        let meta = std::fs::symlink_metadata(&full)
            .with_context(|| format!("reading {}", full.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(server_mode(&meta));
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full)?;
            tar.append_link(&mut header, path, target)?;
        } else if meta.len() <= super::upload_store::MAX_FILE {
            // Read once: sent, kept, and recorded with the hash of what
            // was sent (a file edited since the scan is recorded as sent,
            // so the release's manifest never names content it lacks).
            let content =
                std::fs::read(&full).with_context(|| format!("reading {}", full.display()))?;
            header.set_size(content.len() as u64);
            tar.append_data(&mut header, path, &content[..])
                .with_context(|| format!("adding {} to the upload", full.display()))?;
            let hash = blake3::hash(&content).to_hex().to_string();
            if let Some(entry) = manifest.get(path)
                && entry.hash != hash
            {
                sent_as.insert(
                    path.clone(),
                    Entry {
                        hash: hash.clone(),
                        size: content.len() as u64,
                        mode: entry.mode.clone(),
                    },
                );
            }
            if let Some(tx) = &keeping {
                // A writer that stopped only costs differences later.
                let _ = tx.send((hash, content));
            }
        } else {
            let file = std::fs::File::open(&full)
                .with_context(|| format!("reading {}", full.display()))?;
            tar.append_data(&mut header, path, file)
                .with_context(|| format!("adding {} to the upload", full.display()))?;
        }
    }
    let mut add = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o640);
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
    // Only the entries of the files sent; the server merges them into the
    // manifest it already has.
    let sent: Manifest = send
        .iter()
        .filter_map(|p| {
            sent_as
                .get(p)
                .or_else(|| manifest.get(p))
                .map(|e| (p.clone(), e.clone()))
        })
        .collect();
    add(MANIFEST_DELTA, to_text(&sent).as_bytes())?;
    let encoder = tar.into_inner()?;
    encoder.finish()?.flush()?;
    drop(keeping);
    if let Some(writer) = kept {
        let _ = writer.join();
    }
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

    /// A name that is not UTF-8 is refused where it would be sent, and
    /// passes unseen where the ignore file leaves it out.
    #[cfg(target_os = "linux")]
    #[test]
    fn names_that_are_not_utf8_matter_only_where_they_are_sent() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tree();
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        std::fs::write(dir.path().join("node_modules/x").join(odd), "x").unwrap();
        let m = scan(dir.path(), ".pondignore").unwrap();
        assert_eq!(m.len(), 2);
        std::fs::write(dir.path().join("public").join(odd), "x").unwrap();
        let e = scan(dir.path(), ".pondignore").unwrap_err();
        assert!(format!("{e:#}").contains("is not valid UTF-8"), "{e:#}");
    }

    #[test]
    fn anchored_patterns_match_from_the_project_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for rel in [
            "storage/app/.gitignore",
            "bootstrap/cache/config.php",
            "bootstrap/cache/.gitignore",
            "app/storage/kept.txt",
            "vendor/x/y.php",
            "lib/vendor/kept.php",
        ] {
            std::fs::create_dir_all(p.join(rel).parent().unwrap()).unwrap();
            std::fs::write(p.join(rel), "x").unwrap();
        }
        std::fs::write(
            p.join(".pondignore"),
            "# comment\n/bootstrap/cache/*.php\n/storage/\n/vendor/\n",
        )
        .unwrap();
        let m = scan(p, ".pondignore").unwrap();
        let paths: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "app/storage/kept.txt",
                "bootstrap/cache/.gitignore",
                "lib/vendor/kept.php"
            ]
        );
    }

    #[test]
    fn the_hash_cache_is_used_and_notices_changes() {
        let dir = tree();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = cache_dir.path().join("cache.tsv");
        let first = scan_cached(dir.path(), ".pondignore", &cache).unwrap();
        assert_eq!(first, scan(dir.path(), ".pondignore").unwrap());
        assert!(
            std::fs::read_to_string(&cache)
                .unwrap()
                .contains("public/index.php\t")
        );
        // Same size, mtime and inode: the cached hash is trusted.
        let text = std::fs::read_to_string(&cache)
            .unwrap()
            .replace(&first["public/index.php"].hash, &"0".repeat(64));
        std::fs::write(&cache, text).unwrap();
        assert_eq!(
            scan_cached(dir.path(), ".pondignore", &cache).unwrap()["public/index.php"].hash,
            "0".repeat(64)
        );
        // A real change (new size) is hashed again.
        std::fs::write(dir.path().join("public/index.php"), "<?php echo 22;").unwrap();
        let again = scan_cached(dir.path(), ".pondignore", &cache).unwrap();
        assert_eq!(
            again["public/index.php"].hash,
            blake3::hash(b"<?php echo 22;").to_hex().to_string()
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
        let d = delta(&local, &remote, &["e".into(), "a".into()]);
        assert_eq!(d.send, ["b", "c"]);
        assert_eq!(d.delete, ["d", "e"]);
        assert_eq!(d.bytes, 2);
        let text = to_text(&local)
            .lines()
            .map(|l| format!("F\t{l}\n"))
            .collect::<String>();
        assert_eq!(parse_remote(&text), local);
        // The release's own lines, as they are, read the same; reports and
        // stale paths are not entries.
        let hashed: Manifest = local
            .iter()
            .map(|(p, e)| {
                let hash = blake3::hash(e.hash.as_bytes()).to_hex().to_string();
                (p.clone(), Entry { hash, ..e.clone() })
            })
            .chain([("marked".to_string(), e("-"))])
            .collect();
        let bare = format!("@pond:0123 {{}}\nS\tgone\n{}", to_text(&hashed));
        assert_eq!(parse_remote(&bare), hashed);
        assert_eq!(parse_stale(&bare), ["gone"]);
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
        assert_eq!(names, ["public/index.php", ".env", ".pond/manifest.delta"]);
    }

    #[test]
    fn directories_above_come_once_and_parents_first() {
        let paths = ["a/b/c.txt", "a/b/d.txt", "a-b/x", "top.txt", "a/e/f"];
        assert_eq!(
            directories_above(paths.into_iter()),
            ["a", "a-b", "a/b", "a/e"]
        );
    }
}
