//! Integration tests of voxprobe-kmex: one binary, a module per feature.

mod common;
mod kmeans_parity;
mod kmex_head;
mod naopc_parity;
