//! Crate error type.

/// Errors of the audit crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `beam_size` must be at least 1.
    #[error("beam size must be at least 1")]
    InvalidBeamSize,
    /// Unknown word-level method name.
    #[error("unknown word-level method {name:?} (expected \"rapidfuzz\" or \"unambiguous\")")]
    UnknownWordLevelMethod {
        /// The name given.
        name: String,
    },
    /// The beam search ended without a complete path (never observed, mirrors the reference).
    #[error("beam search found no complete alignment path")]
    BeamSearchFailed,
    /// Unknown normalisation step name.
    #[error("unknown normalisation step {name:?}")]
    UnknownNormalizeStep {
        /// The name given.
        name: String,
    },
    /// A malformed input line.
    #[error("{file}:{line}: {problem}")]
    BadLine {
        /// File (or source) name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// An id appears more than once in one input.
    #[error("{file}:{line}: duplicate id {id:?} (first seen on line {first_line})")]
    DuplicateId {
        /// File name.
        file: String,
        /// 1-based line of the duplicate.
        line: usize,
        /// First line with this id.
        first_line: usize,
        /// The id.
        id: String,
    },
    /// Refs and hyps do not cover the same ids.
    #[error("id mismatch: {missing_hyp} ref ids without hyp (e.g. {example_missing_hyp:?}), {missing_ref} hyp ids without ref (e.g. {example_missing_ref:?})")]
    IdMismatch {
        /// Number of ref ids with no hyp.
        missing_hyp: usize,
        /// Number of hyp ids with no ref.
        missing_ref: usize,
        /// First ref id with no hyp, if any.
        example_missing_hyp: Option<String>,
        /// First hyp id with no ref, if any.
        example_missing_ref: Option<String>,
    },
    /// No utterances to audit.
    #[error("no utterances to audit")]
    Empty,
    /// Invalid audit option.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// I/O error with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A sentence encoder could not be loaded or run (model files, tokenizer, hub, tensor ops).
    #[error("encoder {model}: {reason}")]
    Encoder {
        /// Model directory, hub id or encoder name.
        model: String,
        /// What went wrong.
        reason: String,
    },
    /// Inconsistent or invalid data handed to a metric (lengths, NaN, empty panels, …).
    #[error("invalid input {what}: {reason}")]
    InvalidInput {
        /// Which input.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// JSON (de)serialisation error.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
