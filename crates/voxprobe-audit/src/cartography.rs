//! Data cartography (Swayamdipta et al., EMNLP 2020; allenai/cartography
//! `train_dy_filtering.py`) adapted to ASR (spec §5, inferred).
//!
//! Each utterance i has per-"epoch" confidences q_{i,e} ∈ [0, 1], where an epoch is a checkpoint
//! of a fine-tuning run or (this crate's default use) one system of a panel, in which case
//! variability measures inter-model disagreement. Confidence analogues: `1 − min(1, error rate)`
//! for WER / MER / EmbER ([`confidence_from_error`]) and the cosine `1 − SemDist_raw`
//! ([`confidence_from_semdist`]); correctness is a threshold event (WER = 0, SemDist ≤ δ, …).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::html::esc;
use crate::{Error, Result};

/// Confidence analogue of an error rate: `1 − min(1, max(0, e))`.
pub fn confidence_from_error(e: f64) -> f64 {
    1.0 - e.clamp(0.0, 1.0)
}

/// Confidence analogue of raw SemDist: the cosine `1 − d`, clipped to [0, 1].
pub fn confidence_from_semdist(raw: f64) -> f64 {
    (1.0 - raw).clamp(0.0, 1.0)
}

/// Data-map region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// High confidence, low variability.
    Easy,
    /// High variability (systems/checkpoints disagree).
    Ambiguous,
    /// Low confidence, low variability.
    Hard,
}

impl Region {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Region::Easy => "easy",
            Region::Ambiguous => "ambiguous",
            Region::Hard => "hard",
        }
    }
}

/// Cartography options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CartographyOptions {
    /// Variability at or above which a point is [`Region::Ambiguous`]. Default 0.2 (a chosen
    /// threshold, not from the paper: with 3 systems a single dissenting system among perfect
    /// ones gives σ ≈ 0.47 · its error).
    pub ambiguous_variability: f64,
    /// Confidence at or above which a non-ambiguous point is [`Region::Easy`]. Default 0.5.
    pub easy_confidence: f64,
    /// Use allenai's corrected variability `sqrt(var + var²/(E−1))`. Default false (population σ).
    pub corrected_variability: bool,
    /// Use only the first k epochs (allenai's burn-out). Default: all.
    pub burn_out: Option<usize>,
}

impl Default for CartographyOptions {
    fn default() -> Self {
        Self {
            ambiguous_variability: 0.2,
            easy_confidence: 0.5,
            corrected_variability: false,
            burn_out: None,
        }
    }
}

impl CartographyOptions {
    /// Sets the ambiguity threshold on variability.
    pub fn ambiguous_variability(mut self, v: f64) -> Self {
        self.ambiguous_variability = v;
        self
    }
    /// Sets the easy threshold on confidence.
    pub fn easy_confidence(mut self, c: f64) -> Self {
        self.easy_confidence = c;
        self
    }
    /// Chooses the corrected variability.
    pub fn corrected_variability(mut self, on: bool) -> Self {
        self.corrected_variability = on;
        self
    }
    /// Uses only the first `k` epochs.
    pub fn burn_out(mut self, k: usize) -> Self {
        self.burn_out = Some(k);
        self
    }
}

/// Training-dynamics statistics of one utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapPoint {
    /// Mean confidence μ.
    pub confidence: f64,
    /// Population standard deviation σ of the confidences (or the corrected one).
    pub variability: f64,
    /// Fraction of epochs judged correct.
    pub correctness: f64,
    /// Correct → incorrect flips in epoch order (meaningful for checkpoints); `None` if never
    /// correct (allenai uses a large sentinel).
    pub forgetfulness: Option<usize>,
    /// μ(1 − μ).
    pub threshold_closeness: f64,
    /// Region under the options' thresholds.
    pub region: Region,
}

