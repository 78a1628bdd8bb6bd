#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// Invariant: every op list returned by `error_align` covers each reference token in exactly one
// MATCH / SUBSTITUTE / DELETE op and every hypothesis token character in order; all offsets are
// Unicode code points of the raw input (Python string indices).

pub mod align;
pub mod audit;
pub mod cartography;
pub mod difficulty;
pub mod diversity;
mod error;
mod html;
pub mod input;
pub mod levenshtein;
pub mod metrics;
pub mod normalize;
pub mod representativity;
pub mod semantic;
mod tables;
pub mod text;

pub use align::{error_align, AlignOp, AlignOptions, OpType, WordLevelMethod};
pub use error::{Error, Result};
pub use metrics::{
    cer, char_counts, measures, wer, word_counts, CorpusMeasures, ErrorCounts, WerMeasures,
};
pub use normalize::{NormalizeStep, Normalizer};
