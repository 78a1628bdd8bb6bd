//! Error types: one crate-wide [`Error`] with settings checks split out into [`ParamError`].

/// Invalid probe settings, reported by `check()` before any work is done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The inverse regularisation strength must be finite and positive.
    #[error("C must be finite and > 0, got {c}")]
    BadC {
        /// The rejected value.
        c: f64,
    },
    /// The iteration cap must be at least 1.
    #[error("max_iter must be at least 1")]
    ZeroIterations,
    /// The gradient tolerance must be finite and positive.
    #[error("tol must be finite and > 0, got {tol}")]
    BadTolerance {
        /// The rejected value.
        tol: f64,
    },
    /// Stratified k-fold needs at least 2 folds.
    #[error("n_splits must be at least 2, got {n_splits}")]
    TooFewSplits {
        /// The rejected value.
        n_splits: usize,
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
    /// Two inputs that must have the same length do not.
    #[error("{what}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// What was compared.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Length supplied.
        actual: usize,
    },
    /// A feature value is NaN or infinite.
    #[error("non-finite feature value at row {row}, column {column}")]
    NonFinite {
        /// Row (sample) index.
        row: usize,
        /// Column (feature) index.
        column: usize,
    },
    /// A class index is not below the number of classes.
    #[error("label {label} at row {row} is not below the number of classes {n_classes}")]
    LabelOutOfRange {
        /// Row (sample) index.
        row: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// A class has fewer examples than cross-validation needs.
    #[error("class `{class}` has {count} example(s); cross-validation needs at least {needed}")]
    ClassTooSmall {
        /// Class name.
        class: String,
        /// Examples of that class.
        count: usize,
        /// Examples needed.
        needed: usize,
    },
    /// Fewer than two classes: nothing to probe.
    #[error("a probe needs at least 2 classes, got {n_classes}")]
    TooFewClasses {
        /// Classes present.
        n_classes: usize,
    },
    /// Fewer than two groups for leave-one-group-out.
    #[error("leave-one-group-out needs at least 2 groups, got {n_groups}")]
    TooFewGroups {
        /// Groups present.
        n_groups: usize,
    },
    /// The training set of a fold lacks a class (and the policy is to refuse).
    #[error(
        "fold `{fold}`: its training set has no example of class `{class}` \
         (set MissingClassPolicy::FitPresent to fit on the classes present, as scikit-learn does)"
    )]
    FoldMissingClass {
        /// Fold name (the held-out group, or `k`).
        fold: String,
        /// The absent class.
        class: String,
    },
    /// The training set of a fold has a single class: no classifier can be fitted.
    #[error("fold `{fold}`: its training set has a single class `{class}`")]
    FoldSingleClass {
        /// Fold name.
        fold: String,
        /// The one class present.
        class: String,
    },
    /// Labels name ids that have no features.
    #[error("{count} labelled id(s) have no features, e.g. `{first}`")]
    UnknownIds {
        /// How many labelled ids are missing from the features.
        count: usize,
        /// The first such id (file order).
        first: String,
    },
    /// The same id appears twice in one input.
    #[error("duplicate id `{id}` in {what}")]
    DuplicateId {
        /// The id.
        id: String,
        /// Which input.
        what: &'static str,
    },
    /// A labelled id has no group in the groups file.
    #[error("id `{id}` has a label but no cv group")]
    MissingGroup {
        /// The id.
        id: String,
    },
    /// A malformed line in a text input.
    #[error("{what} line {line}: {reason}")]
    Parse {
        /// Which input.
        what: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
