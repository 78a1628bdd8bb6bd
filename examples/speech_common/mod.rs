//! Shared glue of the speech pipelines (`speech_ood`, `speech_explain`): device selection,
//! the bundled corpora, encoding with a progress bar, pooling and plot output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ndarray::Array2;
use voxprobe::encoder::{Encoder, EncoderSpec};

/// `--device cpu|cuda`, failing with a clear message when CUDA is not compiled in or absent.
pub fn device(name: &str) -> anyhow::Result<candle_core::Device> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        "cuda" => {
            if !candle_core::utils::cuda_is_available() {
                bail!(
                    "--device cuda: this binary was built without CUDA support; rebuild with \
                     `--features cuda` (needs the CUDA toolkit), or use --device cpu"
                );
            }
            candle_core::Device::new_cuda(0).map_err(|e| {
                anyhow::anyhow!("--device cuda: no usable CUDA GPU found ({e}); use --device cpu")
            })
        }
        other => bail!("--device {other:?}: expected cpu or cuda"),
    }
}

/// Builds the encoder named on the command line (`fbank`, `mfcc`, `ssl:<model>:<layer>`).
pub fn encoder(spec: &str, device: &candle_core::Device) -> anyhow::Result<Encoder> {
    let spec = EncoderSpec::parse(spec)?;
    #[cfg(feature = "ssl")]
    {
        Ok(Encoder::with_device(&spec, device.clone())?)
    }
    #[cfg(not(feature = "ssl"))]
    {
        let _ = device;
        Ok(Encoder::new(&spec)?)
    }
}

/// One utterance of a bundled corpus.
#[derive(Debug, Clone)]
pub struct Utt {
    /// Utterance id (file stem).
    pub id: String,
    /// Voice / accent / noise group.
    pub group: String,
    /// Sentence id (`u001`), shared by all voices reading it; empty for non-sentence audio.
    pub sentence: String,
    /// The sentence's number (`u001` → 1), used to split train/test by sentence; 0 for
    /// non-sentence audio.
    pub sentence_no: usize,
    /// Audio file.
    pub path: PathBuf,
}

