//! Weight files of a model directory, single or sharded.
//!
//! Large hub checkpoints are split into shards listed by an index file,
//! `model.safetensors.index.json` or `pytorch_model.bin.index.json`:
//!
//! ```json
//! {"metadata": {"total_size": 123}, "weight_map": {"lm_head.bias": "model-00002-of-00002.safetensors", ...}}
//! ```
//!
//! [`find_weights`] picks the file transformers would load (`model.safetensors`, then
//! `model.safetensors.index.json`, then `pytorch_model.bin`, then
//! `pytorch_model.bin.index.json`), and [`read_weights`] reads it into one [`Checkpoint`]; the
//! model then checks every key at once, as for a single file. PyTorch shards are pickles read
//! by candle's pickle reader, like a single `pytorch_model.bin`.
//!
//! An index is checked before any shard is read: every shard it names must exist (all missing
//! ones are listed in [`Error::MissingShard`]), no tensor may be named twice
//! ([`Error::DuplicateKey`]), shard names must be plain file names in the same directory. After
//! reading, every tensor the index lists must be in the shard it names, and no tensor may be
//! stored in two shards ([`Error::ShardIndex`], [`Error::DuplicateKey`]).

use crate::error::{Error, Result};
use crate::weights::Checkpoint;
use candle_core::Tensor;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

/// Single safetensors file.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// Index of a sharded safetensors checkpoint.
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
/// Single PyTorch pickle.
pub const PYTORCH_FILE: &str = "pytorch_model.bin";
/// Index of a sharded PyTorch checkpoint.
pub const PYTORCH_INDEX: &str = "pytorch_model.bin.index.json";
/// The weight files looked for, in transformers' order of preference.
pub const WEIGHT_LOOKUP: [&str; 4] = [
    SAFETENSORS_FILE,
    SAFETENSORS_INDEX,
    PYTORCH_FILE,
    PYTORCH_INDEX,
];

/// Where a directory's weights are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightSource {
    /// One file (`model.safetensors` or `pytorch_model.bin`).
    Single(PathBuf),
    /// An index file naming shards in the same directory.
    Sharded(PathBuf),
}

/// The first weight file of [`WEIGHT_LOOKUP`] present in `dir`, or `None`.
pub fn find_weights(dir: &Path) -> Option<WeightSource> {
    WEIGHT_LOOKUP.iter().find_map(|f| {
        let p = dir.join(f);
        if !p.is_file() {
            None
        } else if f.ends_with(".index.json") {
            Some(WeightSource::Sharded(p))
        } else {
            Some(WeightSource::Single(p))
        }
    })
}

/// Reads the weights of a model directory (see [`find_weights`]); [`Error::NoWeights`] when
/// there are none.
pub fn read_weights(dir: &Path) -> Result<Checkpoint> {
    match find_weights(dir) {
        Some(WeightSource::Single(p)) => Checkpoint::read(p),
        Some(WeightSource::Sharded(p)) => ShardIndex::read(&p)?.read_checkpoint(),
        None => Err(Error::NoWeights {
            dir: dir.display().to_string(),
        }),
    }
}

/// Whether `dir` holds complete weights: a single file, or an index whose shards are all
/// present (used to decide whether a cached hub snapshot needs a download).
pub fn has_complete_weights(dir: &Path) -> bool {
    match find_weights(dir) {
        Some(WeightSource::Single(_)) => true,
        Some(WeightSource::Sharded(p)) => ShardIndex::read(&p)
            .map(|ix| ix.missing_shards().is_empty())
            .unwrap_or(false),
        None => false,
    }
}

/// A parsed shard index.
#[derive(Debug, Clone)]
pub struct ShardIndex {
    path: PathBuf,
    dir: PathBuf,
    weight_map: BTreeMap<String, String>,
}

