//! Integration tests: torchaudio parity on committed fixtures, options, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod egemaps;
mod errors;
mod parity;
