//! What this computer uploaded, kept so a later deploy can send a changed
//! file as its difference from the server's copy: the upload is compressed
//! against the old contents of the files it replaces (a zstd reference
//! prefix), which the server rebuilds from the base release and checks by
//! SHA-256 before it decompresses (`common/deploy-apply`, step
//! `reference`).
//!
//! The store is per project, under the cache directory: each file sent
//! (up to [`MAX_FILE`]) by its blake3 hash, the manifest's hash, written
//! 0600 without fsync (a torn or altered blob is found by re-hashing when
//! it is read, and left out). After a deploy, the hashes each environment
//! now runs (and ran before) are recorded; every [`COLLECT_EVERY`] at
//! most, blobs no environment runs are then deleted (unless sent in the
//! last hour: another deploy's, maybe, still running). A server whose copies differ from what the store says
//! (changed there with size and time kept, a file a hook made a link)
//! refuses the reference before it changes anything, and the deploy sends
//! those files whole.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::manifest::Manifest;

/// Files larger than this are neither kept nor sent as differences.
pub const MAX_FILE: u64 = 4 << 20;

/// How often a deploy's record also deletes what no environment runs.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
/// The reference prefix and the upload together stay within zstd's default
/// decoding window (2^27), which the server's `zstd -d` accepts unasked.
const MAX_WINDOW_LOG: u32 = 27;
/// Below this many bytes sent (the files of an upload, in all), files go
/// whole: the server's reading and checking of its copies (~10 ms of
/// forks on a small droplet) costs more than the few KB the differences
/// save (about a third of it, zstd's own ratio on source code), even on a
/// slow uplink.
pub const DIFFERENCES_FROM: u64 = 64 << 10;

/// The kept uploads of one project.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// What an upload is compressed against: the server's copies of `paths`,
/// concatenated in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reference {
    pub paths: Vec<String>,
    pub prefix: Vec<u8>,
    /// SHA-256 of `prefix`, hex: what the server checks its copy against.
    pub sha256: String,
}

impl Reference {
    /// The zstd window that lets the upload (`upload_bytes` of file data)
    /// refer back over the whole prefix.
    pub fn window_log(&self, upload_bytes: u64) -> u32 {
        let total = self.prefix.len() as u64 + upload_bytes + (1 << 20);
        (64 - total.leading_zeros()).clamp(20, MAX_WINDOW_LOG)
    }
}

