//! Build contexts: which files go (after `.dockerignore`), what they hash
//! to, and the tar that carries them to the engine.
//!
//! # Theory of operation
//!
//! [`scan`] walks the context once, applying the ignore rules (an excluded
//! directory is not even entered unless a `!` line may re-include
//! something in it), and lists every entry that will be sent with a
//! content hash. Hashing 10,000 files on every `up` would be slow, so a
//! *stat cache* per context (in muster's cache directory) remembers each
//! file's size, modification time, inode and hash; a file whose stat is
//! unchanged keeps its hash without being read. A file modified within two
//! seconds of the last scan is always re-read (the "racy" case git also
//! guards against: an edit within the clock's granularity).
//!
//! [`stream`] then writes the listed entries as a tar on a blocking thread
//! into a bounded channel of 64 KiB chunks that the engine request reads
//! from: at most about a megabyte is in flight, whatever the size of the
//! context. Symlinks are archived as links (never followed), owners as
//! root, as the docker CLI does.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ignore::IgnoreRules;
use crate::engine::BuildContext;

/// What kind of entry a context path is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A regular file of this size.
    File {
        /// Its size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link to this target (as written, not followed).
    Symlink {
        /// The link's target.
        target: String,
    },
}

/// One entry of a context, as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path relative to the context, `/`-separated.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its permission bits.
    pub mode: u32,
    /// Its modification time, in seconds since the epoch.
    pub mtime: u64,
    /// The hash of its content (files), target (links), or nothing (dirs).
    pub hash: String,
}

/// A scanned context: what will be sent, and its digest.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The context directory.
    pub root: PathBuf,
    /// Every entry, sorted by path.
    pub entries: Vec<Entry>,
    /// The hash of all entries: paths, kinds, modes and contents.
    pub digest: String,
    /// How many files were read (not answered by the stat cache).
    pub hashed: usize,
}

impl Scan {
    /// The files and links, by path, with their hashes (directories left
    /// out): what [`changed_files`] compares.
    #[must_use]
    pub fn manifest(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .filter(|e| e.kind != EntryKind::Dir)
            .map(|e| (e.path.clone(), e.hash.clone()))
            .collect()
    }

    /// The total size of the files.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size } => size,
                _ => 0,
            })
            .sum()
    }
}

/// A context entry that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct ContextError {
    /// The file or directory.
    pub path: PathBuf,
    /// What the system said.
    pub source: std::io::Error,
}

/// Where muster keeps its caches: `$XDG_CACHE_HOME/muster`, else
/// `~/.cache/muster`, else the temp dir.
#[must_use]
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("muster");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("muster");
    }
    std::env::temp_dir().join("muster-cache")
}

/// The SHA-256 of `bytes`, in hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    size: u64,
    mtime_ns: i128,
    ino: u64,
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StatCache {
    /// When the scan that wrote it ran, in nanoseconds since the epoch.
    scanned_at_ns: i128,
    files: HashMap<String, Cached>,
}

fn stat_cache_path(cache: &Path, root: &Path) -> PathBuf {
    let key = sha256_hex(root.as_os_str().as_encoded_bytes());
    cache
        .join("build")
        .join("stat")
        .join(format!("{}.json", &key[..32]))
}

fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// Lists what of `root` is sent under `rules`, with hashes (see the
/// module's theory of operation), with the stat cache kept under `cache`.
///
/// # Errors
/// A [`ContextError`] naming the path that cannot be read.
pub fn scan(root: &Path, rules: &IgnoreRules, cache: &Path) -> Result<Scan, ContextError> {
    let cache_path = stat_cache_path(cache, root);
    let old: StatCache = std::fs::read(&cache_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let started = SystemTime::now();
    let trust_before = old.scanned_at_ns - i128::from(2_000_000_000u32);
    let mut new = StatCache {
        scanned_at_ns: nanos(started),
        files: HashMap::with_capacity(old.files.len()),
    };
    let mut entries = Vec::new();
    let mut hashed = 0;
    let mut stack = vec![(root.to_path_buf(), String::new())];
    let err = |path: &Path, source| ContextError {
        path: path.to_path_buf(),
        source,
    };
    while let Some((dir, rel)) = stack.pop() {
        let read = std::fs::read_dir(&dir).map_err(|e| err(&dir, e))?;
        for item in read {
            let item = item.map_err(|e| err(&dir, e))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            let path_rel = if rel.is_empty() {
                name.into_owned()
            } else {
                format!("{rel}/{name}")
            };
            let full = item.path();
            let meta = std::fs::symlink_metadata(&full).map_err(|e| err(&full, e))?;
            let excluded = rules.is_excluded(&path_rel);
            let mode = meta.permissions().mode() & 0o7777;
            let mtime = meta.mtime().max(0).unsigned_abs();
            let file_type = meta.file_type();
            if file_type.is_dir() {
                if !excluded {
                    entries.push(Entry {
                        path: path_rel.clone(),
                        kind: EntryKind::Dir,
                        mode,
                        mtime,
                        hash: String::new(),
                    });
                    stack.push((full, path_rel));
                } else if rules.may_include_under(&path_rel) {
                    stack.push((full, path_rel));
                }
                continue;
            }
            if excluded {
                continue;
            }
            if file_type.is_symlink() {
                let target = std::fs::read_link(&full).map_err(|e| err(&full, e))?;
                let target = target.to_string_lossy().into_owned();
                entries.push(Entry {
                    path: path_rel,
                    hash: sha256_hex(format!("link:{target}").as_bytes()),
                    kind: EntryKind::Symlink { target },
                    mode,
                    mtime,
                });
                continue;
            }
            if !file_type.is_file() {
                // Sockets, fifos and devices are not sent (as docker).
                continue;
            }
            let size = meta.len();
            let mtime_ns = meta
                .modified()
                .map(nanos)
                .unwrap_or_else(|_| i128::from(meta.mtime()) * 1_000_000_000);
            let ino = meta.ino();
            let hash = match old.files.get(&path_rel) {
                Some(c)
                    if c.size == size
                        && c.mtime_ns == mtime_ns
                        && c.ino == ino
                        && mtime_ns < trust_before =>
                {
                    c.hash.clone()
                }
                _ => {
                    hashed += 1;
                    hash_file(&full).map_err(|e| err(&full, e))?
                }
            };
            new.files.insert(
                path_rel.clone(),
                Cached {
                    size,
                    mtime_ns,
                    ino,
                    hash: hash.clone(),
                },
            );
            entries.push(Entry {
                path: path_rel,
                kind: EntryKind::File { size },
                mode,
                mtime,
                hash,
            });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut digest = Sha256::new();
    for e in &entries {
        let kind = match e.kind {
            EntryKind::File { .. } => 'f',
            EntryKind::Dir => 'd',
            EntryKind::Symlink { .. } => 'l',
        };
        // Only the executable bits of files matter to a build's result
        // as much as content; all bits are kept, as the builder keeps them.
        digest.update(format!("{kind}\0{}\0{:o}\0{}\n", e.path, e.mode, e.hash).as_bytes());
    }
    if hashed > 0 || old.files.len() != new.files.len() {
        save_json(&cache_path, &new);
    }
    Ok(Scan {
        root: root.to_path_buf(),
        entries,
        digest: hex(&digest.finalize()),
        hashed,
    })
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Writes `value` as JSON to `path` through a temp file; failures are
/// ignored (a cache that cannot be written only costs time).
fn save_json<T: Serialize>(path: &Path, value: &T) {
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = serde_json::to_vec(value)
        .ok()
        .is_some_and(|bytes| std::fs::write(&tmp, bytes).is_ok());
    if written {
        let _ = std::fs::rename(&tmp, path);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

fn manifest_path(cache: &Path, digest: &str) -> PathBuf {
    cache
        .join("build")
        .join("manifests")
        .join(format!("{}.json", &digest[..digest.len().min(32)]))
}

/// Remembers the files of a context that was built, by its digest, so
/// that a later `up` can say which files changed since.
///
/// Only the most recent [`MANIFESTS_KEPT`] are kept, and each file's hash
/// is shortened to 16 hex digits: enough to tell an edit.
pub fn save_manifest(cache: &Path, scan: &Scan) {
    let short: BTreeMap<String, String> = scan
        .manifest()
        .into_iter()
        .map(|(path, hash)| (path, hash.chars().take(16).collect()))
        .collect();
    let path = manifest_path(cache, &scan.digest);
    save_json(&path, &short);
    if let Some(dir) = path.parent()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        let mut files: Vec<(SystemTime, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if files.len() > MANIFESTS_KEPT {
            files.sort();
            for (_, old) in &files[..files.len() - MANIFESTS_KEPT] {
                let _ = std::fs::remove_file(old);
            }
        }
    }
}

fn record_path(cache: &Path, image_id: &str) -> PathBuf {
    let id = image_id.trim_start_matches("sha256:");
    cache
        .join("images")
        .join(format!("{}.txt", &id[..id.len().min(32)]))
}

/// Remembers what image `image_id` was built from (the inputs label), for
/// images built without muster's labels.
pub fn save_record(cache: &Path, image_id: &str, parts: &str) {
    if image_id.is_empty() {
        return;
    }
    let path = record_path(cache, image_id);
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = std::fs::write(&path, parts);
    }
}

/// What [`save_record`] remembered for `image_id`.
#[must_use]
pub fn load_record(cache: &Path, image_id: &str) -> Option<String> {
    if image_id.is_empty() {
        return None;
    }
    std::fs::read_to_string(record_path(cache, image_id)).ok()
}

/// How many manifests of built contexts are kept.
pub const MANIFESTS_KEPT: usize = 64;

/// The files added, changed or removed since the context with `digest`
/// was built, sorted; `None` when muster does not remember that context.
#[must_use]
pub fn changed_files(cache: &Path, digest: &str, now: &Scan) -> Option<Vec<String>> {
    if digest.len() < 8 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = std::fs::read(manifest_path(cache, digest)).ok()?;
    let old: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    let new = now.manifest();
    let mut changed: Vec<String> = new
        .iter()
        .filter(|(path, hash)| {
            old.get(*path)
                .is_none_or(|h| h.is_empty() || !hash.starts_with(h.as_str()))
        })
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(old.keys().filter(|p| !new.contains_key(*p)).cloned());
    changed.sort();
    Some(changed)
}

/// A file added to the tar that is not in the context directory (an
/// inline Dockerfile, or one from outside the context).
#[derive(Debug, Clone)]
pub struct ExtraFile {
    /// Its path in the tar.
    pub path: String,
    /// Its content.
    pub content: Vec<u8>,
}

/// Where a failure to write the tar is kept for the caller, since the
/// engine only sees a broken upload.
pub type StreamError = Arc<Mutex<Option<ContextError>>>;

/// The tar of `scan`'s entries (plus `extra`), streamed (see the module's
/// theory of operation). An entry that cannot be read ends the stream with
/// an error, also kept in the returned [`StreamError`].
#[must_use]
pub fn stream(scan: Arc<Scan>, extra: Vec<ExtraFile>) -> (BuildContext, StreamError) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let failure: StreamError = Arc::new(Mutex::new(None));
    let kept = Arc::clone(&failure);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_tar(&scan, &extra, writer) {
            let message = e.source.to_string();
            let kind = e.source.kind();
            if let Ok(mut slot) = kept.lock() {
                *slot = Some(e);
            }
            let _ = tx.blocking_send(Err(std::io::Error::new(kind, message)));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (Box::pin(stream), failure)
}

const CHUNK: usize = 64 * 1024;

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the build ended"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h
}

fn write_tar(scan: &Scan, extra: &[ExtraFile], writer: ChannelWriter) -> Result<(), ContextError> {
    let mut tar = tar::Builder::new(writer);
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError { path, source }
    };
    for e in &scan.entries {
        if extra.iter().any(|f| f.path == e.path) {
            // Replaced by muster's own version.
            continue;
        }
        let full = scan.root.join(&e.path);
        match &e.kind {
            EntryKind::Dir => {
                let mut h = header(tar::EntryType::Directory, e.mode, e.mtime, 0);
                tar.append_data(&mut h, format!("{}/", e.path), std::io::empty())
                    .map_err(at(&full))?;
            }
            EntryKind::Symlink { target } => {
                let mut h = header(tar::EntryType::Symlink, e.mode, e.mtime, 0);
                tar.append_link(&mut h, &e.path, target)
                    .map_err(at(&full))?;
            }
            EntryKind::File { .. } => {
                let file = std::fs::File::open(&full).map_err(at(&full))?;
                // The size now, not at the scan: a file that grew since is
                // sent as it is.
                let size = file.metadata().map_err(at(&full))?.len();
                let mut h = header(tar::EntryType::Regular, e.mode, e.mtime, size);
                tar.append_data(&mut h, &e.path, file.take(size))
                    .map_err(at(&full))?;
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    for f in extra {
        let mut h = header(tar::EntryType::Regular, 0o644, now, f.content.len() as u64);
        tar.append_data(&mut h, &f.path, f.content.as_slice())
            .map_err(at(Path::new(&f.path)))?;
    }
    let mut writer = tar.into_inner().map_err(at(&scan.root))?;
    writer.flush().map_err(at(&scan.root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
        std::fs::create_dir_all(root.join("secrets")).unwrap();
        std::fs::write(root.join("src/app.js"), "app").unwrap();
        std::fs::write(root.join("src/deep/util.js"), "util").unwrap();
        std::fs::write(root.join("node_modules/x/index.js"), "x").unwrap();
        std::fs::write(root.join("secrets/key"), "k").unwrap();
        std::fs::write(root.join("secrets/public.pem"), "p").unwrap();
        std::fs::write(root.join("debug.log"), "log").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        dir
    }

    fn paths(scan: &Scan) -> Vec<&str> {
        scan.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn scans_apply_the_rules_and_keep_links_as_links() {
        let cache = with_cache();
        let dir = setup();
        let rules =
            IgnoreRules::parse("node_modules\n*.log\nsecrets\n!secrets/public.pem\n").unwrap();
        let scan = scan(dir.path(), &rules, cache.path()).unwrap();
        assert_eq!(
            paths(&scan),
            [
                "link",
                "secrets/public.pem",
                "src",
                "src/app.js",
                "src/deep",
                "src/deep/util.js"
            ]
        );
        let link = &scan.entries[0];
        assert_eq!(
            link.kind,
            EntryKind::Symlink {
                target: "/etc/passwd".into()
            }
        );
    }

    #[test]
    fn digests_follow_content_and_the_cache_spares_reads() {
        let cache = with_cache();
        let dir = setup();
        let rules = IgnoreRules::parse("*.log\n").unwrap();
        let first = scan(dir.path(), &rules, cache.path()).unwrap();
        assert!(first.hashed > 0);
        let again = scan(dir.path(), &rules, cache.path()).unwrap();
        assert_eq!(first.digest, again.digest);
        // An ignored file does not change the digest.
        std::fs::write(dir.path().join("debug.log"), "other").unwrap();
        assert_eq!(
            scan(dir.path(), &rules, cache.path()).unwrap().digest,
            first.digest
        );
        // A tracked one does, even within the clock's granularity.
        std::fs::write(dir.path().join("src/app.js"), "ap2").unwrap();
        let changed = scan(dir.path(), &rules, cache.path()).unwrap();
        assert_ne!(changed.digest, first.digest);
        save_manifest(cache.path(), &first);
        assert_eq!(
            changed_files(cache.path(), &first.digest, &changed),
            Some(vec!["src/app.js".to_owned()])
        );
    }

    #[tokio::test]
    async fn the_tar_holds_the_entries_and_extras() {
        let cache = with_cache();
        let dir = setup();
        let rules = IgnoreRules::parse("node_modules\nsecrets\n").unwrap();
        let scan = Arc::new(scan(dir.path(), &rules, cache.path()).unwrap());
        let extra = vec![ExtraFile {
            path: ".muster.Dockerfile".into(),
            content: b"FROM scratch\n".to_vec(),
        }];
        let (mut stream, failure) = stream(scan, extra);
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        assert!(failure.lock().unwrap().is_none());
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            names.push((
                entry.path().unwrap().to_string_lossy().into_owned(),
                entry.header().entry_type(),
            ));
        }
        assert!(names.contains(&("link".into(), tar::EntryType::Symlink)));
        assert!(names.contains(&("src/app.js".into(), tar::EntryType::Regular)));
        assert!(names.contains(&(".muster.Dockerfile".into(), tar::EntryType::Regular)));
        assert!(!names.iter().any(|(n, _)| n.starts_with("secrets")));
    }

    fn with_cache() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
