#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! # Invariants
//!
//! * Every estimator validates its input and returns a typed [`Error`]; nothing panics on data.
//! * Fits are reproducible: the seed is a parameter and partial sums are added in a fixed order,
//!   independent of the number of rayon threads.
//! * Evidence maps are exactly additive: their mean over locations equals the pooled margin.

/// The `ndarray` this crate's API uses (`Array2<f32>` in and out), re-exported so callers
/// name the same version: `voxprobe_x::ndarray::Array2`.
pub use ndarray;

pub mod error;
pub mod kmeans;

pub use error::{Error, ParamError, Result};
pub use kmeans::{
    Init, KMeans, KMeansParams, KMeansValidParams, Metric, MiniBatchKMeansParams,
    MiniBatchKMeansValidParams,
};
pub mod aopc;
pub mod head;
pub mod maps;

pub use head::{Decision, KmexHead, KmexHeadParams, KmexHeadValidParams};
pub use maps::{
    combine_blocks, concept_contributions, evidence_map, ConceptModel, ConceptParams, ConceptScope,
    Evidence, FeatureMap,
};
