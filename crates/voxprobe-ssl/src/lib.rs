#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! Invariant: every tensor this crate returns is time-major `(B, T, ·)`, and hidden states
//! follow transformers 5.x numbering (entry 0 = input of the first encoder layer).

/// Re-export of candle-core, so that users need no direct dependency for tensors and devices.
pub use candle_core;
/// Re-export of candle-nn (VarBuilder for [`SslModel::load`]).
pub use candle_nn;

pub mod chunk;
pub mod config;
pub mod ctc;
pub mod error;
#[cfg(feature = "hub")]
mod hub;
mod kernels;
pub mod model;
pub mod pooling;
pub mod preprocess;
pub mod pretrained;
pub mod shards;
pub mod throughput;
pub mod transcribe;
pub mod weights;

pub use chunk::ChunkOptions;
pub use config::{Config, Family, PreprocessorConfig};
pub use ctc::{
    frames_to_seconds, CharOffset, CtcDecoding, CtcVocab, DecodeOptions, TimedChar, TimedWord,
    WordOffset,
};
pub use error::{Error, Result, ShapeProblem};
pub use model::{
    frames_for, wavlm_bucket, Data2VecAudioModel, EngineKind, ForwardOptions, HubertModel,
    LayerSelection, SslModel, SslOutput, Wav2Vec2Model, WavLmModel,
};
pub use pooling::{mean_pool, weighted_layer_sum};
pub use preprocess::{normalize, Batch, BatchOptions, Normalization};
pub use pretrained::{cached_snapshot, LoadOptions, Pretrained};
pub use shards::{find_weights, read_weights, ShardIndex, WeightSource};
pub use throughput::{length_buckets, ThroughputOptions};
pub use transcribe::{TranscribeOptions, Transcript};
pub use weights::Checkpoint;
