//! KMEx reproduction on the 8×8 digits (spec kmex.md A.6 / C.5): train a small CNN in candle,
//! replace its linear head by per-class k-means prototypes at the last block (B3) and at a
//! multi-block level (B23), draw prototypes, evidence and concept maps, and measure the NAOPC of
//! the evidence maps against occlusion and random attributions.
//!
//! `cargo run --release --example kmex_digits --no-default-features --features kmex`

use anyhow::{Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::{
    conv2d, linear, Conv2d, Conv2dConfig, Linear, Module, Optimizer, VarBuilder, VarMap,
};
use clap::Parser;
use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::{Array2, Axis};
use plotters::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::Read;
use std::path::{Path, PathBuf};
use voxprobe_kmex::aopc::{aopc, ascending_order, descending_order, exact_bounds, naopc};
use voxprobe_kmex::maps::{block_scales, upsample_grid};
use voxprobe_kmex::{
    combine_blocks, concept_contributions, evidence_map, ConceptModel, ConceptParams, FeatureMap,
    KmexHead, KmexHeadParams,
};

#[derive(Parser)]
struct Args {
    /// Training epochs of the CNN.
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    /// Prototypes per class (H).
    #[arg(long, default_value_t = 3)]
    prototypes: usize,
    /// Concepts (M) for the concept maps.
    #[arg(long, default_value_t = 5)]
    concepts: usize,
    /// Test images for NAOPC with exact bounds (2^16 masked forward passes each).
    #[arg(long, default_value_t = 4)]
    naopc_images: usize,
    /// Seed for weight init, batching and the random baseline.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/kmex_digits")]
    out: PathBuf,
}

struct Cnn {
    b1: Conv2d,
    b2: Conv2d,
    b3: Conv2d,
    head: Linear,
}

/// Activations of every block plus logits.
struct Acts {
    b2: Tensor,
    b3: Tensor,
    logits: Tensor,
}

impl Cnn {
    fn new(vb: VarBuilder) -> Result<Self> {
        let p1 = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let p2 = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            b1: conv2d(1, 16, 3, p1, vb.pp("b1"))?,
            b2: conv2d(16, 32, 3, p2, vb.pp("b2"))?,
            b3: conv2d(32, 64, 3, p2, vb.pp("b3"))?,
            head: linear(64, 10, vb.pp("head"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Acts> {
        let b1 = self.b1.forward(x)?.relu()?;
        let b2 = self.b2.forward(&b1)?.relu()?;
        let b3 = self.b3.forward(&b2)?.relu()?;
        let pooled = b3.mean(D::Minus1)?.mean(D::Minus1)?;
        let logits = self.head.forward(&pooled)?;
        Ok(Acts { b2, b3, logits })
    }
}

fn load_digits() -> Result<(Vec<[f32; 64]>, Vec<usize>)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/voxprobe-kmex/tests/data/digits.csv.gz");
    let mut s = String::new();
    GzDecoder::new(std::fs::File::open(&path).with_context(|| format!("{path:?}"))?)
        .read_to_string(&mut s)?;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f32> = line
            .split(',')
            .map(|t| t.trim().parse())
            .collect::<Result<_, _>>()?;
        anyhow::ensure!(v.len() == 65, "bad row");
        let mut px = [0f32; 64];
        for (p, q) in px.iter_mut().zip(&v[..64]) {
            *p = q / 16.0;
        }
        xs.push(px);
        ys.push(v[64] as usize);
    }
    Ok((xs, ys))
}

fn load_split() -> Result<(Vec<usize>, Vec<usize>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/voxprobe-kmex/tests/data/digits_split.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let get = |k: &str| -> Vec<usize> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as usize)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok((get("train"), get("test")))
}

fn batch(xs: &[[f32; 64]], idx: &[usize], dev: &Device) -> Result<Tensor> {
    let flat: Vec<f32> = idx.iter().flat_map(|&i| xs[i]).collect();
    Ok(Tensor::from_vec(flat, (idx.len(), 1, 8, 8), dev)?)
}

fn maps_of(t: &Tensor) -> Result<Vec<FeatureMap>> {
    let (n, c, h, w) = t.dims4()?;
    (0..n)
        .map(|i| {
            let v = t.i(i)?.flatten_all()?.to_vec1::<f32>()?;
            Ok(FeatureMap::from_channels_first(&v, c, h, w)?)
        })
        .collect()
}

fn stack(rows: &[ndarray::Array1<f64>]) -> Result<Array2<f64>> {
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    Ok(ndarray::stack(Axis(0), &views)?)
}

fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len().max(1) as f64
}

