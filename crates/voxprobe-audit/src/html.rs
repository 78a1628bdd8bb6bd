//! Rendering an [`Audit`]: `report.json`, `utterances.jsonl` and the self-contained
//! `report.html` (inline SVG, no scripts or external resources). Every text that reaches the HTML
//! goes through [`esc`], the crate's one HTML escaper.

use std::fmt::Write as _;
use std::path::Path;

use crate::audit::{Audit, GroupSummary, UtteranceResult};
use crate::representativity::{AttributeRepresentativity, Representativity};
use crate::{Error, OpType, Result};

fn write_file(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Audit {
    /// Writes `report.json`, `utterances.jsonl` and `report.html` into `dir` (created if needed).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`].
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        write_file(
            &dir.join("report.json"),
            &serde_json::to_string_pretty(&self.report)?,
        )?;
        let mut lines = String::new();
        for u in &self.utterances {
            lines.push_str(&serde_json::to_string(u)?);
            lines.push('\n');
        }
        write_file(&dir.join("utterances.jsonl"), &lines)?;
        write_file(&dir.join("report.html"), &self.to_html())?;
        Ok(())
    }

    /// Self-contained HTML report (inline SVG charts, no scripts or external resources).
    pub fn to_html(&self) -> String {
        let r = &self.report;
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ASR audit</title><style>\
body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:8px 0}}\
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}td.l{{text-align:left}}\
.M{{color:#2a7a2a}}.S{{background:#ffd8a8}}.D{{background:#ffc9c9;text-decoration:line-through}}\
.I{{background:#a5d8ff}}.utt{{margin:6px 0;padding:6px;border:1px solid #ddd;line-height:1.9}}\
.op{{padding:1px 3px;margin:0 1px;border-radius:3px}}small{{color:#666}}.warn{{color:#c92a2a}}</style></head><body>"
        );
        let _ = write!(
            s,
            "<h1>ASR audit</h1><p>{} utterances, {} groups. Normalisation: <b>{}</b>. Alignment: error-align port \
(beam {}, word-level pass {}, method {:?}). Counts: {}.</p>",
            r.corpus.utterances,
            r.groups.len(),
            esc(&if r.normalization.is_empty() { "none (raw text)".to_string() } else { r.normalization.join(" → ") }),
            r.alignment.beam_size,
            r.alignment.word_level_pass,
            r.alignment.word_level_method,
            esc(&r.word_alignment)
        );
        s.push_str("<h2>Per-group WER (corpus-level, bootstrap 95% CI)</h2>");
        s.push_str(&self.wer_chart());
        s.push_str("<table><tr><th class=l>group</th><th>utts</th><th>WER</th><th>95% CI</th><th>diversity tax</th><th>MER</th><th>WIL</th><th>CER</th><th>mean utt WER</th><th>H</th><th>S</th><th>D</th><th>I</th></tr>");
        for g in r.groups.iter().chain(std::iter::once(&r.corpus)) {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td>{}</td><td>{:.4}</td><td>[{:.4}, {:.4}]</td><td>{:+.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&g.group), g.utterances, g.measures.wer, g.wer_ci95[0], g.wer_ci95[1], g.diversity_tax,
                g.measures.mer, g.measures.wil, g.cer, g.mean_utterance_wer, g.words.hits, g.words.substitutions,
                g.words.deletions, g.words.insertions
            );
        }
        s.push_str("</table><h2>Error-type breakdown (error-align ops per reference word)</h2>");
        s.push_str(&self.error_type_chart());
        s.push_str("<h2>Top confusions</h2><table><tr><th class=l>ref</th><th class=l>hyp</th><th>count</th></tr>");
        for c in &r.top_confusions {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td class=l>{}</td><td>{}</td></tr>",
                esc(&c.item.0),
                esc(&c.item.1),
                c.count
            );
        }
        s.push_str("</table><div style=\"display:flex;gap:40px\"><div><h3>Top deleted</h3><table>");
        for c in &r.top_deleted {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td>{}</td></tr>",
                esc(&c.item),
                c.count
            );
        }
        s.push_str("</table></div><div><h3>Top inserted</h3><table>");
        for c in &r.top_inserted {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td>{}</td></tr>",
                esc(&c.item),
                c.count
            );
        }
        s.push_str("</table></div></div>");
        if let Some(rep) = &r.representativity {
            representativity_section(&mut s, rep);
        }
        let iss = &r.input_issues;
        if !iss.empty_lines.is_empty()
            || !iss.missing_hypotheses.is_empty()
            || !iss.missing_references.is_empty()
        {
            let _ = write!(
                s,
                "<h2>Input issues</h2><p>{} empty lines skipped, {} refs without hyp (scored as empty), {} hyps without ref (ignored). See report.json.</p>",
                iss.empty_lines.len(), iss.missing_hypotheses.len(), iss.missing_references.len()
            );
        }
        let _ = write!(
            s,
            "<h2>Worst utterances</h2><p><span class=\"op M\">match</span> <span class=\"op S\">substitution (hyp → ref)</span> \
<span class=\"op D\">deletion</span> <span class=\"op I\">insertion</span> <small>- marks a compound piece</small></p>"
        );
        let mut worst: Vec<&UtteranceResult> = self.utterances.iter().collect();
        worst.sort_by(|a, b| {
            b.words
                .errors()
                .cmp(&a.words.errors())
                .then(b.measures.wer.total_cmp(&a.measures.wer))
        });
        for u in worst.iter().take(self.worst_n) {
            let _ = write!(
                s,
                "<div class=utt><small>{} · {} · WER {:.3} · S{} D{} I{}</small><br>",
                esc(&u.id),
                esc(&u.group),
                u.measures.wer,
                u.words.substitutions,
                u.words.deletions,
                u.words.insertions
            );
            for o in &u.ops {
                let hyp = format!(
                    "{}{}{}",
                    if o.left_compound { "-" } else { "" },
                    o.hyp_text.as_deref().unwrap_or(""),
                    if o.right_compound { "-" } else { "" }
                );
                let (class, text) = match o.op_type {
                    OpType::Match => ("M", o.ref_text.clone().unwrap_or_default()),
                    OpType::Delete => ("D", o.ref_text.clone().unwrap_or_default()),
                    OpType::Insert => ("I", hyp),
                    OpType::Substitute => (
                        "S",
                        format!("{} → {}", hyp, o.ref_text.as_deref().unwrap_or("")),
                    ),
                };
                let _ = write!(s, "<span class=\"op {class}\">{}</span> ", esc(&text));
            }
            s.push_str("</div>");
        }
        s.push_str("</body></html>\n");
        s
    }

    fn wer_chart(&self) -> String {
        let gs = &self.report.groups;
        let max = gs
            .iter()
            .map(|g| g.wer_ci95[1].max(g.measures.wer))
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let (w, row, left) = (900.0, 28.0, 170.0);
        let h = row * gs.len() as f64 + 40.0;
        let scale = (w - left - 80.0) / max;
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-size=\"12\">");
        for (k, g) in gs.iter().enumerate() {
            let y = 10.0 + row * k as f64;
            let bw = g.measures.wer * scale;
            let best = g.group == self.report.best_group;
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{}\" fill=\"{}\"/>\
<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\"/><text x=\"{:.1}\" y=\"{}\">{:.3}</text>",
                left - 6.0, y + 15.0, esc(&g.group), row - 8.0, if best { "#2f9e44" } else { "#4263eb" },
                left + g.wer_ci95[0] * scale, left + g.wer_ci95[1] * scale, y + 10.0, y + 10.0,
                left + g.wer_ci95[1].max(g.measures.wer) * scale + 6.0, y + 15.0, g.measures.wer
            );
        }
        let _ = write!(s, "<text x=\"{left}\" y=\"{}\" fill=\"#666\">WER (bar), 95% bootstrap CI (line); green = best group</text></svg>", h - 8.0);
        s
    }

    fn error_type_chart(&self) -> String {
        let gs = &self.report.groups;
        let (w, row, left) = (900.0, 28.0, 170.0);
        let h = row * gs.len() as f64 + 40.0;
        let rate = |g: &GroupSummary, n: usize| n as f64 / (g.words.ref_len().max(1)) as f64;
        let max = gs
            .iter()
            .map(|g| {
                rate(
                    g,
                    g.op_counts.substitutions + g.op_counts.deletions + g.op_counts.insertions,
                )
            })
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let scale = (w - left - 40.0) / max;
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-size=\"12\">");
        for (k, g) in gs.iter().enumerate() {
            let y = 10.0 + row * k as f64;
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 6.0,
                y + 15.0,
                esc(&g.group)
            );
            let mut x = left;
            for (n, color) in [
                (
                    g.op_counts.substitutions - g.op_counts.segmentation,
                    "#f08c00",
                ),
                (g.op_counts.segmentation, "#ffd43b"),
                (g.op_counts.deletions, "#e03131"),
                (g.op_counts.insertions, "#1c7ed6"),
            ] {
                let bw = rate(g, n) * scale;
                let _ = write!(s, "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{}\" fill=\"{color}\"/>", row - 8.0);
                x += bw;
            }
        }
        let _ = write!(
            s,
            "<text x=\"{left}\" y=\"{}\" fill=\"#666\">orange substitutions, yellow segmentation (compound) substitutions, red deletions, blue insertions</text></svg>",
            h - 8.0
        );
        s
    }
}

