//! Downloads through `hf-hub` (feature `hub`) into the standard hub cache layout.

use crate::error::{Error, Result};
use crate::pretrained::{LoadOptions, OPTIONAL_FILES};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};
use std::path::{Path, PathBuf};

fn hub_err(e: hf_hub::api::sync::ApiError) -> Error {
    Error::Hub {
        reason: e.to_string(),
    }
}

/// Fetches config.json, the first available weight file (with its shards when it is an index)
/// and the optional files; returns the snapshot directory.
pub(crate) fn download(repo_id: &str, opts: &LoadOptions, cache: Option<&Path>) -> Result<PathBuf> {
    let mut builder = ApiBuilder::from_env().with_progress(false);
    if let Some(c) = cache {
        builder = builder.with_cache_dir(c.to_path_buf());
    }
    let api = builder.build().map_err(hub_err)?;
    let repo = api.repo(Repo::with_revision(
        repo_id.to_string(),
        RepoType::Model,
        opts.revision.clone(),
    ));
    let config = repo.get("config.json").map_err(hub_err)?;
    let dir = config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::Hub {
            reason: format!("unexpected cache path {}", config.display()),
        })?;
    let mut weights = None;
    for f in crate::shards::WEIGHT_LOOKUP {
        match repo.get(f) {
            Ok(p) => {
                if f.ends_with(".index.json") {
                    for shard in crate::shards::ShardIndex::read(&p)?.shard_files() {
                        repo.get(&shard).map_err(hub_err)?;
                    }
                }
                weights = Some(p);
                break;
            }
            Err(e) => tracing::debug!("{repo_id}: no {f}: {e}"),
        }
    }
    if weights.is_none() {
        return Err(Error::NoWeights {
            dir: format!("{repo_id}@{}", opts.revision),
        });
    }
    for f in OPTIONAL_FILES {
        if let Err(e) = repo.get(f) {
            tracing::debug!("{repo_id}: optional {f} not fetched: {e}");
        }
    }
    Ok(dir)
}
