//! # voxprobe
//!
//! Research-model crates for speech, re-exported behind default-on features. Each member crate
//! is usable on its own; this root package hosts the runnable examples, the cross-crate tests and
//! the benches.
#![deny(missing_docs)]

#[cfg(feature = "audio")]
pub use voxprobe_audio as audio;
#[cfg(feature = "audit")]
pub use voxprobe_audit as audit;
#[cfg(feature = "features")]
pub mod encoder;
#[cfg(feature = "features")]
pub use voxprobe_features as features;
#[cfg(feature = "kmex")]
pub use voxprobe_kmex as kmex;
#[cfg(feature = "ood")]
pub use voxprobe_ood as ood;
#[cfg(feature = "probe")]
pub use voxprobe_probe as probe;
#[cfg(feature = "ssl")]
pub use voxprobe_ssl as ssl;
#[cfg(feature = "cli")]
pub mod corpus;