/// Probability view of the nearest-prototype classifier used by NAOPC: softmax over classes of
/// −min_h ‖z̄ − μ_{c,h}‖² / τ (the KMEx log-ratio scores are nearly flat at these distances); τ is
/// the mean squared distance of training points to their nearest prototype.
fn class_probs(head: &KmexHead, z: &Array2<f64>, tau: f64) -> Result<Array2<f64>> {
    let d = head.sq_distances(z.view())?;
    let k = head.n_classes();
    let mut out = Array2::zeros((z.nrows(), k));
    for (r, mut o) in d.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        let mut best = vec![f64::INFINITY; k];
        for (j, &v) in r.iter().enumerate() {
            let c = head.prototype_classes()[j];
            best[c] = best[c].min(v);
        }
        let m = best.iter().copied().fold(f64::INFINITY, f64::min);
        let e: Vec<f64> = best.iter().map(|b| (-(b - m) / tau).exp()).collect();
        let s: f64 = e.iter().sum();
        for (c, v) in e.iter().enumerate() {
            o[c] = v / s;
        }
    }
    Ok(out)
}

fn progress(len: u64, msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg);
    pb
}

fn colour(v: f64, lim: f64) -> RGBColor {
    // Diverging blue-white-red for evidence (red: supports the prediction).
    let t = (v / lim.max(1e-12)).clamp(-1.0, 1.0);
    if t >= 0.0 {
        RGBColor(255, (255.0 * (1.0 - t)) as u8, (255.0 * (1.0 - t)) as u8)
    } else {
        RGBColor((255.0 * (1.0 + t)) as u8, (255.0 * (1.0 + t)) as u8, 255)
    }
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(228, 26, 28),
    RGBColor(55, 126, 184),
    RGBColor(77, 175, 74),
    RGBColor(152, 78, 163),
    RGBColor(255, 127, 0),
    RGBColor(255, 255, 51),
    RGBColor(166, 86, 40),
    RGBColor(247, 129, 191),
];

