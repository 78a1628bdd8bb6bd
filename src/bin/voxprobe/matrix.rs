//! A merged matrix output (`embed`, `features`) read back for `explain` and `ood`.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use voxprobe::corpus::output::{Kind, Manifest, MatrixFile, UttRecord};

/// A matrix output: its records, rows read by seeking.
pub struct MatrixStore {
    /// Its records, in manifest order.
    pub utterances: Vec<UttRecord>,
    file: MatrixFile,
}

impl MatrixStore {
    /// Opens `path` (a manifest `.json`, or a directory holding `embeddings.json`).
    pub fn read(path: &Path) -> Result<Self> {
        let path: PathBuf = if path.is_dir() {
            path.join("embeddings.json")
        } else {
            path.to_path_buf()
        };
        let manifest = Manifest::read(&path)?;
        ensure!(
            manifest.kind == Kind::Matrix,
            "{} describes {:?} output, not embeddings/features",
            path.display(),
            manifest.kind
        );
        ensure!(
            manifest.shard.count == 1,
            "{} is shard {}/{}; run `voxprobe merge` first",
            path.display(),
            manifest.shard.index,
            manifest.shard.count
        );
        let mut utterances = Vec::with_capacity(manifest.utterances);
        manifest.for_each_record(&path, |r| {
            utterances.push(r);
            Ok(())
        })?;
        let file = MatrixFile::open(&path, &manifest)
            .with_context(|| format!("data of {}", path.display()))?;
        Ok(Self { utterances, file })
    }

    /// Columns.
    pub fn dim(&self) -> usize {
        self.file.dim()
    }

    /// Rows of utterance `k` (manifest position), row-major.
    pub fn rows(&mut self, k: usize) -> Result<Vec<f32>> {
        let u = self.utterances.get(k).context("utterance out of range")?;
        let mut v = Vec::new();
        self.file
            .read_rows(u.offset.unwrap_or(0), u.frames.unwrap_or(0), &mut v)?;
        Ok(v)
    }

    /// Mean over frames of utterance `k` (an utterance embedding), in f64.
    pub fn pooled(&mut self, k: usize) -> Result<Vec<f64>> {
        let d = self.dim();
        let rows = self.rows(k)?;
        let f = rows.len().checked_div(d).unwrap_or(0);
        ensure!(f > 0, "utterance {k} has no frames");
        let mut m = vec![0f64; d];
        for r in rows.chunks_exact(d) {
            for (a, &b) in m.iter_mut().zip(r) {
                *a += f64::from(b);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let n = f as f64;
        m.iter_mut().for_each(|v| *v /= n);
        Ok(m)
    }
}
