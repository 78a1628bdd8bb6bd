//! The `speech_ood` pipeline as a function, so the integration tests run exactly what the
//! example runs (with fast settings).

use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;
use voxprobe::ood::{metrics, stats, CalibrationParams, GmmParams, PValueConvention};

use super::common::{self, Utt};

/// The four flite voices: the in-distribution set.
pub const ID_GROUPS: [&str; 4] = ["flite-awb", "flite-kal16", "flite-rms", "flite-slt"];
/// Statistics reported, each oriented so that larger means "more out-of-distribution".
pub const STATISTICS: [&str; 4] = ["neg_log_prob", "typicality", "score", "fisher"];

/// Settings (the example's command line).
#[derive(Debug, Clone)]
pub struct Config {
    /// `examples/data` (holds `accent-audit/` and `ood-speech/`).
    pub data: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// `fbank`, `mfcc` or `ssl:<model>:<layer>`.
    pub encoder: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Sentences `u001..` used for fitting the GMM.
    pub train_sentences: usize,
    /// Next sentences: the calibration (validation) set of the tests.
    pub val_sentences: usize,
    /// Remaining sentences, up to this many: held-out in-distribution test set.
    pub test_sentences: usize,
    /// GMM components.
    pub components: usize,
    /// Benjamini–Hochberg level.
    pub alpha: f64,
    /// Seed of the GMM's k-means initialisation.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("examples/data"),
            out: PathBuf::from("target/speech_ood"),
            encoder: "mfcc".into(),
            device: "cpu".into(),
            train_sentences: 16,
            val_sentences: 7,
            test_sentences: 7,
            components: 4,
            alpha: 0.05,
            seed: 0,
        }
    }
}

/// One scored test utterance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scored {
    /// Utterance id.
    pub id: String,
    /// Group (voice, language or noise colour).
    pub group: String,
    /// True for the held-out flite utterances.
    pub in_distribution: bool,
    /// Mean log-likelihood under the GMM.
    pub log_prob: f64,
    /// Typicality statistic.
    pub typicality: f64,
    /// Score statistic.
    pub score: f64,
    /// Fisher's X² of the two empirical p-values.
    pub fisher: f64,
    /// χ²₄ p-value of `fisher`.
    pub p_fisher: f64,
    /// Flagged by Benjamini–Hochberg at `alpha` over all test utterances.
    pub flagged: bool,
}

impl Scored {
    fn stat(&self, name: &str) -> f64 {
        match name {
            "neg_log_prob" => -self.log_prob,
            "typicality" => self.typicality,
            "score" => self.score,
            _ => self.fisher,
        }
    }
}

/// What the run found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Encoder name.
    pub encoder: String,
    /// Utterance-embedding dimension.
    pub dim: usize,
    /// Sizes of the train / calibration / held-out-ID / OOD sets.
    pub n_train: usize,
    /// Calibration set size.
    pub n_val: usize,
    /// Held-out in-distribution utterances.
    pub n_test_id: usize,
    /// Out-of-distribution utterances.
    pub n_ood: usize,
    /// AUROC of each statistic, all OOD groups together against held-out ID.
    pub auroc: Vec<(String, f64)>,
    /// AUROC of the Fisher statistic per OOD group.
    pub auroc_fisher_by_group: Vec<(String, f64)>,
    /// BH-flagged count per group (ID group "flite (held out)" first).
    pub flagged_by_group: Vec<(String, usize, usize)>,
    /// Share of flagged utterances that are in-distribution (empirical FDR).
    pub empirical_fdr: f64,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Scored test utterances.
    #[serde(skip)]
    pub scored: Vec<Scored>,
}

