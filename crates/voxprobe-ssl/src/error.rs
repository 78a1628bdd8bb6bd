//! The crate's error type.

/// Everything that can go wrong while loading or running an encoder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A JSON file (config.json, preprocessor_config.json, vocab.json) is malformed.
    #[error("invalid json in {path}: {source}")]
    Json {
        /// The file that failed.
        path: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// `model_type` (or `architectures`) names no supported family.
    #[error("unknown model_type {model_type:?}: expected one of wav2vec2, hubert, wavlm, data2vec-audio")]
    UnknownModelType {
        /// What config.json said.
        model_type: String,
    },
    /// The config enables an option this crate does not implement.
    #[error("unsupported config option `{option}`: {reason}")]
    UnsupportedOption {
        /// The config.json field.
        option: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A config value is out of range (zero sizes, heads not dividing the hidden size, ...).
    #[error("invalid config value `{option}`: {reason}")]
    InvalidConfig {
        /// The config.json field.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint does not match the config: every problem is listed at once.
    #[error(
        "checkpoint does not match the config: {}",
        format_key_problems(missing, unexpected, mismatched)
    )]
    Checkpoint {
        /// Keys the model needs that the checkpoint lacks.
        missing: Vec<String>,
        /// Keys in the checkpoint that the model does not use (and are not known to be ignorable).
        unexpected: Vec<String>,
        /// Keys present with the wrong shape.
        mismatched: Vec<ShapeProblem>,
    },
    /// A weight file is unreadable (truncated or corrupt safetensors, bad pickle).
    #[error("cannot read weights from {path}: {reason}")]
    WeightFile {
        /// The weight file.
        path: String,
        /// The decoder's message.
        reason: String,
    },
    /// No weight file (model.safetensors or pytorch_model.bin) in the model directory.
    #[error("no model.safetensors or pytorch_model.bin in {dir}")]
    NoWeights {
        /// The directory searched.
        dir: String,
    },
    /// A sharded checkpoint's index (`model.safetensors.index.json`,
    /// `pytorch_model.bin.index.json`) names shard files that are not there.
    #[error("{index} names shard file(s) that are missing: {}", shards.join(", "))]
    MissingShard {
        /// The index file.
        index: String,
        /// Every missing shard file, sorted.
        shards: Vec<String>,
    },
    /// A sharded checkpoint names one tensor more than once: twice in the index's `weight_map`,
    /// or stored in two shard files.
    #[error("tensor {key} is named more than once in {file}")]
    DuplicateKey {
        /// The index file, or the two shard files (`a and b`) that both store the tensor.
        file: String,
        /// The tensor name.
        key: String,
    },
    /// A sharded checkpoint's index is malformed or disagrees with its shards.
    #[error("bad shard index {index}: {reason}")]
    ShardIndex {
        /// The index file.
        index: String,
        /// What is wrong.
        reason: String,
    },
    /// The input has fewer samples than one frame's receptive field.
    #[error(
        "input of {samples} samples is too short: at least {min_samples} are needed for one frame"
    )]
    InputTooShort {
        /// Samples given.
        samples: usize,
        /// Receptive field of the conv stack.
        min_samples: usize,
    },
    /// The input is empty, has the wrong rank or holds non-finite values.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// A tensor has an unexpected shape.
    #[error("shape mismatch for {what}: expected {expected:?}, got {actual:?}")]
    ShapeMismatch {
        /// The tensor in question.
        what: String,
        /// Expected dims.
        expected: Vec<usize>,
        /// Actual dims.
        actual: Vec<usize>,
    },
    /// The sampling rate differs from the model's.
    #[error("sampling rate {actual} Hz does not match the model's {expected} Hz: resample first")]
    SamplingRate {
        /// The model's rate (preprocessor_config.json).
        expected: u32,
        /// The caller's rate.
        actual: u32,
    },
    /// The model has no CTC head or the directory has no vocab.json.
    #[error("no CTC head: {reason}")]
    NoCtcHead {
        /// Why.
        reason: String,
    },
    /// A requested hidden-state layer does not exist.
    #[error("layer {layer} out of range: the model has hidden states 0..={max}")]
    LayerOutOfRange {
        /// Requested index.
        layer: usize,
        /// Largest valid index (= num_hidden_layers).
        max: usize,
    },
    /// Hub download or cache lookup failed.
    #[error("hub: {reason}")]
    Hub {
        /// Description of the failure.
        reason: String,
    },
    /// A broken internal invariant of this crate (a bug: please report it), e.g. a kernel
    /// handed buffers whose sizes disagree; never caused by the caller's input.
    #[error("internal error (a bug in voxprobe-ssl): {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
    /// A candle tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A checkpoint tensor whose shape differs from what the config implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProblem {
    /// Full key name.
    pub name: String,
    /// Shape implied by config.json.
    pub expected: Vec<usize>,
    /// Shape in the checkpoint.
    pub actual: Vec<usize>,
}

fn format_key_problems(
    missing: &[String],
    unexpected: &[String],
    mismatched: &[ShapeProblem],
) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing keys [{}]", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected keys [{}]", unexpected.join(", ")));
    }
    if !mismatched.is_empty() {
        let m: Vec<String> = mismatched
            .iter()
            .map(|p| format!("{} expected {:?} got {:?}", p.name, p.expected, p.actual))
            .collect();
        parts.push(format!("mis-shaped keys [{}]", m.join(", ")));
    }
    parts.join("; ")
}

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
