//! The Hugging Face hub cache layout and the offline switch, as huggingface_hub defines them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// huggingface_hub's truthy spellings (`_is_true`): `1`, `on`, `yes`, `true`, any case.
fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "on" | "yes" | "true"
    )
}

/// Whether to touch the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Offline {
    /// Follow `HF_HUB_OFFLINE` (huggingface_hub's convention: `1`/`on`/`yes`/`true`).
    #[default]
    Env,
    /// Never touch the network, whatever the environment says.
    On,
    /// May download (where a crate's `hub` feature is built), whatever the environment says.
    Off,
}

impl Offline {
    /// `true` for [`Offline::On`], or for [`Offline::Env`] when `HF_HUB_OFFLINE` is truthy.
    pub fn is_offline(self) -> bool {
        match self {
            Offline::On => true,
            Offline::Off => false,
            Offline::Env => std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| is_true(&v)),
        }
    }

    /// [`Offline::On`] for `true`, [`Offline::Off`] for `false`, [`Offline::Env`] for `None`.
    pub fn from_option(forced: Option<bool>) -> Self {
        match forced {
            Some(true) => Offline::On,
            Some(false) => Offline::Off,
            None => Offline::Env,
        }
    }
}

/// The hub cache directory by huggingface_hub's rules: `$HF_HUB_CACHE`, else the legacy
/// `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
/// else `~/.cache/huggingface/hub`. Empty variables count as unset.
pub fn default_cache_dir() -> Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return Ok(d);
    }
    if let Some(h) = var("HF_HOME") {
        return Ok(h.join("hub"));
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        return Ok(x.join("huggingface").join("hub"));
    }
    var("HOME")
        .map(|h| h.join(".cache").join("huggingface").join("hub"))
        .ok_or(Error::NoCacheDir)
}

/// A hub cache directory (`models--org--name/{refs,snapshots,blobs}` inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCache {
    dir: PathBuf,
}

impl HubCache {
    /// The cache at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache at [`default_cache_dir`].
    pub fn from_env() -> Result<Self> {
        default_cache_dir().map(Self::new)
    }

    /// `dir` when given, else [`HubCache::from_env`].
    pub fn from_option(dir: Option<&Path>) -> Result<Self> {
        match dir {
            Some(d) => Ok(Self::new(d)),
            None => Self::from_env(),
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `models--org--name` for a model repo id (`org/name`, or a legacy `name`).
    pub fn repo_dir(&self, repo_id: &str) -> Result<PathBuf> {
        let valid = !repo_id.is_empty()
            && repo_id.split('/').count() <= 2
            && repo_id
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..");
        if !valid {
            return Err(Error::BadRepoId {
                repo_id: repo_id.to_string(),
            });
        }
        Ok(self
            .dir
            .join(format!("models--{}", repo_id.replace('/', "--"))))
    }

    /// The snapshot directory of `repo_id@revision`: a 40-hex `revision` is a commit, anything
    /// else a ref resolved through `refs/<revision>`. [`Error::NotCached`] names the missing
    /// ref file or snapshot directory.
    pub fn snapshot(&self, repo_id: &str, revision: &str) -> Result<PathBuf> {
        let repo_dir = self.repo_dir(repo_id)?;
        let not_cached = |path: PathBuf| Error::NotCached {
            repo_id: repo_id.to_string(),
            revision: revision.to_string(),
            path,
        };
        let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
        let commit = if is_commit {
            revision.to_string()
        } else {
            let r = repo_dir.join("refs").join(revision);
            match std::fs::read_to_string(&r) {
                Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
                _ => return Err(not_cached(r)),
            }
        };
        let snap = repo_dir.join("snapshots").join(commit);
        if snap.is_dir() {
            Ok(snap)
        } else {
            Err(not_cached(snap))
        }
    }

    /// Like [`HubCache::snapshot`], and every file in `required` must be there
    /// ([`Error::NotCached`] names the first missing one).
    pub fn snapshot_with(
        &self,
        repo_id: &str,
        revision: &str,
        required: &[&str],
    ) -> Result<PathBuf> {
        let snap = self.snapshot(repo_id, revision)?;
        match required.iter().map(|f| snap.join(f)).find(|p| !p.is_file()) {
            Some(missing) => Err(Error::NotCached {
                repo_id: repo_id.to_string(),
                revision: revision.to_string(),
                path: missing,
            }),
            None => Ok(snap),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("voxprobe-core-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn resolves_refs_and_commits() {
        let dir = tmp("refs");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let repo = dir.join("models--org--m");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
        std::fs::write(
            repo.join("snapshots").join(commit).join("config.json"),
            "{}",
        )
        .unwrap();
        let c = HubCache::new(&dir);
        let snap = repo.join("snapshots").join(commit);
        assert_eq!(c.snapshot("org/m", "main").unwrap(), snap);
        assert_eq!(c.snapshot("org/m", commit).unwrap(), snap);
        assert_eq!(
            c.snapshot_with("org/m", "main", &["config.json"]).unwrap(),
            snap
        );
        assert!(matches!(
            c.snapshot_with("org/m", "main", &["config.json", "model.safetensors"]),
            Err(Error::NotCached { path, .. }) if path == snap.join("model.safetensors")
        ));
        assert!(matches!(
            c.snapshot("org/m", "v2"),
            Err(Error::NotCached { path, .. }) if path == repo.join("refs/v2")
        ));
        assert!(matches!(
            c.snapshot("org/other", "main"),
            Err(Error::NotCached { .. })
        ));
        for bad in ["", "a/b/c", "../x", "org/", "/m"] {
            assert!(
                matches!(c.snapshot(bad, "main"), Err(Error::BadRepoId { .. })),
                "{bad}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn offline_switch() {
        assert!(Offline::On.is_offline());
        assert!(!Offline::Off.is_offline());
        assert_eq!(Offline::from_option(None), Offline::Env);
        assert_eq!(Offline::from_option(Some(true)), Offline::On);
        for (v, want) in [
            ("1", true),
            ("TRUE", true),
            (" yes ", true),
            ("on", true),
            ("0", false),
            ("", false),
            ("no", false),
        ] {
            assert_eq!(is_true(v), want, "{v:?}");
        }
    }

    #[test]
    fn errors_are_send_sync() {
        fn f<T: Send + Sync>() {}
        f::<Error>();
        f::<HubCache>();
    }
}