/// Draws rows of tiles; each tile is an 8×8 grid of colours.
fn draw_tiles(path: &Path, tiles: &[Vec<[RGBColor; 64]>]) -> Result<()> {
    const CELL: i32 = 8;
    const PAD: i32 = 4;
    let cols = tiles.iter().map(Vec::len).max().unwrap_or(1) as i32;
    let rows = tiles.len() as i32;
    let (w, h) = (
        (cols * (8 * CELL + PAD) + PAD) as u32,
        (rows * (8 * CELL + PAD) + PAD) as u32,
    );
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    for (r, row) in tiles.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            let ox = PAD + c as i32 * (8 * CELL + PAD);
            let oy = PAD + r as i32 * (8 * CELL + PAD);
            for (p, col) in tile.iter().enumerate() {
                let (y, x) = ((p / 8) as i32, (p % 8) as i32);
                root.draw(&Rectangle::new(
                    [
                        (ox + x * CELL, oy + y * CELL),
                        (ox + x * CELL + CELL, oy + y * CELL + CELL),
                    ],
                    col.filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

fn grey(px: &[f32; 64]) -> [RGBColor; 64] {
    let mut out = [WHITE; 64];
    for (o, &v) in out.iter_mut().zip(px) {
        let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
        *o = RGBColor(g, g, g);
    }
    out
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dev = Device::Cpu;
    std::fs::create_dir_all(&args.out)?;
    let (xs, ys) = load_digits()?;
    let (train, test) = load_split()?;
    let ytr: Vec<usize> = train.iter().map(|&i| ys[i]).collect();
    let yte: Vec<usize> = test.iter().map(|&i| ys[i]).collect();

    // 1. Train the CNN.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let net = Cnn::new(vb)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    // candle's CPU RNG cannot be seeded: re-draw every weight from our seeded RNG (uniform
    // ±1/√fan_in, candle's default scale; biases 0) so runs are reproducible.
    {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned var map"))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            let dims = var.dims().to_vec();
            let n: usize = dims.iter().product();
            let vals: Vec<f32> = if dims.len() == 1 {
                vec![0.0; n]
            } else {
                let fan_in: usize = dims[1..].iter().product();
                let b = 1.0 / (fan_in as f32).sqrt();
                (0..n)
                    .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * b)
                    .collect()
            };
            var.set(&Tensor::from_vec(vals, dims, &dev)?)?;
        }
    }
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: 3e-3,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let ytr_t = Tensor::from_vec(
        ytr.iter().map(|&y| y as u32).collect::<Vec<_>>(),
        ytr.len(),
        &dev,
    )?;
    let pb = progress(args.epochs as u64, "training CNN");
    let mut order: Vec<usize> = (0..train.len()).collect();
    for _ in 0..args.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(64) {
            let idx: Vec<usize> = chunk.iter().map(|&j| train[j]).collect();
            let x = batch(&xs, &idx, &dev)?;
            let tgt = ytr_t.index_select(
                &Tensor::from_vec(
                    chunk.iter().map(|&j| j as u32).collect::<Vec<_>>(),
                    chunk.len(),
                    &dev,
                )?,
                0,
            )?;
            let loss = candle_nn::loss::cross_entropy(&net.forward(&x)?.logits, &tgt)?;
            opt.backward_step(&loss)?;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();

    // 2. Activations of train and test sets.
    let acts_tr = net.forward(&batch(&xs, &train, &dev)?)?;
    let acts_te = net.forward(&batch(&xs, &test, &dev)?)?;
    let lin_pred: Vec<usize> = acts_te
        .logits
        .argmax(D::Minus1)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|v| v as usize)
        .collect();
    let acc_linear = accuracy(&lin_pred, &yte);

    let (b2_tr, b3_tr) = (maps_of(&acts_tr.b2)?, maps_of(&acts_tr.b3)?);
    let (b2_te, b3_te) = (maps_of(&acts_te.b2)?, maps_of(&acts_te.b3)?);
    // Last block (B3 here; "B4" in ResNet terms): pooled vector = the linear head's input.
    let z3_tr = stack(&b3_tr.iter().map(FeatureMap::pooled).collect::<Vec<_>>())?;
    let z3_te = stack(&b3_te.iter().map(FeatureMap::pooled).collect::<Vec<_>>())?;
    let hp = KmexHeadParams::new()
        .n_prototypes(args.prototypes)
        .seed(args.seed);
    let head3 = hp.fit(z3_tr.view(), &ytr)?;
    let acc_kmex_last = accuracy(&head3.predict(z3_te.view())?, &yte);

    // Multi-block (B23): B3 brought to the B2 grid (4×4) by nearest upsampling, per-block balancing.
    let pairs_tr: Vec<Vec<FeatureMap>> = b2_tr
        .iter()
        .zip(&b3_tr)
        .map(|(a, b)| vec![a.clone(), b.clone()])
        .collect();
    let scales = block_scales(&pairs_tr)?;
    let b23_tr: Vec<FeatureMap> = pairs_tr
        .iter()
        .map(|p| combine_blocks(p, Some(&scales)))
        .collect::<Result<_, _>>()?;
    let b23_te: Vec<FeatureMap> = b2_te
        .iter()
        .zip(&b3_te)
        .map(|(a, b)| combine_blocks(&[a.clone(), b.clone()], Some(&scales)))
        .collect::<Result<_, _>>()?;
    let z23_tr = stack(&b23_tr.iter().map(FeatureMap::pooled).collect::<Vec<_>>())?;
    let z23_te = stack(&b23_te.iter().map(FeatureMap::pooled).collect::<Vec<_>>())?;
    let head23 = hp.fit(z23_tr.view(), &ytr)?;
    let pred23 = head23.predict(z23_te.view())?;
    let acc_kmex_multi = accuracy(&pred23, &yte);

    // 3. Evidence maps (B23, 4×4) and their additivity; concept maps.
    let mut max_additivity_err = 0.0f64;
    let evidences: Vec<_> = b23_te
        .iter()
        .map(|m| evidence_map(&head23, m))
        .collect::<Result<_, _>>()?;
    for ev in &evidences {
        let mean = ev.map.iter().sum::<f64>() / ev.map.len() as f64;
        max_additivity_err = max_additivity_err.max((mean - ev.decision.margin).abs());
    }
    let cparams = ConceptParams::default()
        .n_concepts(args.concepts)
        .seed(args.seed);
    let concepts = ConceptModel::fit(&cparams, &b23_tr, &ytr)?;
    let mut concept_share = vec![0.0; args.concepts];
    for (m, ev) in b23_te.iter().zip(&evidences) {
        let labels = concepts.concept_map(m, ev.decision.class)?;
        let c = concept_contributions(&labels, &ev.map, args.concepts)?;
        for (a, b) in concept_share.iter_mut().zip(c) {
            *a += b / ev.decision.margin.max(1e-12) / test.len() as f64;
        }
    }

    // 4. Pictures.
    let protos: Vec<Vec<[RGBColor; 64]>> = (0..10)
        .map(|c| {
            (0..args.prototypes)
                .map(|h| {
                    grey(&xs[train[head3.nearest_training_examples()[c * args.prototypes + h]]])
                })
                .collect()
        })
        .collect();
    draw_tiles(&args.out.join("prototypes.png"), &protos)?;
    let show: Vec<usize> = (0..8).collect();
    let mut ev_tiles = Vec::new();
    for &t in &show {
        let ev = &evidences[t];
        let up = upsample_grid(&ev.map, ev.height, ev.width, 2)?;
        let lim = up.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let mut heat = [WHITE; 64];
        for (o, v) in heat.iter_mut().zip(&up) {
            *o = colour(*v, lim);
        }
        let labels = upsample_grid(
            &concepts.concept_map(&b23_te[t], ev.decision.class)?,
            4,
            4,
            2,
        )?;
        let mut seg = [WHITE; 64];
        for (o, (l, px)) in seg.iter_mut().zip(labels.iter().zip(&xs[test[t]])) {
            let c = PALETTE[l % PALETTE.len()];
            let a = 0.35 + 0.65 * f64::from(1.0 - px.clamp(0.0, 1.0));
            let mix = |ch: u8| (f64::from(ch) * (1.0 - a) + 255.0 * a * 0.2) as u8;
            *o = RGBColor(mix(c.0), mix(c.1), mix(c.2));
        }
        ev_tiles.push(vec![grey(&xs[test[t]]), heat, seg]);
    }
    draw_tiles(&args.out.join("evidence_concepts.png"), &ev_tiles)?;

    // 5. NAOPC of evidence maps vs occlusion and random: 16 features = 2×2 patches = B23 cells.
    let tau = {
        let d = head23.sq_distances(z23_tr.view())?;
        d.axis_iter(Axis(0))
            .map(|r| r.iter().copied().fold(f64::INFINITY, f64::min))
            .sum::<f64>()
            / z23_tr.nrows() as f64
    };
    let f_te = class_probs(&head23, &z23_te, tau)?;
    let mut sums = [[0.0f64; 4]; 3]; // per method: comp, suff, naopc comp, naopc suff
    let (mut n_eval, mut lo_sum, mut hi_sum) = (0usize, 0.0, 0.0);
    let pb = progress(args.naopc_images as u64, "NAOPC (exact bounds)");
    for t in 0..test.len() {
        if n_eval >= args.naopc_images {
            break;
        }
        let target = pred23[t];
        if f_te[[t, target]] <= 0.5 {
            continue;
        }
        let x0 = xs[test[t]];
        let mut model = |masks: &[u64]| -> Vec<f64> {
            let run = || -> Result<Vec<f64>> {
                let mut out = Vec::with_capacity(masks.len());
                for ch in masks.chunks(8192) {
                    let flat: Vec<f32> = ch
                        .iter()
                        .flat_map(|&m| {
                            let mut x = x0;
                            for (p, v) in x.iter_mut().enumerate() {
                                let cell = (p / 8 / 2) * 4 + (p % 8) / 2;
                                if m >> cell & 1 == 1 {
                                    *v = 0.0; // removal baseline: 0 (background)
                                }
                            }
                            x
                        })
                        .collect();
                    let a = net.forward(&Tensor::from_vec(flat, (ch.len(), 1, 8, 8), &dev)?)?;
                    // Pooled B23 = [s2·mean B2, s3·mean B3]: nearest upsampling keeps the mean.
                    let p2 = (a.b2.mean(D::Minus1)?.mean(D::Minus1)? * scales[0])?;
                    let p3 = (a.b3.mean(D::Minus1)?.mean(D::Minus1)? * scales[1])?;
                    let z = Tensor::cat(&[p2, p3], 1)?.to_dtype(DType::F64)?;
                    let (r, c) = z.dims2()?;
                    let z = Array2::from_shape_vec((r, c), z.flatten_all()?.to_vec1::<f64>()?)?;
                    out.extend(
                        class_probs(&head23, &z, tau)?
                            .column(target)
                            .iter()
                            .copied(),
                    );
                }
                Ok(out)
            };
            run().unwrap_or_default()
        };
        let evid = evidences[t].map.clone();
        let base = model(&[0])[0];
        let occl: Vec<f64> = model(&(0..16).map(|i| 1u64 << i).collect::<Vec<_>>())
            .iter()
            .map(|v| base - v)
            .collect();
        let rand_attr: Vec<f64> = (0..16).map(|_| rng.random::<f64>()).collect();
        // Bounds once per image (2^16 masked passes), then each attribution's two orders.
        let b = exact_bounds(16, &mut model)?;
        lo_sum += b.lower;
        hi_sum += b.upper;
        for (k, attr) in [evid, occl, rand_attr].iter().enumerate() {
            let comp = aopc(16, &descending_order(attr), &mut model)?;
            let suff = aopc(16, &ascending_order(attr), &mut model)?;
            sums[k][0] += comp;
            sums[k][1] += suff;
            sums[k][2] += naopc(comp, b);
            sums[k][3] += naopc(suff, b);
        }
        n_eval += 1;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let nn = n_eval.max(1) as f64;
    let method = |k: usize| {
        serde_json::json!({
            "comprehensiveness": sums[k][0] / nn, "sufficiency": sums[k][1] / nn,
            "naopc_comprehensiveness": sums[k][2] / nn, "naopc_sufficiency": sums[k][3] / nn,
        })
    };
    let result = serde_json::json!({
        "acc_linear": acc_linear,
        "acc_kmex_last_block": acc_kmex_last,
        "acc_kmex_multi_block": acc_kmex_multi,
        "prototypes_per_class": args.prototypes,
        "prototype_usage_last_block": head3.usage(),
        "prototype_diversity_last_block": head3.diversity(),
        "evidence_additivity_max_abs_err": max_additivity_err,
        "concept_share_of_margin": concept_share,
        "naopc": {
            "n_images": n_eval, "features": "16 patches of 2x2 = B23 cells", "baseline": 0.0,
            "mean_lower": lo_sum / nn, "mean_upper": hi_sum / nn,
            "evidence": method(0), "occlusion": method(1), "random": method(2),
        },
        "images": ["prototypes.png", "evidence_concepts.png"],
    });
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    println!("{result}");
    Ok(())
}
