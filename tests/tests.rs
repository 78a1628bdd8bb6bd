//! Cross-crate integration tests: one binary, a module per flow (data in `tests/data/`).