/// Data-map statistics from `confidence[utterance][epoch]` and `correct[utterance][epoch]`.
///
/// # Errors
/// [`Error::InvalidInput`] for ragged inputs, no epochs, or confidences outside [0, 1]/NaN.
pub fn cartography(
    confidence: &[Vec<f64>],
    correct: &[Vec<bool>],
    opts: &CartographyOptions,
) -> Result<Vec<MapPoint>> {
    if confidence.len() != correct.len() {
        return Err(Error::InvalidInput {
            what: "cartography",
            reason: format!(
                "{} confidence rows but {} correctness rows",
                confidence.len(),
                correct.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(confidence.len());
    for (i, (q, c)) in confidence.iter().zip(correct).enumerate() {
        let e = opts.burn_out.unwrap_or(q.len()).min(q.len());
        if e == 0 || q.len() != c.len() {
            return Err(Error::InvalidInput {
                what: "cartography",
                reason: format!(
                    "utterance {i}: {} confidences, {} correctness values (need equal, ≥ 1)",
                    q.len(),
                    c.len()
                ),
            });
        }
        let (q, c) = (&q[..e], &c[..e]);
        if let Some(x) = q.iter().find(|x| !(0.0..=1.0).contains(*x)) {
            return Err(Error::InvalidInput {
                what: "cartography",
                reason: format!("utterance {i}: confidence {x} outside [0, 1]"),
            });
        }
        let mu = q.iter().sum::<f64>() / e as f64;
        let var = q.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / e as f64;
        let sigma = if opts.corrected_variability && e > 1 {
            (var + var * var / (e - 1) as f64).sqrt()
        } else {
            var.sqrt()
        };
        let n_correct = c.iter().filter(|&&b| b).count();
        let forgetfulness = (n_correct > 0).then(|| c.windows(2).filter(|w| w[0] && !w[1]).count());
        let region = if sigma >= opts.ambiguous_variability {
            Region::Ambiguous
        } else if mu >= opts.easy_confidence {
            Region::Easy
        } else {
            Region::Hard
        };
        out.push(MapPoint {
            confidence: mu,
            variability: sigma,
            correctness: n_correct as f64 / e as f64,
            forgetfulness,
            threshold_closeness: mu * (1.0 - mu),
            region,
        });
    }
    Ok(out)
}

/// Colour scale for [`data_map_svg`]: viridis-like ramp from 5 anchors, `t` ∈ [0, 1].
pub fn ramp(t: f64) -> (u8, u8, u8) {
    const A: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let k = (t.floor() as usize).min(3);
    let f = t - k as f64;
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    (
        lerp(A[k].0, A[k + 1].0),
        lerp(A[k].1, A[k + 1].1),
        lerp(A[k].2, A[k + 1].2),
    )
}

/// Self-contained SVG data map: variability (x, 0..0.5) × confidence (y, 0..1), region shading
/// from `opts`, points coloured by `colour` (any values, min–max scaled onto [`ramp`]) with
/// `colour_label` on the legend; `titles` become hover tooltips.
pub fn data_map_svg(
    points: &[MapPoint],
    colour: &[f64],
    colour_label: &str,
    titles: &[String],
    opts: &CartographyOptions,
    title: &str,
) -> String {
    let (w, h, l, r, t, b) = (520.0, 420.0, 56.0, 90.0, 30.0, 46.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let xmax = 0.5f64.max(
        points
            .iter()
            .map(|p| p.variability)
            .fold(0.0, f64::max)
            .min(1.0),
    );
    let sx = |v: f64| l + v / xmax * pw;
    let sy = |c: f64| t + (1.0 - c) * ph;
    let (lo, hi) = colour
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        l + pw / 2.0,
        esc(title)
    );
    // Regions: ambiguous = right of the variability threshold; easy / hard split by confidence.
    let xa = sx(opts.ambiguous_variability.min(xmax));
    let ye = sy(opts.easy_confidence);
    let _ = write!(
        s,
        "<rect x=\"{l}\" y=\"{t}\" width=\"{}\" height=\"{}\" fill=\"#e6f4ea\"/>\
<rect x=\"{l}\" y=\"{ye}\" width=\"{}\" height=\"{}\" fill=\"#fde8e8\"/>\
<rect x=\"{xa}\" y=\"{t}\" width=\"{}\" height=\"{ph}\" fill=\"#fff4d6\"/>\
<text x=\"{}\" y=\"{}\" fill=\"#2a7a2a\">easy</text><text x=\"{}\" y=\"{}\" fill=\"#b03030\">hard</text>\
<text x=\"{}\" y=\"{}\" fill=\"#9a6a00\">ambiguous</text>",
        xa - l,
        ye - t,
        xa - l,
        t + ph - ye,
        l + pw - xa,
        l + 4.0,
        t + 12.0,
        l + 4.0,
        t + ph - 4.0,
        xa + 4.0,
        t + 12.0
    );
    for k in 0..=5 {
        let v = xmax * k as f64 / 5.0;
        let c = k as f64 / 5.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{v:.2}</text>\
<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{c:.1}</text>",
            sx(v),
            t + ph + 14.0,
            l - 4.0,
            sy(c) + 4.0
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{l}\" y=\"{t}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#666\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">variability (σ across systems)</text>\
<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">confidence (mean)</text>",
        l + pw / 2.0,
        h - 8.0,
        t + ph / 2.0
    );
    for (k, p) in points.iter().enumerate() {
        let v = colour.get(k).copied().unwrap_or(f64::NAN);
        let (cr, cg, cb) = ramp((v - lo) / span);
        let tip = titles.get(k).map(|t| esc(t)).unwrap_or_default();
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.2\" fill=\"rgb({cr},{cg},{cb})\" fill-opacity=\"0.8\" stroke=\"#333\" stroke-width=\"0.3\"><title>{tip}</title></circle>",
            sx(p.variability),
            sy(p.confidence)
        );
    }
    // Legend: colour bar.
    let lx = l + pw + 18.0;
    for k in 0..50 {
        let (cr, cg, cb) = ramp(1.0 - k as f64 / 49.0);
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{:.1}\" width=\"14\" height=\"{:.2}\" fill=\"rgb({cr},{cg},{cb})\"/>",
            t + k as f64 * ph / 50.0,
            ph / 50.0 + 0.5
        );
    }
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\">{hi:.2}</text><text x=\"{}\" y=\"{}\">{lo:.2}</text>\
<text x=\"{}\" y=\"{}\">{}</text></svg>",
        lx + 17.0,
        t + 8.0,
        lx + 17.0,
        t + ph,
        lx - 6.0,
        t + ph + 30.0,
        esc(colour_label)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_hand_values() {
        // q = (1, 1, 0): μ = 2/3, σ = sqrt(2/9), correct twice, one 1→0 flip.
        let pts = cartography(
            &[
                vec![1.0, 1.0, 0.0],
                vec![0.9, 0.9, 0.9],
                vec![0.1, 0.2, 0.0],
            ],
            &[
                vec![true, true, false],
                vec![false, false, false],
                vec![false, false, false],
            ],
            &CartographyOptions::default(),
        )
        .unwrap();
        assert!((pts[0].confidence - 2.0 / 3.0).abs() < 1e-12);
        assert!((pts[0].variability - (2.0f64 / 9.0).sqrt()).abs() < 1e-12);
        assert!((pts[0].correctness - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(pts[0].forgetfulness, Some(1));
        assert_eq!(pts[0].region, Region::Ambiguous);
        assert_eq!(pts[1].region, Region::Easy);
        assert_eq!(pts[1].forgetfulness, None);
        assert_eq!(pts[2].region, Region::Hard);
        assert!((pts[1].threshold_closeness - 0.09).abs() < 1e-12);
        // Corrected: sqrt(var + var²/(E−1)).
        let c = cartography(
            &[vec![1.0, 1.0, 0.0]],
            &[vec![true, true, false]],
            &CartographyOptions::default().corrected_variability(true),
        )
        .unwrap();
        let var = 2.0 / 9.0;
        assert!((c[0].variability - (var + var * var / 2.0f64).sqrt()).abs() < 1e-12);
        // Burn-out keeps the first two epochs only.
        let bo = cartography(
            &[vec![1.0, 1.0, 0.0]],
            &[vec![true, true, false]],
            &CartographyOptions::default().burn_out(2),
        )
        .unwrap();
        assert_eq!((bo[0].confidence, bo[0].variability), (1.0, 0.0));
    }

    #[test]
    fn bad_inputs_are_errors_and_svg_renders() {
        let o = CartographyOptions::default();
        assert!(matches!(
            cartography(&[vec![1.5]], &[vec![true]], &o),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            cartography(&[vec![]], &[vec![]], &o),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            cartography(&[vec![0.5]], &[], &o),
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(confidence_from_error(1.7), 0.0);
        assert_eq!(confidence_from_semdist(-0.01), 1.0);
        let pts = cartography(&[vec![0.5, 1.0]], &[vec![false, true]], &o).unwrap();
        let svg = data_map_svg(&pts, &[0.3], "SDI", &["u<1>".into()], &o, "map");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("u&lt;1&gt;"));
    }
}
