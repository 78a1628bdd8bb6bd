//! Error types: one crate-wide [`Error`] with settings checks split out into [`ParamError`].

/// Invalid estimator settings, reported by `check()` before any work is done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The number of clusters must be at least 1.
    #[error("n_clusters must be at least 1")]
    ZeroClusters,
    /// The number of restarts must be at least 1.
    #[error("n_init must be at least 1")]
    ZeroInit,
    /// The iteration cap must be at least 1.
    #[error("max_iter must be at least 1")]
    ZeroIterations,
    /// The tolerance must be finite and non-negative.
    #[error("tol must be finite and >= 0, got {tol}")]
    BadTolerance {
        /// The rejected value.
        tol: f64,
    },
    /// The mini-batch size must be at least 1.
    #[error("batch_size must be at least 1")]
    ZeroBatch,
    /// The number of prototypes per class must be at least 1.
    #[error("n_prototypes must be at least 1")]
    ZeroPrototypes,
    /// The beam width must be at least 1.
    #[error("beam width must be at least 1")]
    ZeroBeam,
    /// A user-supplied initial centre matrix has the wrong shape.
    #[error("initial centres have shape {actual:?}, expected {expected:?}")]
    InitShape {
        /// `(n_clusters, n_features)` required.
        expected: (usize, usize),
        /// Shape supplied.
        actual: (usize, usize),
    },
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid settings.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The input has no rows or no columns.
    #[error("empty input: {what}")]
    EmptyInput {
        /// Which input was empty.
        what: &'static str,
    },
    /// Fewer samples than clusters.
    #[error("{n_samples} samples cannot form {n_clusters} clusters")]
    TooFewSamples {
        /// Samples available.
        n_samples: usize,
        /// Clusters requested.
        n_clusters: usize,
    },
    /// A class has fewer training samples than prototypes requested.
    #[error("class {class} has {n_samples} samples, fewer than {n_prototypes} prototypes")]
    ClassTooSmall {
        /// The class label.
        class: usize,
        /// Samples of that class.
        n_samples: usize,
        /// Prototypes requested per class.
        n_prototypes: usize,
    },
    /// Input values contain NaN or infinity.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Which input.
        what: &'static str,
    },
    /// Sample weights must be finite, non-negative, and not all zero.
    #[error("invalid sample weights: {reason}")]
    BadWeights {
        /// What is wrong with them.
        reason: &'static str,
    },
    /// Lengths or shapes that must agree do not.
    #[error("shape mismatch in {what}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// What was compared.
        what: &'static str,
        /// Required size.
        expected: usize,
        /// Supplied size.
        actual: usize,
    },
    /// A vector has zero norm where a direction is needed (cosine k-means).
    #[error("row {row} has zero norm; cosine k-means needs non-zero rows")]
    ZeroNorm {
        /// Offending row.
        row: usize,
    },
    /// A block's grid does not divide the common grid, so nearest upsampling is not stride-aligned.
    #[error("block grid {block:?} does not divide the target grid {target:?}")]
    GridMismatch {
        /// The block's (height, width).
        block: (usize, usize),
        /// The target (height, width).
        target: (usize, usize),
    },
    /// Too many features for exact bounds (2^N model evaluations).
    #[error("exact bounds need at most {max} features, got {n}")]
    TooManyFeatures {
        /// Features requested.
        n: usize,
        /// Limit.
        max: usize,
    },
    /// An index (class, feature, prototype) is out of range.
    #[error("{what} index {index} out of range (len {len})")]
    OutOfRange {
        /// Which index.
        what: &'static str,
        /// The index.
        index: usize,
        /// The valid length.
        len: usize,
    },
    /// A class label in the labels is not present in the fitted model.
    #[error("label {label} is not a fitted class")]
    UnknownClass {
        /// The label.
        label: usize,
    },
    /// The model callback of a faithfulness metric failed or returned the wrong count.
    #[error("model evaluation failed: {reason}")]
    Model {
        /// Why.
        reason: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Crate result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