/// The crate's one HTML escaper (text and double-quoted attribute values): `&`, `<`, `>`, `"`,
/// `'` and `/` become entities (`html-escape`'s `encode_safe`).
pub(crate) fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_safe(s)
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.4}"))
}

fn opt_ci(v: Option<[f64; 2]>) -> String {
    v.map_or_else(
        || "—".to_string(),
        |c| format!("[{:.4}, {:.4}]", c[0], c[1]),
    )
}

fn kl(v: Option<f64>) -> String {
    v.map_or_else(|| "∞".to_string(), |x| format!("{x:.4}"))
}

/// Paired bars per stratum: sample share (blue) over target share (grey); strata of the
/// population without sample in red, sample strata outside the population in orange.
fn coverage_chart(t: &AttributeRepresentativity) -> String {
    let (w, row, left) = (720.0, 30.0, 190.0);
    let h = row * t.rows.len() as f64 + 34.0;
    let max = t
        .rows
        .iter()
        .map(|r| r.sample_share.max(r.target_share.unwrap_or(0.0)))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let scale = (w - left - 170.0) / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-size=\"12\">"
    );
    for (k, r) in t.rows.iter().enumerate() {
        let y = 6.0 + row * k as f64;
        let target = r.target_share.unwrap_or(0.0);
        let (flag, colour) = match r.target_share {
            None => ("not in population", "#e8590c"),
            Some(x) if x > 0.0 && r.utterances == 0 => ("missing from sample", "#e03131"),
            _ => ("", "#222"),
        };
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{colour}\">{}</text>\
<rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"11\" fill=\"#4263eb\"/>\
<rect x=\"{left}\" y=\"{}\" width=\"{:.1}\" height=\"11\" fill=\"#adb5bd\"/>\
<text x=\"{:.1}\" y=\"{}\" fill=\"{colour}\">{:.3} / {:.3} {}</text>",
            left - 6.0,
            y + 15.0,
            esc(&r.stratum),
            r.sample_share * scale,
            y + 12.0,
            target * scale,
            left + r.sample_share.max(target) * scale + 6.0,
            y + 15.0,
            r.sample_share,
            target,
            flag
        );
    }
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{}\" fill=\"#666\">blue = sample share, grey = target share (labels: sample / target)</text></svg>",
        h - 6.0
    );
    s
}

