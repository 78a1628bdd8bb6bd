//! Integration tests of voxprobe-ssl: parity with transformers 5.23.0 on the committed tiny
//! checkpoints (`models/tiny-*`, made by `scripts/gen_ssl_fixtures.py`), loading paths and
//! error reporting. Offline; data in `tests/data/` (see `PROVENANCE.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "suite/ckpt.rs"]
mod ckpt;
#[path = "suite/common.rs"]
mod common;
#[path = "suite/engines.rs"]
mod engines;
#[path = "suite/errors.rs"]
mod errors;
#[path = "suite/loading.rs"]
mod loading;
#[path = "suite/parity.rs"]
mod parity;
