//! The corpus module's error type.

use std::fmt::Write as _;

/// A missing input: manifest file and line, id and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingInput {
    /// `file:line` of the manifest entry.
    pub origin: String,
    /// Utterance id.
    pub id: String,
    /// The path that does not exist.
    pub path: String,
}

/// Everything that can go wrong reading a corpus or running a job over it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file system is full (or the quota is used up); nothing half-written is kept.
    #[error("disk full while writing {path}: free space and rerun the same command (finished work is kept)")]
    DiskFull {
        /// The file being written.
        path: String,
    },
    /// A malformed line.
    #[error("{file}:{line}: {problem}")]
    BadLine {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The content fits none of the accepted formats, or more than one.
    #[error("{file}: {problem}")]
    Format {
        /// The file.
        file: String,
        /// What was found.
        problem: String,
    },
    /// An id appears twice.
    #[error("{file}:{line}: duplicate utterance id {id} (first on line {first_line})")]
    DuplicateId {
        /// The file.
        file: String,
        /// 1-based line of the repeat.
        line: usize,
        /// 1-based line of the first occurrence.
        first_line: usize,
        /// The id.
        id: String,
    },
    /// Two files that must list the same ids do not.
    #[error("{0}")]
    IdMismatch(String),
    /// Input files that do not exist, all of them.
    #[error("{}", missing_message(.0))]
    MissingInputs(Vec<MissingInput>),
    /// An input failed (without `--skip-bad`).
    #[error("utterance {id} ({path}, {origin}) failed at {stage}: {error}; rerun with --skip-bad to skip and list bad inputs in failed.jsonl")]
    BadInput {
        /// Utterance id.
        id: String,
        /// Its path.
        path: String,
        /// `file:line` of its manifest entry.
        origin: String,
        /// `load` (decoding) or `process`.
        stage: String,
        /// The job's error.
        error: String,
    },
    /// Another process holds the shard's lock.
    #[error("{path} is locked: another voxprobe process is writing this shard; wait for it or give each process its own --shard / --out")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// Outputs or unfinished work of another job are in the way.
    #[error("{0}")]
    Conflict(String),
    /// Shard outputs that cannot be merged.
    #[error("{0}")]
    Merge(String),
    /// Unreadable part or output file contents.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The job could not start (e.g. its model does not load).
    #[error("{0}")]
    Setup(String),
    /// A value that does not fit (counts, offsets).
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn missing_message(m: &[MissingInput]) -> String {
    let mut s = format!(
        "{} input file{} missing:",
        m.len(),
        if m.len() == 1 { " is" } else { "s are" }
    );
    for x in m {
        let _ = write!(s, "\n  {}: {} -> {}", x.origin, x.id, x.path);
    }
    s.push_str("\n(rerun with --skip-bad to go on without them and list them in failed.jsonl)");
    s
}

impl Error {
    /// An I/O error on `path`, mapping "no space left" to [`Error::DiskFull`].
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        let path = path.display().to_string();
        if source.kind() == std::io::ErrorKind::StorageFull
            || source.kind() == std::io::ErrorKind::QuotaExceeded
        {
            Self::DiskFull { path }
        } else {
            Self::Io { path, source }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_and_disk_full_is_recognised() {
        fn ok<T: Send + Sync>() {}
        ok::<Error>();
        let e = Error::io(
            std::path::Path::new("x"),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert!(matches!(e, Error::DiskFull { .. }), "{e}");
    }
}