fn attribute_section(s: &mut String, t: &AttributeRepresentativity, sample_wer: f64) {
    let c = &t.coverage;
    let d = &t.distances;
    let ps = &t.post_stratified;
    let _ = write!(s, "<h3>{}</h3>", esc(&t.attribute));
    s.push_str(&coverage_chart(t));
    s.push_str("<table><tr><th class=l>stratum</th><th>utts</th><th>sample share</th><th>target share</th><th>WER</th><th>ref words</th></tr>");
    for r in &t.rows {
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.stratum),
            r.utterances,
            r.sample_share,
            r.target_share
                .map_or_else(|| "not in population".to_string(), |x| format!("{x:.4}")),
            opt(r.wer),
            r.ref_words
        );
    }
    let _ = write!(
        s,
        "</table><p>Coverage: {} of {} strata ({:.1}%), {:.1}% of the population mass. \
Total variation {:.4}, Hellinger {:.4}, KL(target‖sample) {}. \
<b>Population-weighted WER {} {}</b>, CER {} {} (sample's own corpus WER {:.4}); \
estimate covers {:.1}% of the population.",
        c.covered,
        c.strata,
        100.0 * c.share_covered,
        100.0 * c.mass_covered,
        d.total_variation,
        d.hellinger,
        kl(d.kl_target_from_sample),
        opt(ps.wer),
        opt_ci(ps.wer_ci95),
        opt(ps.cer),
        opt_ci(ps.cer_ci95),
        sample_wer,
        100.0 * ps.covered_weight
    );
    if !ps.missing_strata.is_empty() {
        let _ = write!(
            s,
            " <span class=warn>Missing from the sample (not in the estimate): {}.</span>",
            esc(&ps.missing_strata.join(", "))
        );
    }
    if !ps.extra_strata.is_empty() {
        let _ = write!(
            s,
            " <span class=warn>In the sample but not in the population (weight 0): {}.</span>",
            esc(&ps.extra_strata.join(", "))
        );
    }
    s.push_str("</p>");
}

