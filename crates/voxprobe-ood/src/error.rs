//! The crate's error type.

/// Errors returned by every fallible function of this crate.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input that must hold at least one element was empty.
    #[error("empty input: {what}")]
    Empty {
        /// Which input was empty.
        what: &'static str,
    },
    /// A length or dimension did not match what the model or calibrator expects.
    #[error("shape mismatch for {what}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// Which quantity had the wrong size.
        what: &'static str,
        /// The size that was expected.
        expected: usize,
        /// The size that was given.
        actual: usize,
    },
    /// A NaN or infinite value where a finite one is required.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Where the value was found.
        what: &'static str,
    },
    /// A p-value outside `[0, 1]`.
    #[error("invalid p-value {value}: must lie in [0, 1]")]
    InvalidPValue {
        /// The offending value.
        value: f64,
    },
    /// A named tensor (model parameter) was not found.
    #[error("missing tensor {name}")]
    MissingKey {
        /// The key that was looked up.
        name: String,
    },
    /// A setting was out of range; checked before any work is done.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A model became degenerate while fitting (e.g. a singular covariance).
    #[error("fit failed: {reason}")]
    Fit {
        /// What went wrong.
        reason: String,
    },
    /// An error from candle (tensor shapes, devices, autograd).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A setting of an estimator or test was out of its valid range.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A numeric setting outside its valid range.
    #[error("{name} = {value} is out of range: {expected}")]
    OutOfRange {
        /// Name of the setting.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
}

/// Result alias with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn check_range(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(ParamError::OutOfRange {
            name,
            value,
            expected,
        }
        .into())
    }
}