/// The accent-audit corpus copied into `examples/data/accent-audit/` (refs.tsv + audio/*.ogg).
pub fn accent_audit(root: &Path) -> anyhow::Result<Vec<Utt>> {
    let refs = root.join("refs.tsv");
    let text =
        std::fs::read_to_string(&refs).with_context(|| format!("reading {}", refs.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        let (Some(id), Some(group)) = (cols.next(), cols.next()) else {
            bail!("{}: bad line {line:?}", refs.display());
        };
        let sentence = id.split('_').next().unwrap_or_default().to_string();
        // A malformed id would otherwise drop out of every split without a word.
        let sentence_no = sentence
            .strip_prefix('u')
            .and_then(|n| n.parse::<usize>().ok())
            .with_context(|| format!("{}: id {id:?} is not u<NNN>_<voice>", refs.display()))?;
        out.push(Utt {
            id: id.to_string(),
            group: group.to_string(),
            sentence,
            sentence_no,
            path: root.join("audio").join(format!("{id}.ogg")),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// A `list.tsv` (id, group) corpus with `<id>.ogg` beside it.
pub fn listed(root: &Path) -> anyhow::Result<Vec<Utt>> {
    let list = root.join("list.tsv");
    let text =
        std::fs::read_to_string(&list).with_context(|| format!("reading {}", list.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (id, group) = line
                .split_once('\t')
                .with_context(|| format!("{}: bad line {line:?}", list.display()))?;
            Ok(Utt {
                id: id.to_string(),
                group: group.to_string(),
                sentence: String::new(),
                sentence_no: 0,
                path: root.join(format!("{id}.ogg")),
            })
        })
        .collect()
}

/// Waveforms and their frame features, one per utterance.
pub type Encoded = (Vec<Vec<f32>>, Vec<Array2<f32>>);

/// Decodes (16 kHz mono, [-1, 1]) and encodes every utterance, with a progress bar on a
/// terminal. Returns the waveforms too (the explain example plots them).
pub fn encode_all(enc: &Encoder, utts: &[Utt], what: &str) -> anyhow::Result<Encoded> {
    let bar = indicatif::ProgressBar::new(utts.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    let mut waves = Vec::with_capacity(utts.len());
    let mut feats = Vec::with_capacity(utts.len());
    for u in utts {
        let audio = voxprobe::audio::load(&u.path, &voxprobe::audio::LoadOptions::default())
            .with_context(|| format!("decoding {}", u.path.display()))?;
        let f = enc
            .encode(&audio.samples)
            .with_context(|| format!("encoding {}", u.id))?;
        waves.push(audio.samples);
        feats.push(f);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((waves, feats))
}

/// Utterance embedding: per-dimension mean and standard deviation over frames (2 × dim).
pub fn mean_std_pool(x: &Array2<f32>) -> Vec<f32> {
    let n = x.nrows().max(1) as f64;
    let mut out = Vec::with_capacity(2 * x.ncols());
    let mut stds = Vec::with_capacity(x.ncols());
    for col in x.columns() {
        let m = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let v = col.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
        out.push(m as f32);
        stds.push(v.sqrt() as f32);
    }
    out.extend(stds);
    out
}

/// Column means and standard deviations of rows (for z-scoring with training statistics).
pub fn column_stats(rows: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let d = rows.first().map_or(0, Vec::len);
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0f64; d];
    for r in rows {
        mean.iter_mut()
            .zip(r)
            .for_each(|(m, &v)| *m += f64::from(v) / n);
    }
    let mut var = vec![0.0f64; d];
    for r in rows {
        var.iter_mut()
            .zip(r)
            .zip(&mean)
            .for_each(|((s, &v), m)| *s += (f64::from(v) - m).powi(2) / n);
    }
    (
        mean.iter().map(|&m| m as f32).collect(),
        var.iter().map(|&v| (v.sqrt().max(1e-6)) as f32).collect(),
    )
}

/// Rows stacked into a matrix, z-scored with the given statistics.
pub fn zscore(rows: &[Vec<f32>], mean: &[f32], std: &[f32]) -> Array2<f32> {
    let d = mean.len();
    Array2::from_shape_fn((rows.len(), d), |(i, j)| (rows[i][j] - mean[j]) / std[j])
}

/// Draws `draw` into `<stem>.svg` and rasterises it into `<stem>.png` (text through the
/// system fonts; no fonts installed is an error, not a PNG without labels).
pub fn plot_svg_png<F>(stem: &Path, size: (u32, u32), draw: F) -> anyhow::Result<Vec<PathBuf>>
where
    F: Fn(
        plotters::drawing::DrawingArea<plotters::prelude::SVGBackend<'_>, plotters::coord::Shift>,
    ) -> anyhow::Result<()>,
{
    let svg = stem.with_extension("svg");
    let area = plotters::prelude::IntoDrawingArea::into_drawing_area(
        plotters::prelude::SVGBackend::new(&svg, size),
    );
    draw(area)?;
    let mut written = vec![svg.clone()];
    let png = stem.with_extension("png");
    svg_to_png(&svg, &png).with_context(|| format!("writing {}", png.display()))?;
    written.push(png);
    Ok(written)
}

/// Rasterises with resvg (keeps plotting code single: one SVG drawing, two files).
fn svg_to_png(svg: &Path, png: &Path) -> anyhow::Result<()> {
    use resvg::{tiny_skia, usvg};
    let data = std::fs::read(svg).with_context(|| format!("reading {}", svg.display()))?;
    let mut opt = usvg::Options::default();
    let db = opt.fontdb_mut();
    db.load_system_fonts();
    // plotters writes font-family="sans-serif"; fontdb maps that to Arial only, and text in a
    // family it cannot find is dropped silently, so point it at a sans face that exists.
    let has = |name: &str| {
        db.faces()
            .any(|f| f.families.iter().any(|(n, _)| n == name))
    };
    let sans = ["Arial", "Liberation Sans", "DejaVu Sans", "Noto Sans"]
        .into_iter()
        .find(|n| has(n))
        .map(str::to_owned)
        .or_else(|| {
            db.faces()
                .find_map(|f| f.families.first().map(|(n, _)| n.clone()))
        });
    match sans {
        Some(name) => db.set_sans_serif_family(name),
        None if data.windows(5).any(|w| w == b"<text") => {
            bail!("no system fonts found, the plot's text would be missing (install e.g. fonts-dejavu)")
        }
        None => {}
    }
    let tree = usvg::Tree::from_data(&data, &opt)?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).context("SVG has an empty canvas")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.save_png(png)?;
    Ok(())
}
