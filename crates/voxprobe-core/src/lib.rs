#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! Invariant: this crate is a leaf (no voxprobe dependency, no network) and every fallible
//! function returns [`Result`] with a typed [`Error`].

mod error;
mod hub_cache;
mod normalize;

pub use error::{Error, Result};
pub use hub_cache::{default_cache_dir, HubCache, Offline};
pub use normalize::{zero_mean_unit_var, ZERO_MEAN_UNIT_VAR_EPS};
