//! voxprobe-probe integration tests (one binary, a module per topic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod parity;
