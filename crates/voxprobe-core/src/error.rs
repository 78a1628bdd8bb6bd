//! The crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in cache resolution or normalisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No hub cache directory could be determined (no `HF_HUB_CACHE`,
    /// `HUGGINGFACE_HUB_CACHE`, `HF_HOME` nor `HOME`).
    #[error("no hugging face cache directory: set HF_HUB_CACHE or HF_HOME")]
    NoCacheDir,
    /// A repo id that is not `name` or `org/name`.
    #[error("invalid hub repo id {repo_id:?}: expected `org/name`")]
    BadRepoId {
        /// The id given.
        repo_id: String,
    },
    /// The revision is not in the cache: `path` is the ref file or snapshot directory that is
    /// missing.
    #[error("{repo_id}@{revision} is not in the hub cache (no {})", path.display())]
    NotCached {
        /// The repo id.
        repo_id: String,
        /// The revision asked for.
        revision: String,
        /// What was looked for.
        path: PathBuf,
    },
    /// A sample to normalise is NaN or infinite.
    #[error("non-finite sample at index {index}")]
    NonFinite {
        /// Index of the first bad sample.
        index: usize,
    },
}
