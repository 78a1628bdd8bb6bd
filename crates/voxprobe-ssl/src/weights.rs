//! Reading checkpoints and checking every key at once.
//!
//! Weights are read into memory (safetensors or a PyTorch pickle), then handed to the layers
//! through a [`VarBuilder`] whose backend records each request. Missing and mis-shaped tensors
//! are replaced by zeros while the model is built, so that one pass finds every problem; the
//! caller then turns the record into a single [`Error::Checkpoint`].

use crate::error::{Error, Result, ShapeProblem};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Tensors read from a checkpoint file, by key.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Wraps an existing key → tensor map (e.g. built in memory).
    pub fn from_tensors(tensors: HashMap<String, Tensor>) -> Self {
        Self { tensors }
    }

    /// Reads `model.safetensors`-style files or, for `.bin`/`.pt`/`.pth`, a PyTorch pickle
    /// (`pytorch_model.bin`). Tensors stay on the CPU in their stored dtype.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let wf = |e: candle_core::Error| Error::WeightFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let tensors = if matches!(ext.as_str(), "bin" | "pt" | "pth") {
            candle_core::pickle::read_all(path)
                .map_err(wf)?
                .into_iter()
                .collect()
        } else {
            let data = std::fs::read(path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            candle_core::safetensors::load_buffer(&data, &Device::Cpu).map_err(wf)?
        };
        Ok(Self { tensors })
    }

    /// The key → tensor map.
    pub fn into_tensors(self) -> HashMap<String, Tensor> {
        self.tensors
    }

    /// Key names, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when the file held no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

#[derive(Debug, Default)]
struct Record {
    used: HashSet<String>,
    missing: BTreeSet<String>,
    mismatched: Vec<ShapeProblem>,
}

/// Backend that serves checkpoint tensors and records misses.
#[derive(Debug)]
pub(crate) struct Recorder {
    tensors: HashMap<String, Tensor>,
    record: Mutex<Record>,
}

#[derive(Clone)]
struct Handle(Arc<Recorder>);

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        // A poisoned lock only means another thread panicked mid-record; the data is still usable.
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turns the record into an error if any key is missing, mis-shaped or unexpected.
    /// `ignorable` decides which unused keys are fine (training-only or other heads).
    pub(crate) fn finish(&self, ignorable: impl Fn(&str) -> bool) -> Result<()> {
        let rec = self.lock();
        let mut unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !rec.used.contains(*k) && !ignorable(k))
            .cloned()
            .collect();
        unexpected.sort_unstable();
        if rec.missing.is_empty() && rec.mismatched.is_empty() && unexpected.is_empty() {
            return Ok(());
        }
        let mut mismatched = rec.mismatched.clone();
        mismatched.sort_by(|a, b| a.name.cmp(&b.name));
        Err(Error::Checkpoint {
            missing: rec.missing.iter().cloned().collect(),
            unexpected,
            mismatched,
        })
    }
}

impl SimpleBackend for Handle {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.0.tensors.get(name) {
            Some(t) if t.shape() == &s => {
                self.0.lock().used.insert(name.to_string());
                t.to_device(dev)?.to_dtype(dtype)
            }
            Some(t) => {
                let mut rec = self.0.lock();
                rec.used.insert(name.to_string());
                rec.mismatched.push(ShapeProblem {
                    name: name.to_string(),
                    expected: s.dims().to_vec(),
                    actual: t.dims().to_vec(),
                });
                Tensor::zeros(s, dtype, dev)
            }
            None => {
                self.0.lock().missing.insert(name.to_string());
                Tensor::zeros(s, dtype, dev)
            }
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        match self.0.tensors.get(name) {
            Some(t) => {
                self.0.lock().used.insert(name.to_string());
                t.to_device(dev)?.to_dtype(dtype)
            }
            None => {
                self.0.lock().missing.insert(name.to_string());
                candle_core::bail!("missing tensor {name}")
            }
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.tensors.contains_key(name)
    }
}

/// Builds a recording [`VarBuilder`] over a checkpoint.
pub(crate) fn recording_var_builder(
    ckpt: Checkpoint,
    dtype: DType,
    device: &Device,
) -> (VarBuilder<'static>, Arc<Recorder>) {
    let rec = Arc::new(Recorder {
        tensors: ckpt.tensors,
        record: Mutex::new(Record::default()),
    });
    let vb = VarBuilder::from_backend(Box::new(Handle(rec.clone())), dtype, device.clone());
    (vb, rec)
}