/// `weight_map` entries in file order, duplicates kept (serde's map types drop them).
struct Entries(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object mapping tensor names to shard file names")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut v = Vec::new();
                while let Some((k, f)) = m.next_entry::<String, String>()? {
                    v.push((k, f));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawIndex {
    weight_map: Entries,
}

fn is_plain_file_name(name: &str) -> bool {
    let mut c = Path::new(name).components();
    matches!((c.next(), c.next()), (Some(Component::Normal(_)), None))
}

impl ShardIndex {
    /// Parses an index file and checks it: a `weight_map` object, each tensor named once,
    /// each shard a plain file name.
    pub fn read(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: shown.clone(),
            source,
        })?;
        let raw: RawIndex = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: shown.clone(),
            source,
        })?;
        let mut weight_map = BTreeMap::new();
        for (key, shard) in raw.weight_map.0 {
            if !is_plain_file_name(&shard) {
                return Err(Error::ShardIndex {
                    index: shown,
                    reason: format!(
                        "shard {shard:?} of tensor {key} is not a file name in the index's directory"
                    ),
                });
            }
            if weight_map.insert(key.clone(), shard).is_some() {
                return Err(Error::DuplicateKey { file: shown, key });
            }
        }
        if weight_map.is_empty() {
            return Err(Error::ShardIndex {
                index: shown,
                reason: "weight_map is empty".into(),
            });
        }
        Ok(Self {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            path: path.to_path_buf(),
            weight_map,
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor name → shard file name.
    pub fn weight_map(&self) -> &BTreeMap<String, String> {
        &self.weight_map
    }

    /// The shard file names, sorted, each once.
    pub fn shard_files(&self) -> Vec<String> {
        let s: BTreeSet<&String> = self.weight_map.values().collect();
        s.into_iter().cloned().collect()
    }

    /// Shard files named by the index that are not in its directory.
    pub fn missing_shards(&self) -> Vec<String> {
        self.shard_files()
            .into_iter()
            .filter(|f| !self.dir.join(f).is_file())
            .collect()
    }

    /// Reads every shard into one checkpoint (see the module docs for the checks).
    pub fn read_checkpoint(&self) -> Result<Checkpoint> {
        let shown = self.path.display().to_string();
        let missing = self.missing_shards();
        if !missing.is_empty() {
            return Err(Error::MissingShard {
                index: shown,
                shards: missing,
            });
        }
        let mut tensors: HashMap<String, Tensor> = HashMap::with_capacity(self.weight_map.len());
        let mut stored_in: HashMap<String, String> = HashMap::with_capacity(self.weight_map.len());
        for shard in self.shard_files() {
            let ck = Checkpoint::read(self.dir.join(&shard))?;
            for (key, t) in ck.into_tensors() {
                if let Some(first) = stored_in.get(&key) {
                    return Err(Error::DuplicateKey {
                        file: format!("{first} and {shard}"),
                        key,
                    });
                }
                if self.weight_map.get(&key) != Some(&shard) {
                    tracing::warn!(
                        "{shown}: {shard} stores tensor {key}, which the index does not assign to it"
                    );
                }
                stored_in.insert(key.clone(), shard.clone());
                tensors.insert(key, t);
            }
        }
        let absent: Vec<String> = self
            .weight_map
            .iter()
            .filter(|(k, f)| stored_in.get(*k) != Some(*f))
            .map(|(k, f)| format!("{k} (in {f})"))
            .collect();
        if !absent.is_empty() {
            return Err(Error::ShardIndex {
                index: shown,
                reason: format!(
                    "tensors not stored in the shard the index names: {}",
                    absent.join(", ")
                ),
            });
        }
        tracing::debug!(
            "{shown}: {} tensors from {} shards",
            tensors.len(),
            self.shard_files().len()
        );
        Ok(Checkpoint::from_tensors(tensors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_must_be_plain_files() {
        assert!(is_plain_file_name("model-00001-of-00002.safetensors"));
        for bad in ["../x.safetensors", "/etc/passwd", "a/b.bin", "", ".."] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
