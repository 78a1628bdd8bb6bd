//! Corpus plumbing behind the `voxprobe` command line (feature `cli`): reading corpora as speech
//! toolkits ship them, and one resumable runner for every per-utterance command.
//!
//! * [`manifest`] — audio manifests: Kaldi data directories (`wav.scp`, `segments`, `text`,
//!   `utt2spk`), `wav.scp` files, JSONL and CSV manifests (Lhotse-cut / Hugging Face
//!   `datasets` fields), plain path lists. The format is detected from the content; a file that
//!   fits no format, or two, is an error — never a silent reinterpretation.
//! * [`text`] — transcript files (Kaldi `text`, `id<TAB>[group<TAB>]text` TSV, JSONL) and group
//!   maps (`utt2spk`, accent maps), and the reference/hypothesis join of `audit`.
//! * [`runner`] — a [`runner::Job`] processes one utterance; [`runner::run`] owns sharding,
//!   crash-safe part files (length + CRC-32 recorded at write), resume, the shard lock,
//!   `--skip-bad` and progress, and streams the parts into the shard's outputs.
//!   [`output::merge_dir`] streams shard outputs into the unsharded files.
//!
//! Invariant: the outputs of a run are a function of the manifest and the job's options only —
//! sharded and merged, interrupted and resumed, they are byte-equal to one uninterrupted
//! unsharded run — and memory does not grow with the corpus beyond the manifest itself.

pub mod audio;
mod error;
pub mod manifest;
pub mod output;
mod parts;
pub mod runner;
pub mod text;

pub use error::{Error, Result};
pub use manifest::{Entry, Origin, Shard};