/// The representativity section of `report.html`.
pub(crate) fn representativity_section(s: &mut String, r: &Representativity) {
    s.push_str("<h2>Representativity of the audit set</h2>");
    let _ = write!(
        s,
        "<p>{} utterances with attributes; target population given as {}. \
Sample's own corpus WER {:.4}, CER {:.4}.</p>",
        r.attributed_utterances,
        esc(&r.population_kind),
        r.sample_corpus_wer,
        r.sample_corpus_cer
    );
    if !r.unattributed_utterances.is_empty() {
        let shown: Vec<&str> = r
            .unattributed_utterances
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        let _ = write!(
            s,
            "<p class=warn>{} audited utterances have no attributes and are in no stratum (e.g. {}); all are listed in report.json.</p>",
            r.unattributed_utterances.len(),
            esc(&shown.join(", "))
        );
    }
    s.push_str("<table><tr><th class=l>strata</th><th>coverage</th><th>pop. mass</th><th>TV</th><th>Hellinger</th><th>KL</th><th>pop.-weighted WER</th><th>95% CI</th><th>missing strata</th></tr>");
    for t in r.attributes.iter().chain(r.joint.iter()) {
        let ps = &t.post_stratified;
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td>{}/{}</td><td>{:.3}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td class=l>{}</td></tr>",
            esc(&t.attribute),
            t.coverage.covered,
            t.coverage.strata,
            t.coverage.mass_covered,
            t.distances.total_variation,
            t.distances.hellinger,
            kl(t.distances.kl_target_from_sample),
            opt(ps.wer),
            opt_ci(ps.wer_ci95),
            esc(&ps.missing_strata.join(", "))
        );
    }
    let _ = write!(
        s,
        "<tr><td class=l>sample as is</td><td></td><td></td><td></td><td></td><td></td><td>{:.4}</td><td></td><td></td></tr></table>",
        r.sample_corpus_wer
    );
    if let Some(j) = &r.joint_vs_marginals {
        let _ = write!(
            s,
            "<p>Joint versus marginals: total variation of the joint {:.4}, largest marginal {:.4} — a sample can match every marginal and still miss the joint.</p>",
            j.joint_total_variation, j.max_marginal_total_variation
        );
    }
    for t in r.attributes.iter().chain(r.joint.iter()) {
        attribute_section(s, t, r.sample_corpus_wer);
    }
    if let Some(c) = &r.input_space {
        let _ = write!(
            s,
            "<h3>Input space</h3><p>{} of {} occupied reference cells reached ({:.1}%), {:.1}% of the reference mass; total variation {:.4}, Hellinger {:.4}, KL {}.</p>",
            c.reached_cells,
            c.occupied_cells,
            100.0 * c.share_reached,
            100.0 * c.mass_reached,
            c.distances.total_variation,
            c.distances.hellinger,
            kl(c.distances.kl_target_from_sample)
        );
    }
    let _ = write!(s, "<p><small>{}</small></p>", esc(&r.definitions));
}