/// Runs the whole pipeline.
pub fn run(cfg: &Config) -> anyhow::Result<Summary> {
    let device = common::device(&cfg.device)?;
    let enc = common::encoder(&cfg.encoder, &device)?;
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;

    let accents = common::accent_audit(&cfg.data.join("accent-audit"))?;
    let extra = common::listed(&cfg.data.join("ood-speech"))?;
    let (t, v) = (cfg.train_sentences, cfg.val_sentences);
    let last = t + v + cfg.test_sentences;
    let is_id = |u: &Utt| ID_GROUPS.contains(&u.group.as_str());
    let in_range = |u: &Utt, lo: usize, hi: usize| (lo..=hi).contains(&u.sentence_no);
    let train: Vec<Utt> = accents
        .iter()
        .filter(|u| is_id(u) && in_range(u, 1, t))
        .cloned()
        .collect();
    let val: Vec<Utt> = accents
        .iter()
        .filter(|u| is_id(u) && in_range(u, t + 1, t + v))
        .cloned()
        .collect();
    let test_id: Vec<Utt> = accents
        .iter()
        .filter(|u| is_id(u) && in_range(u, t + v + 1, last))
        .cloned()
        .collect();
    // OOD: the espeak English accents (all sentences up to `last`), other languages, noise.
    let mut ood: Vec<Utt> = accents
        .iter()
        .filter(|u| !is_id(u) && in_range(u, 1, last))
        .cloned()
        .collect();
    ood.extend(extra);
    anyhow::ensure!(
        !train.is_empty() && !val.is_empty() && !test_id.is_empty() && !ood.is_empty(),
        "empty split: check --data and the sentence counts"
    );

    let embed = |set: &[Utt], what: &str| -> anyhow::Result<Vec<Vec<f32>>> {
        let (_, feats) = common::encode_all(&enc, set, what)?;
        Ok(feats.iter().map(common::mean_std_pool).collect())
    };
    let e_train = embed(&train, "train")?;
    let e_val = embed(&val, "calibration")?;
    let e_test = embed(&test_id, "held-out ID")?;
    let e_ood = embed(&ood, "OOD")?;
    let (mean, std) = common::column_stats(&e_train);
    let z = |rows: &[Vec<f32>]| common::zscore(rows, &mean, &std);
    let (x_train, x_val, x_test, x_ood) = (z(&e_train), z(&e_val), z(&e_test), z(&e_ood));

    let gmm = GmmParams::new(cfg.components)
        .seed(cfg.seed)
        .fit(x_train.view())?;
    let cal = CalibrationParams::default()
        .p_value(PValueConvention::Conformal)
        .fit(&gmm, x_train.view(), x_val.view())?;
    let s_test = cal.statistics(&gmm, x_test.view())?;
    let s_ood = cal.statistics(&gmm, x_ood.view())?;

    let mut scored: Vec<Scored> = test_id
        .iter()
        .zip(&s_test)
        .map(|(u, s)| (u, s, true))
        .chain(ood.iter().zip(&s_ood).map(|(u, s)| (u, s, false)))
        .map(|(u, s, id)| Scored {
            id: u.id.clone(),
            group: u.group.clone(),
            in_distribution: id,
            log_prob: s.log_prob,
            typicality: s.typicality,
            score: s.score,
            fisher: s.fisher,
            p_fisher: s.p_fisher,
            flagged: false,
        })
        .collect();
    let ps: Vec<f64> = scored.iter().map(|s| s.p_fisher).collect();
    let flags = stats::benjamini_hochberg(&ps, cfg.alpha)?;
    scored
        .iter_mut()
        .zip(flags)
        .for_each(|(s, f)| s.flagged = f);

    let split = |name: &str, pred: &dyn Fn(&Scored) -> bool| -> (Vec<f64>, Vec<f64>) {
        let inl = scored
            .iter()
            .filter(|s| s.in_distribution)
            .map(|s| s.stat(name))
            .collect();
        let out = scored
            .iter()
            .filter(|s| !s.in_distribution && pred(s))
            .map(|s| s.stat(name))
            .collect();
        (inl, out)
    };
    let mut auroc = Vec::new();
    let mut rocs = Vec::new();
    for name in STATISTICS {
        let (inl, out) = split(name, &|_| true);
        auroc.push((name.to_string(), metrics::auroc(&inl, &out)?));
        rocs.push((name.to_string(), metrics::roc_curve(&inl, &out)?));
    }
    let mut groups: Vec<String> = Vec::new();
    for u in &ood {
        if !groups.contains(&u.group) {
            groups.push(u.group.clone());
        }
    }
    let mut auroc_fisher_by_group = Vec::new();
    for g in &groups {
        let (inl, out) = split("fisher", &|s| &s.group == g);
        auroc_fisher_by_group.push((g.clone(), metrics::auroc(&inl, &out)?));
    }
    let mut flagged_by_group = Vec::new();
    let count = |pred: &dyn Fn(&Scored) -> bool| {
        let n = scored.iter().filter(|s| pred(s)).count();
        let f = scored.iter().filter(|s| pred(s) && s.flagged).count();
        (f, n)
    };
    let (f, n) = count(&|s| s.in_distribution);
    flagged_by_group.push(("flite (held out)".to_string(), f, n));
    for g in &groups {
        let (f, n) = count(&|s| !s.in_distribution && &s.group == g);
        flagged_by_group.push((g.clone(), f, n));
    }
    let n_flagged = scored.iter().filter(|s| s.flagged).count();
    let empirical_fdr = if n_flagged == 0 {
        0.0
    } else {
        f as f64 / n_flagged as f64
    };

    let mut files = Vec::new();
    let csv = cfg.out.join("scores.csv");
    let mut text = String::from(
        "id,group,in_distribution,log_prob,typicality,score,fisher,p_fisher,flagged\n",
    );
    for s in &scored {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            s.id,
            s.group,
            s.in_distribution,
            s.log_prob,
            s.typicality,
            s.score,
            s.fisher,
            s.p_fisher,
            s.flagged
        ));
    }
    std::fs::write(&csv, text)?;
    files.push(csv);
    files.extend(plot_roc(&cfg.out.join("roc"), &rocs, &auroc, &enc.name())?);
    files.extend(plot_p_values(
        &cfg.out.join("p_fisher"),
        &scored,
        &groups,
        cfg.alpha,
    )?);

    let summary = Summary {
        encoder: enc.name(),
        dim: mean.len(),
        n_train: train.len(),
        n_val: val.len(),
        n_test_id: test_id.len(),
        n_ood: ood.len(),
        auroc,
        auroc_fisher_by_group,
        flagged_by_group,
        empirical_fdr,
        files,
        scored,
    };
    let json = cfg.out.join("summary.json");
    std::fs::write(&json, serde_json::to_string_pretty(&summary)?)?;
    Ok(summary)
}

