//! Reading audit inputs: Kaldi-style TSV (`id<TAB>[group<TAB>]text`) and JSONL pairs, with
//! the problems that did not stop the read listed in [`InputIssues`].

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One utterance to audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utterance {
    /// Utterance id.
    pub id: String,
    /// Group label (speaker group, accent, …); `None` puts it in group `"all"`.
    pub group: Option<String>,
    /// Reference transcript.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Hypothesis transcript.
    #[serde(rename = "hyp")]
    pub hypothesis: String,
}

/// Problems found while reading inputs that did not stop the audit (always listed in the report).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputIssues {
    /// `file:line` of every empty line that was skipped.
    pub empty_lines: Vec<String>,
    /// Reference ids with no hypothesis (scored as an empty hypothesis when allowed).
    pub missing_hypotheses: Vec<String>,
    /// Hypothesis ids with no reference (not scored).
    pub missing_references: Vec<String>,
}

/// A parsed `id<TAB>[group<TAB>]text` line.
struct Line {
    line: usize,
    id: String,
    group: Option<String>,
    text: String,
}

pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn parse_tsv(
    content: &str,
    file: &str,
    allow_group: bool,
    issues: &mut InputIssues,
) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            issues.empty_lines.push(format!("{file}:{line}"));
            continue;
        }
        let fields: Vec<&str> = raw.split('\t').collect();
        let (id, group, text) = match fields.as_slice() {
            [id] => (*id, None, ""),
            [id, text] => (*id, None, *text),
            [id, group, text] if allow_group => (*id, Some(group.to_string()), *text),
            _ => {
                return Err(Error::BadLine {
                    file: file.to_string(),
                    line,
                    problem: format!(
                        "expected id<TAB>{}text, found {} tab-separated fields",
                        if allow_group { "[group<TAB>]" } else { "" },
                        fields.len()
                    ),
                })
            }
        };
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::BadLine {
                file: file.to_string(),
                line,
                problem: "empty id".into(),
            });
        }
        if let Some(&first_line) = seen.get(id) {
            return Err(Error::DuplicateId {
                file: file.to_string(),
                line,
                first_line,
                id: id.to_string(),
            });
        }
        seen.insert(id.to_string(), line);
        out.push(Line {
            line,
            id: id.to_string(),
            group,
            text: text.to_string(),
        });
    }
    Ok(out)
}

/// Joins parsed refs and hyps by id, in reference order.
fn join(
    refs: Vec<Line>,
    hyps: Vec<Line>,
    allow_missing: bool,
    issues: &mut InputIssues,
) -> Result<Vec<Utterance>> {
    let mut hyp_by_id: HashMap<String, Line> =
        hyps.into_iter().map(|l| (l.id.clone(), l)).collect();
    let mut out = Vec::with_capacity(refs.len());
    let mut missing_hyp = Vec::new();
    for r in refs {
        let hyp = match hyp_by_id.remove(&r.id) {
            Some(h) => h.text,
            None => {
                missing_hyp.push(r.id.clone());
                String::new()
            }
        };
        out.push(Utterance {
            id: r.id,
            group: r.group,
            reference: r.text,
            hypothesis: hyp,
        });
    }
    let mut missing_ref: Vec<(usize, String)> =
        hyp_by_id.into_values().map(|l| (l.line, l.id)).collect();
    missing_ref.sort();
    let missing_ref: Vec<String> = missing_ref.into_iter().map(|(_, id)| id).collect();
    if !allow_missing && (!missing_hyp.is_empty() || !missing_ref.is_empty()) {
        return Err(Error::IdMismatch {
            missing_hyp: missing_hyp.len(),
            missing_ref: missing_ref.len(),
            example_missing_hyp: missing_hyp.first().cloned(),
            example_missing_ref: missing_ref.first().cloned(),
        });
    }
    issues.missing_hypotheses = missing_hyp;
    issues.missing_references = missing_ref;
    if out.is_empty() {
        return Err(Error::Empty);
    }
    Ok(out)
}

/// Parses Kaldi-style refs (`id<TAB>text` or `id<TAB>group<TAB>text`) and hyps (`id<TAB>text`).
///
/// Empty lines are skipped and listed in the returned [`InputIssues`]. Duplicate ids and malformed
/// lines are errors. Ids present on one side only are an [`Error::IdMismatch`] unless
/// `allow_missing`, in which case a missing hypothesis is scored as empty (all deletions) and a
/// hypothesis without reference is left out; both are listed.
///
/// # Errors
/// [`Error::BadLine`], [`Error::DuplicateId`], [`Error::IdMismatch`], [`Error::Empty`].
pub fn parse_kaldi(
    refs: &str,
    refs_name: &str,
    hyps: &str,
    hyps_name: &str,
    allow_missing: bool,
) -> Result<(Vec<Utterance>, InputIssues)> {
    let mut issues = InputIssues::default();
    let r = parse_tsv(refs, refs_name, true, &mut issues)?;
    let h = parse_tsv(hyps, hyps_name, false, &mut issues)?;
    let u = join(r, h, allow_missing, &mut issues)?;
    Ok((u, issues))
}

/// Reads Kaldi-style files, see [`parse_kaldi`].
///
/// # Errors
/// [`Error::Io`] plus those of [`parse_kaldi`].
pub fn read_kaldi(
    refs: &Path,
    hyps: &Path,
    allow_missing: bool,
) -> Result<(Vec<Utterance>, InputIssues)> {
    parse_kaldi(
        &read_to_string(refs)?,
        &refs.display().to_string(),
        &read_to_string(hyps)?,
        &hyps.display().to_string(),
        allow_missing,
    )
}

/// Parses JSONL with fields `id`, `ref`, `hyp` and optional `group`.
///
/// # Errors
/// [`Error::BadLine`] (invalid JSON or fields), [`Error::DuplicateId`], [`Error::Empty`].
pub fn parse_jsonl(content: &str, name: &str) -> Result<(Vec<Utterance>, InputIssues)> {
    let mut issues = InputIssues::default();
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            issues.empty_lines.push(format!("{name}:{line}"));
            continue;
        }
        let u: Utterance = serde_json::from_str(raw).map_err(|e| Error::BadLine {
            file: name.to_string(),
            line,
            problem: e.to_string(),
        })?;
        if let Some(&first_line) = seen.get(&u.id) {
            return Err(Error::DuplicateId {
                file: name.to_string(),
                line,
                first_line,
                id: u.id,
            });
        }
        seen.insert(u.id.clone(), line);
        out.push(u);
    }
    if out.is_empty() {
        return Err(Error::Empty);
    }
    Ok((out, issues))
}

/// Reads a JSONL pairs file, see [`parse_jsonl`].
///
/// # Errors
/// [`Error::Io`] plus those of [`parse_jsonl`].
pub fn read_jsonl(path: &Path) -> Result<(Vec<Utterance>, InputIssues)> {
    parse_jsonl(&read_to_string(path)?, &path.display().to_string())
}
