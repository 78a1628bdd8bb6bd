#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! # Invariants
//!
//! * [`LogisticRegression`] minimises exactly scikit-learn 1.9's `LogisticRegression()`
//!   objective and solves it to a gradient of 1e-10, so predictions equal scikit-learn's
//!   (run to convergence) and probabilities agree to 1e-4 on the committed fixtures.
//! * [`cross_validate`] fits the [`StandardScaler`] on each fold's training rows only; test
//!   rows never influence their own predictions.
//! * Fold assignment is deterministic and equals scikit-learn's `StratifiedKFold(shuffle=False)`
//!   / `LeaveOneGroupOut`.
//! * Every bad input is a typed [`Error`]; nothing panics on data.

pub mod cv;
pub mod data;
pub mod error;
pub mod logistic;
pub mod metrics;
pub mod plot;
pub mod scaler;

pub use cv::{
    cross_validate, leave_one_group_out, stratified_k_fold, CvResult, Fold, FoldReport,
    MissingClassPolicy, ProbeParams,
};
pub use data::{parse_features_csv, parse_id_map, Dataset, FeatureTable};
pub use error::{Error, ParamError, Result};
pub use logistic::{LogisticRegression, LogisticRegressionParams, LogisticRegressionValidParams};
pub use metrics::Metrics;
pub use plot::uar_by_layer_svg;
pub use scaler::StandardScaler;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Error>();
        check::<LogisticRegression>();
        check::<LogisticRegressionParams>();
        check::<ProbeParams>();
        check::<CvResult>();
        check::<Dataset>();
        check::<StandardScaler>();
    }
}