fn plot_roc(
    stem: &Path,
    rocs: &[(String, Vec<(f64, f64)>)],
    auroc: &[(String, f64)],
    enc: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    common::plot_svg_png(stem, (560, 520), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("speech OOD: flite voices = ID ({enc})"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..1f64, 0f64..1.0001f64)?;
        chart.configure_mesh().x_desc("FPR").y_desc("TPR").draw()?;
        chart.draw_series(LineSeries::new(
            vec![(0.0, 0.0), (1.0, 1.0)],
            BLACK.mix(0.3),
        ))?;
        for (i, ((name, pts), (_, a))) in rocs.iter().zip(auroc).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(format!("{name} (AUROC {a:.3})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// −log10 Fisher p-value of every test utterance by group, with the BH cut.
fn plot_p_values(
    stem: &Path,
    scored: &[Scored],
    groups: &[String],
    alpha: f64,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut names = vec!["flite (held out)".to_string()];
    names.extend(groups.iter().map(|g| g.replace("gb-scotland", "scot")));
    let row = |s: &Scored| -> usize {
        if s.in_distribution {
            0
        } else {
            1 + groups.iter().position(|g| g == &s.group).unwrap_or(0)
        }
    };
    let ymax = scored
        .iter()
        .map(|s| -s.p_fisher.max(1e-300).log10())
        .fold(2.0, f64::max)
        * 1.05;
    // The BH cut as a p-value: the largest flagged p (nothing flagged: alpha / m).
    let cut = scored
        .iter()
        .filter(|s| s.flagged)
        .map(|s| s.p_fisher)
        .fold(alpha / scored.len().max(1) as f64, f64::max);
    common::plot_svg_png(stem, (980, 420), |root| {
        root.fill(&WHITE)?;
        let n = names.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Fisher p-value per test utterance (red: BH-flagged, α = 0.05)",
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)?;
        let labels = names.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_desc("-log10 p_fisher")
            .draw()?;
        chart.draw_series(scored.iter().enumerate().map(|(k, s)| {
            let jitter = ((k * 37) % 17) as f64 / 17.0 * 0.5 - 0.25;
            let color = if s.flagged {
                RED.mix(0.8)
            } else {
                BLUE.mix(0.6)
            };
            Circle::new(
                (row(s) as f64 + jitter, -s.p_fisher.max(1e-300).log10()),
                3,
                color.filled(),
            )
        }))?;
        let y = -cut.log10();
        chart.draw_series(LineSeries::new(
            vec![(-0.5, y), (n as f64 - 0.5, y)],
            BLACK.mix(0.5),
        ))?;
        root.present()?;
        Ok(())
    })
}
