//! The `speech_explain` pipeline as a function, so the integration tests run exactly what the
//! example runs (with fast settings).

use std::path::{Path, PathBuf};

use anyhow::Context;
use ndarray::{Array1, Array2, Axis};
use plotters::prelude::*;
use voxprobe::kmex::{evidence_map, FeatureMap, KmexHead, KmexHeadParams};

use super::common::{self, Utt};

/// Settings (the example's command line).
#[derive(Debug, Clone)]
pub struct Config {
    /// `examples/data` (holds `accent-audit/`).
    pub data: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// `fbank`, `mfcc` or `ssl:<model>:<layer>`.
    pub encoder: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Sentences `u001..` for training; the next `test_sentences` are held out, so no sentence
    /// is in both sets.
    pub train_sentences: usize,
    /// Held-out sentences.
    pub test_sentences: usize,
    /// Prototypes per voice group.
    pub prototypes: usize,
    /// Gradient steps of the linear probes.
    pub probe_steps: usize,
    /// Seed of k-means.
    pub seed: u64,
    /// Test utterances whose evidence maps are plotted.
    pub plot_utterances: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("examples/data"),
            out: PathBuf::from("target/speech_explain"),
            encoder: "mfcc".into(),
            device: "cpu".into(),
            train_sentences: 20,
            test_sentences: 10,
            prototypes: 3,
            probe_steps: 300,
            seed: 0,
            plot_utterances: 4,
        }
    }
}

/// Accuracies and where the pictures went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Encoder name.
    pub encoder: String,
    /// Voice groups (classes), in label order.
    pub groups: Vec<String>,
    /// Train / test utterances.
    pub n_train: usize,
    /// Held-out utterances.
    pub n_test: usize,
    /// Held-out utterance accuracy of the KMEx head (nearest prototype of pooled frames).
    pub kmex_utterance_acc: f64,
    /// Held-out utterance accuracy of a softmax-regression probe on the same pooled vectors.
    pub linear_utterance_acc: f64,
    /// Held-out frame accuracy of the KMEx head applied to single frames.
    pub kmex_frame_acc: f64,
    /// Held-out frame accuracy of a softmax-regression probe trained on frames.
    pub linear_frame_acc: f64,
    /// Chance level (1 / groups).
    pub chance: f64,
    /// Largest |mean(evidence map) − margin| over the held-out set (an identity: ~1e-12).
    pub max_evidence_mean_error: f64,
    /// Share of held-out frames with positive evidence for the predicted group.
    pub positive_evidence_share: f64,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Runs the whole pipeline.