static TEMP: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// The store of the project at `project_root` (by its canonical path).
    pub fn for_project(project_root: &Path) -> anyhow::Result<Store> {
        let canonical =
            std::fs::canonicalize(project_root).unwrap_or_else(|_| project_root.to_path_buf());
        let key = blake3::hash(canonical.to_string_lossy().as_bytes()).to_hex();
        Ok(Store {
            dir: crate::settings::cache_dir()?
                .join("uploads")
                .join(&key.as_str()[..16]),
        })
    }

    /// A store at `dir` (tests).
    pub fn at(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    fn blob(&self, hash: &str) -> Option<PathBuf> {
        // Manifest hashes are hex; anything else never names a file here.
        (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.blobs().join(hash))
    }

    /// The content with this hash, if kept and intact.
    pub fn get(&self, hash: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob(hash)?).ok()?;
        (blake3::hash(&bytes).to_hex().as_str() == hash).then_some(bytes)
    }

    /// Keeps `bytes` if they hash to `hash` and are not kept yet. A cache:
    /// failing to write only costs bytes on a later deploy.
    pub fn put(&self, hash: &str, bytes: &[u8]) {
        let Some(path) = self.blob(hash) else { return };
        if bytes.len() as u64 > MAX_FILE || blake3::hash(bytes).to_hex().as_str() != hash {
            return;
        }
        if path.exists() {
            // Sent again: young again, so a deploy from here to another
            // environment does not delete it meanwhile.
            let _ = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return;
        }
        let _ = self.write(&path, bytes);
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.blobs();
        create_private_dir(&dir)?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// The reference for sending `send` (`upload_bytes` in all) to a
    /// server that has `remote`: every regular file it has under the same
    /// path, with a hash this store keeps, in `send`'s order, while the
    /// window allows; none for an upload under [`DIFFERENCES_FROM`].
    pub fn reference(
        &self,
        send: &[String],
        local: &Manifest,
        remote: &Manifest,
        upload_bytes: u64,
    ) -> Reference {
        let mut r = Reference::default();
        if upload_bytes < DIFFERENCES_FROM {
            return r;
        }
        let budget = (1u64 << MAX_WINDOW_LOG).saturating_sub(upload_bytes + (2 << 20));
        for path in send {
            let (Some(old), Some(new)) = (remote.get(path), local.get(path)) else {
                continue;
            };
            if old.mode == "l" || new.mode == "l" || old.size > MAX_FILE {
                continue;
            }
            // What the server claims is checked against what is kept (a
            // hostile server could claim small sizes for big blobs).
            let Some(bytes) = self.get(&old.hash) else {
                continue;
            };
            if bytes.len() as u64 != old.size {
                continue;
            }
            if r.prefix.len() as u64 + old.size > budget {
                break;
            }
            r.prefix.extend_from_slice(&bytes);
            r.paths.push(path.clone());
        }
        if !r.paths.is_empty() {
            use sha2::Digest;
            r.sha256 = format!("{:x}", sha2::Sha256::digest(&r.prefix));
        }
        r
    }

    /// Records what environment `env` now runs (keeping what it ran
    /// before: a deploy at `keep_builds` 2 may start from that), then,
    /// when due ([`COLLECT_EVERY`]), [`Store::collect`]s.
    pub fn record(&self, env: &str, runs: &Manifest) {
        let envs = self.dir.join("envs");
        if create_private_dir(&envs).is_err() {
            return;
        }
        let hashes: String = runs
            .values()
            .filter(|e| e.mode != "l" && e.size <= MAX_FILE)
            .map(|e| format!("{}\n", e.hash))
            .collect();
        let name = blake3::hash(env.as_bytes()).to_hex();
        let now = envs.join(format!("{}.now", &name.as_str()[..16]));
        let _ = std::fs::rename(&now, now.with_extension("before"));
        let _ = self.write_env(&now, hashes.as_bytes());
        if self.collection_due() {
            self.collect();
        }
    }

    /// Whether the last [`Store::collect`] was [`COLLECT_EVERY`] ago or
    /// more (or never ran): reading every record and listing every blob
    /// costs a deploy of a few thousand files ~10 ms, which every deploy
    /// waits for, so it runs now and then, not after each.
    fn collection_due(&self) -> bool {
        let stamp = self.dir.join("envs").join("collected");
        let now = std::time::SystemTime::now();
        // (A time ahead of now, left by a clock set back since, is due.)
        !std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > now - COLLECT_EVERY && t <= now + std::time::Duration::from_secs(60))
    }

    /// Deletes the blobs no environment runs or ran before (unless written
    /// in the last hour), the records of environments not deployed from
    /// here for 90 days and temp files a crash left, and notes when it ran.
    pub fn collect(&self) {
        let envs = self.dir.join("envs");
        let _ = std::fs::write(envs.join("collected"), b"");
        let stale = std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 86400);
        let mut keep = HashSet::new();
        for entry in std::fs::read_dir(&envs).into_iter().flatten().flatten() {
            let path = entry.path();
            let record = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("now" | "before")
            );
            if path.file_name().is_some_and(|n| n == "collected") {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < stale);
            if !record || old {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                keep.extend(text.lines().map(str::to_string));
            }
        }
        // A blob written in the last hour may be another deploy's, running
        // from this computer now, that has not recorded yet.
        let recent = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in std::fs::read_dir(self.blobs())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            // (A kept blob is not even stat'ed: most are kept.)
            if keep.contains(&name) {
                continue;
            }
            let young = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > recent);
            if !young {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn write_env(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path))
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::super::manifest::Entry;
    use super::*;

    fn entry(bytes: &[u8]) -> Entry {
        Entry {
            hash: blake3::hash(bytes).to_hex().to_string(),
            size: bytes.len() as u64,
            mode: "644".into(),
        }
    }

    #[test]
    fn a_reference_is_the_kept_old_contents_of_the_files_sent_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let (a_old, b_old, c_old) = (
            b"a one".as_slice(),
            b"b one".as_slice(),
            b"c one".as_slice(),
        );
        for bytes in [a_old, b_old] {
            store.put(&entry(bytes).hash, bytes);
        }
        // A blob whose bytes do not match its name is never kept.
        store.put(&entry(c_old).hash, b"something else");
        let remote: Manifest = [("b", b_old), ("a", a_old), ("c", c_old)]
            .into_iter()
            .map(|(p, b)| (p.to_string(), entry(b)))
            .collect();
        let local: Manifest = [
            ("a", b"a two"),
            ("b", b"b two"),
            ("c", b"c two"),
            ("d", b"d new"),
        ]
        .into_iter()
        .map(|(p, b)| (p.to_string(), entry(b)))
        .collect();
        let send: Vec<String> = ["b", "a", "c", "d"].map(String::from).to_vec();
        // A small upload goes whole: nothing to read on the server.
        assert_eq!(
            store.reference(&send, &local, &remote, 20),
            Reference::default()
        );
        let r = store.reference(&send, &local, &remote, DIFFERENCES_FROM);
        assert_eq!(r.paths, ["b", "a"]);
        assert_eq!(r.prefix, b"b onea one");
        use sha2::Digest;
        assert_eq!(
            r.sha256,
            format!("{:x}", sha2::Sha256::digest(b"b onea one"))
        );
        // A blob altered on disk is left out.
        std::fs::write(dir.path().join("blobs").join(entry(a_old).hash), b"a 0ne").unwrap();
        assert_eq!(
            store
                .reference(&send, &local, &remote, DIFFERENCES_FROM)
                .paths,
            ["b"]
        );
    }

    #[test]
    fn an_upload_against_a_reference_is_small_and_the_zstd_cli_rebuilds_it() {
        let project = tempfile::tempdir().unwrap();
        let kept = tempfile::tempdir().unwrap();
        let store = Store::at(kept.path());
        // 100 files of ~7 KB, text that compresses as code does.
        let text = |i: usize| -> String {
            (0..300)
                .map(|l| format!("$line_{i}_{l} = strlen('{}');\n", (l * 7919 + i) % 1013))
                .collect()
        };
        let paths: Vec<String> = (0..100).map(|i| format!("app/F{i:03}.php")).collect();
        std::fs::create_dir_all(project.path().join("app")).unwrap();
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(project.path().join(p), text(i)).unwrap();
        }
        let first = super::super::manifest::scan(project.path(), ".pondignore").unwrap();
        // The first upload keeps what it sends.
        super::super::manifest::write_upload_against(
            std::io::sink(),
            project.path(),
            &paths,
            &first,
            &[],
            &Reference::default(),
            Some(&store),
        )
        .unwrap();
        // One line more in each, as the bench changes them.
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(project.path().join(p), format!("{}// changed\n", text(i))).unwrap();
        }
        let second = super::super::manifest::scan(project.path(), ".pondignore").unwrap();
        let bytes: u64 = second.values().map(|e| e.size).sum();
        let reference = store.reference(&paths, &second, &first, bytes);
        assert_eq!(reference.paths.len(), 100);
        let upload = |r: &Reference| {
            let mut out = vec![];
            super::super::manifest::write_upload_against(
                &mut out,
                project.path(),
                &paths,
                &second,
                &[],
                r,
                None,
            )
            .unwrap();
            out
        };
        let (whole, against) = (upload(&Reference::default()), upload(&reference));
        assert!(
            against.len() * 10 < whole.len(),
            "{} bytes against the reference, {} without",
            against.len(),
            whole.len()
        );
        // What the server runs: zstd -d --patch-from=<its copies>.
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("reference"), &reference.prefix).unwrap();
        std::fs::write(work.path().join("upload"), &against).unwrap();
        let out = std::process::Command::new("zstd")
            .args(["-dcq", "--patch-from=reference", "upload"])
            .current_dir(work.path())
            .output()
            .expect("zstd (Debian package zstd) runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut archive = tar::Archive::new(&out.stdout[..]);
        let mut seen = 0;
        for file in archive.entries().unwrap() {
            let mut file = file.unwrap();
            let path = file.path().unwrap().to_string_lossy().to_string();
            let mut content = String::new();
            std::io::Read::read_to_string(&mut file, &mut content).unwrap();
            if let Some(i) = paths.iter().position(|p| *p == path) {
                assert_eq!(content, format!("{}// changed\n", text(i)));
                seen += 1;
            }
        }
        assert_eq!(seen, 100);
        // Against a reference that differs, zstd refuses (the frame's
        // checksum), never writes a wrong file silently.
        let mut wrong = reference.prefix.clone();
        wrong[10] ^= 1;
        std::fs::write(work.path().join("reference"), &wrong).unwrap();
        let out = std::process::Command::new("zstd")
            .args(["-dcq", "--patch-from=reference", "upload"])
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
    }

    #[test]
    fn recording_what_environments_run_deletes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        for bytes in [b"one".as_slice(), b"two", b"three", b"four"] {
            store.put(&entry(bytes).hash, bytes);
        }
        // Written two hours ago, except "four" (another deploy's, maybe).
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for bytes in [b"one".as_slice(), b"two", b"three"] {
            let blob = dir.path().join("blobs").join(entry(bytes).hash);
            std::fs::File::options()
                .write(true)
                .open(blob)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let runs = |items: &[&[u8]]| -> Manifest {
            items
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("f{i}"), entry(b)))
                .collect()
        };
        // The first record collects (none did before); the next ones wait
        // their turn.
        store.record("production", &runs(&[b"one", b"two"]));
        assert!(store.get(&entry(b"three").hash).is_none());
        store.record("staging", &runs(&[b"two"]));
        // Production moves on; staging still runs "two".
        store.record("production", &runs(&[b"one"]));
        store.collect();
        assert!(store.get(&entry(b"one").hash).is_some());
        assert!(store.get(&entry(b"two").hash).is_some());
        assert!(store.get(&entry(b"three").hash).is_none());
        assert!(store.get(&entry(b"four").hash).is_some());
        // What production ran before stays too (keep_builds 2 may start
        // from it); once it is two deploys back, it goes.
        store.record("staging", &runs(&[b"one"]));
        store.collect();
        assert!(store.get(&entry(b"two").hash).is_some());
        store.record("production", &runs(&[b"one"]));
        store.record("staging", &runs(&[b"one"]));
        store.collect();
        assert!(store.get(&entry(b"two").hash).is_none());
        // A record collects by itself once the last collection is old.
        let bytes = b"five".as_slice();
        store.put(&entry(bytes).hash, bytes);
        let blob = dir.path().join("blobs").join(entry(bytes).hash);
        let set_old = |path: &Path| {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        set_old(&blob);
        store.record("production", &runs(&[b"one"]));
        assert!(store.get(&entry(bytes).hash).is_some(), "collected 0 s ago");
        set_old(&dir.path().join("envs").join("collected"));
        store.record("production", &runs(&[b"one"]));
        assert!(store.get(&entry(bytes).hash).is_none(), "collected 2 h ago");
        // A collection dated ahead of now (a clock set back since) is due.
        store.put(&entry(bytes).hash, bytes);
        set_old(&blob);
        let ahead = std::time::SystemTime::now() + std::time::Duration::from_secs(86400);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("envs").join("collected"))
            .unwrap()
            .set_modified(ahead)
            .unwrap();
        store.record("production", &runs(&[b"one"]));
        assert!(
            store.get(&entry(bytes).hash).is_none(),
            "collected a day ahead"
        );
    }
}
