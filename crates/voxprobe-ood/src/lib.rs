#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! # Invariant
//!
//! Every test statistic is a function of a [`DensityModel`]'s per-example log-likelihood and
//! gradient only; nothing here knows what the model is.

/// The `ndarray` this crate's API uses (`Array2<f32>` in and out), re-exported so callers
/// name the same version: `voxprobe_x::ndarray::Array2`.
pub use ndarray;

pub mod calibrate;
pub mod error;
pub mod gaussian;
pub mod gmm;
pub mod hvae;
pub mod metrics;
pub mod model;
pub mod ppca;
pub mod stats;

pub use calibrate::{CalibrationParams, Calibrator, PValueConvention, TestStatistics};
pub use error::{Error, ParamError, Result};
pub use gaussian::{DiagGaussian, GaussianParams};
pub use gmm::{Gmm, GmmParams};
pub use hvae::{Hvae, HvaeParams, LkBound};
pub use model::{Autograd, CandleDensity, DensityModel};
pub use ppca::{Ppca, PpcaParams};