pub fn run(cfg: &Config) -> anyhow::Result<Summary> {
    let device = common::device(&cfg.device)?;
    let enc = common::encoder(&cfg.encoder, &device)?;
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let all = common::accent_audit(&cfg.data.join("accent-audit"))?;
    let (t, h) = (cfg.train_sentences, cfg.test_sentences);
    let train: Vec<Utt> = all
        .iter()
        .filter(|u| (1..=t).contains(&u.sentence_no))
        .cloned()
        .collect();
    let test: Vec<Utt> = all
        .iter()
        .filter(|u| (t + 1..=t + h).contains(&u.sentence_no))
        .cloned()
        .collect();
    anyhow::ensure!(!train.is_empty() && !test.is_empty(), "empty split");
    let mut groups: Vec<String> = all.iter().map(|u| u.group.clone()).collect();
    groups.sort();
    groups.dedup();
    let label = |u: &Utt| groups.iter().position(|g| g == &u.group).unwrap_or(0);
    let y_train: Vec<usize> = train.iter().map(label).collect();
    let y_test: Vec<usize> = test.iter().map(label).collect();

    let (_, f_train) = common::encode_all(&enc, &train, "train")?;
    let (w_test, f_test) = common::encode_all(&enc, &test, "test")?;
    // Frame features z-scored with training-frame statistics (f64 for the heads).
    let (mean, std) = frame_stats(&f_train);
    let z = |f: &Array2<f32>| -> Array2<f64> {
        Array2::from_shape_fn(f.dim(), |(i, j)| f64::from((f[[i, j]] - mean[j]) / std[j]))
    };
    let z_train: Vec<Array2<f64>> = f_train.iter().map(z).collect();
    let z_test: Vec<Array2<f64>> = f_test.iter().map(z).collect();
    let pool = |zs: &[Array2<f64>]| -> Array2<f64> {
        let d = zs.first().map_or(0, |m| m.ncols());
        let mut out = Array2::zeros((zs.len(), d));
        for (mut row, m) in out.rows_mut().into_iter().zip(zs) {
            row.assign(&m.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(d)));
        }
        out
    };
    let (p_train, p_test) = (pool(&z_train), pool(&z_test));

    // KMEx head: H prototypes per voice group on pooled frame features.
    let head = KmexHeadParams::new()
        .n_prototypes(cfg.prototypes)
        .seed(cfg.seed)
        .fit(p_train.view(), &y_train)?;
    let kmex_utt = accuracy(&head.predict(p_test.view())?, &y_test);
    let frames_of = |zs: &[Array2<f64>], ys: &[usize]| -> (Array2<f64>, Vec<usize>) {
        let d = zs.first().map_or(0, |m| m.ncols());
        let n: usize = zs.iter().map(|m| m.nrows()).sum();
        let mut x = Array2::zeros((n, d));
        let mut y = Vec::with_capacity(n);
        let mut r = 0;
        for (m, &c) in zs.iter().zip(ys) {
            x.slice_mut(ndarray::s![r..r + m.nrows(), ..]).assign(m);
            y.extend(std::iter::repeat_n(c, m.nrows()));
            r += m.nrows();
        }
        (x, y)
    };
    let (fx_train, fy_train) = frames_of(&z_train, &y_train);
    let (fx_test, fy_test) = frames_of(&z_test, &y_test);
    let kmex_frame = accuracy(&head.predict(fx_test.view())?, &fy_test);

    // Linear probes (softmax regression) on the same representations.
    let k = groups.len();
    let probe_utt = SoftmaxProbe::fit(&p_train, &y_train, k, cfg.probe_steps);
    let linear_utt = accuracy(&probe_utt.predict(&p_test), &y_test);
    let probe_frame = SoftmaxProbe::fit(&fx_train, &fy_train, k, cfg.probe_steps);
    let linear_frame = accuracy(&probe_frame.predict(&fx_test), &fy_test);

    // Evidence maps over time for every held-out utterance.
    let mut max_err = 0.0f64;
    let (mut pos, mut tot) = (0usize, 0usize);
    let mut maps = Vec::with_capacity(z_test.len());
    for m in &z_test {
        let phi = FeatureMap::new(m.clone(), 1, m.nrows())?;
        let ev = evidence_map(&head, &phi)?;
        let mean_ev = ev.map.iter().sum::<f64>() / ev.map.len().max(1) as f64;
        max_err = max_err.max((mean_ev - ev.decision.margin).abs());
        pos += ev.map.iter().filter(|&&e| e > 0.0).count();
        tot += ev.map.len();
        maps.push(ev);
    }

    let mut files = Vec::new();
    // One utterance per plotted group (its first held-out sentence).
    // Groups spread evenly over the label range, so both voice families appear.
    let n_plot = cfg.plot_utterances.min(k).max(1);
    let mut picks: Vec<usize> = Vec::new();
    for j in 0..n_plot {
        let g = if n_plot == 1 {
            0
        } else {
            (j * (k - 1) + (n_plot - 1) / 2) / (n_plot - 1)
        };
        if let Some(i) = y_test.iter().position(|&y| y == g) {
            picks.push(i);
        }
    }
    let panels: Vec<Panel<'_>> = picks
        .iter()
        .map(|&i| Panel {
            title: format!(
                "{}: true {}, predicted {} (margin {:.2})",
                test[i].id,
                groups[y_test[i]],
                groups[maps[i].decision.class],
                maps[i].decision.margin
            ),
            wave: &w_test[i],
            evidence: &maps[i].map,
            frame_rate: enc.frame_rate(),
        })
        .collect();
    files.extend(plot_evidence(&cfg.out.join("evidence"), &panels)?);

    let summary = Summary {
        encoder: enc.name(),
        groups: groups.clone(),
        n_train: train.len(),
        n_test: test.len(),
        kmex_utterance_acc: kmex_utt,
        linear_utterance_acc: linear_utt,
        kmex_frame_acc: kmex_frame,
        linear_frame_acc: linear_frame,
        chance: 1.0 / k as f64,
        max_evidence_mean_error: max_err,
        positive_evidence_share: pos as f64 / tot.max(1) as f64,
        files,
    };
    std::fs::write(
        cfg.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    let _ = head_summary(&head, &groups, &cfg.out.join("prototypes.json"));
    Ok(summary)
}

fn frame_stats(fs: &[Array2<f32>]) -> (Vec<f32>, Vec<f32>) {
    let rows: Vec<Vec<f32>> = fs
        .iter()
        .flat_map(|m| m.rows().into_iter().map(|r| r.to_vec()))
        .collect();
    common::column_stats(&rows)
}

fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    let hit = pred.iter().zip(truth).filter(|(a, b)| a == b).count();
    hit as f64 / truth.len().max(1) as f64
}

/// Writes prototype usage per group (which prototypes the training utterances fell on).
fn head_summary(head: &KmexHead, groups: &[String], path: &Path) -> anyhow::Result<()> {
    let v: Vec<serde_json::Value> = head
        .prototype_classes()
        .iter()
        .zip(head.usage())
        .map(|(&c, &u)| serde_json::json!({"group": groups.get(c), "usage": u}))
        .collect();
    std::fs::write(path, serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

/// Multinomial logistic regression, full-batch gradient descent with a small L2 penalty: the
/// standard linear probe of representation studies.
struct SoftmaxProbe {
    w: Array2<f64>,
    b: Array1<f64>,
}

impl SoftmaxProbe {
    const LEARNING_RATE: f64 = 0.5;
    const L2: f64 = 1e-3;

    fn fit(x: &Array2<f64>, y: &[usize], k: usize, steps: usize) -> Self {
        let (n, d) = x.dim();
        let mut w = Array2::<f64>::zeros((d, k));
        let mut b = Array1::<f64>::zeros(k);
        let mut onehot = Array2::<f64>::zeros((n, k));
        for (i, &c) in y.iter().enumerate() {
            onehot[[i, c]] = 1.0;
        }
        for _ in 0..steps {
            let p = softmax(&(x.dot(&w) + &b));
            let g = (p - &onehot) / n.max(1) as f64;
            let gw = x.t().dot(&g) + &w * Self::L2;
            let gb = g.sum_axis(Axis(0));
            w = w - gw * Self::LEARNING_RATE;
            b = b - gb * Self::LEARNING_RATE;
        }
        Self { w, b }
    }

    fn predict(&self, x: &Array2<f64>) -> Vec<usize> {
        (x.dot(&self.w) + &self.b)
            .rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i)
            })
            .collect()
    }
}

fn softmax(z: &Array2<f64>) -> Array2<f64> {
    let mut p = z.clone();
    for mut row in p.rows_mut() {
        let m = row.iter().fold(f64::MIN, |a, &v| a.max(v));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    p
}

struct Panel<'a> {
    title: String,
    wave: &'a [f32],
    evidence: &'a [f64],
    frame_rate: f64,
}

/// Waveform (grey) with the per-frame evidence for the predicted group over it: green where a
/// stretch looks like the predicted group more than like the closest other group, red where
/// it argues against.
fn plot_evidence(stem: &Path, panels: &[Panel<'_>]) -> anyhow::Result<Vec<PathBuf>> {
    let n = panels.len().max(1);
    common::plot_svg_png(stem, (900, 190 * n as u32), |root| {
        root.fill(&WHITE)?;
        for (area, p) in root.split_evenly((n, 1)).iter().zip(panels) {
            let secs = p.wave.len() as f64 / f64::from(voxprobe::encoder::SAMPLE_RATE);
            let emax = p.evidence.iter().fold(1e-9f64, |a, v| a.max(v.abs()));
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, ("sans-serif", 14))
                .margin(6)
                .x_label_area_size(24)
                .y_label_area_size(48)
                .build_cartesian_2d(0f64..secs, -emax * 1.05..emax * 1.05)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("s")
                .y_desc("evidence")
                .draw()?;
            let peak = p.wave.iter().fold(1e-9f32, |a, v| a.max(v.abs()));
            let step = (p.wave.len() / 3000).max(1);
            chart.draw_series(LineSeries::new(
                p.wave.iter().enumerate().step_by(step).map(|(i, &v)| {
                    (
                        i as f64 / f64::from(voxprobe::encoder::SAMPLE_RATE),
                        f64::from(v / peak) * emax,
                    )
                }),
                BLACK.mix(0.25),
            ))?;
            let hop = 1.0 / p.frame_rate;
            // Frame i covers [i·hop, i·hop + hop): bars from zero to its evidence.
            chart.draw_series(p.evidence.iter().enumerate().map(|(i, &e)| {
                let x0 = i as f64 * hop;
                let color = if e >= 0.0 {
                    GREEN.mix(0.6)
                } else {
                    RED.mix(0.6)
                };
                Rectangle::new([(x0, 0.0), (x0 + hop, e)], color.filled())
            }))?;
        }
        root.present()?;
        Ok(())
    })
}
