//! Transcript files and group maps, and the reference/hypothesis join of `audit`.
//!
//! A transcript file is one of (detected from the content, see [`parse_transcripts`]):
//!
//! * **Kaldi `text`**: `<id>`, the first whitespace run, then the words (tabs or spaces);
//! * **TSV**: every line `id<TAB>text`, or every line `id<TAB>group<TAB>text`;
//! * **JSONL**: objects with `id`, `text` and optional `group` (or `speaker`);
//! * a **Kaldi data directory** (its `text`).
//!
//! The two line formats agree on `id<TAB>text` lines; a file that mixes `id<TAB>group<TAB>text`
//! lines with space-separated ones could mean either, and is refused.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::manifest::read_to_string;
use super::{Error, Result};

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// Utterance id.
    pub id: String,
    /// Group column (3-column TSV, JSONL `group`/`speaker`).
    pub group: Option<String>,
    /// The words.
    pub text: String,
    /// 1-based line.
    pub line: usize,
}

/// Reads a transcript file or a Kaldi data directory's `text`.
///
/// # Errors
/// [`Error::Io`], [`Error::Format`] (ambiguous or empty), [`Error::BadLine`],
/// [`Error::DuplicateId`].
pub fn read_transcripts(path: &Path) -> Result<(Vec<Transcript>, String)> {
    let path = if path.is_dir() {
        path.join("text")
    } else {
        path.to_path_buf()
    };
    let name = path.display().to_string();
    let t = parse_transcripts(&read_to_string(&path)?, &name)?;
    Ok((t, name))
}

/// Parses transcript content (see the module docs for the formats).
///
/// # Errors
/// As [`read_transcripts`].
pub fn parse_transcripts(content: &str, name: &str) -> Result<Vec<Transcript>> {
    let bad = |line: usize, problem: String| Error::BadLine {
        file: name.into(),
        line,
        problem,
    };
    let lines: Vec<(usize, &str)> = content
        .lines()
        .enumerate()
        .map(|(k, l)| (k + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let Some(&(_, first)) = lines.first() else {
        return Err(Error::Format {
            file: name.into(),
            problem: "no transcripts (the file is empty)".into(),
        });
    };
    let mut out = Vec::with_capacity(lines.len());
    if first.trim_start().starts_with('{') {
        for (line, raw) in lines {
            let v: Value = serde_json::from_str(raw)
                .map_err(|e| bad(line, format!("not a JSON object: {e}")))?;
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let id = s("id").ok_or_else(|| bad(line, "no string `id`".into()))?;
            let text = s("text").ok_or_else(|| bad(line, "no string `text`".into()))?;
            out.push(Transcript {
                id,
                group: s("group").or_else(|| s("speaker")),
                text,
                line,
            });
        }
    } else {
        // Which separator follows the id on each line.
        let tab_first = |l: &str| {
            l.trim_start()
                .find(char::is_whitespace)
                .map(|i| l.trim_start()[i..].starts_with('\t'))
        };
        let three = lines
            .iter()
            .find(|(_, l)| tab_first(l) == Some(true) && l.split('\t').count() >= 3)
            .map(|&(n, _)| n);
        let spaced = lines
            .iter()
            .find(|(_, l)| tab_first(l) == Some(false))
            .map(|&(n, _)| n);
        let all_tab = lines.iter().all(|(_, l)| tab_first(l) != Some(false));
        if let (Some(tl), Some(sl)) = (three, spaced) {
            return Err(Error::Format {
                file: name.into(),
                problem: format!(
                    "ambiguous: line {tl} is `id<TAB>group<TAB>text` but line {sl} is a Kaldi \
                     `id words` line; use one format for the whole file"
                ),
            });
        }
        for (line, raw) in lines {
            let (id, group, text) = if all_tab && three.is_some() {
                let f: Vec<&str> = raw.trim_start().split('\t').collect();
                match f.as_slice() {
                    [id, g, t] => (*id, Some(g.trim().to_string()), t.trim()),
                    [id, t] => (*id, None, t.trim()),
                    [id] => (*id, None, ""),
                    _ => {
                        return Err(bad(
                            line,
                            format!(
                                "expected id<TAB>[group<TAB>]text, found {} tab-separated fields",
                                f.len()
                            ),
                        ))
                    }
                }
            } else {
                let l = raw.trim();
                match l.split_once(char::is_whitespace) {
                    Some((id, rest)) => (id, None, rest.trim()),
                    None => (l, None, ""),
                }
            };
            let id = id.trim();
            if id.is_empty() {
                return Err(bad(line, "empty id".into()));
            }
            out.push(Transcript {
                id: id.into(),
                group,
                text: text.into(),
                line,
            });
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(out.len());
    for t in &out {
        if let Some(&first_line) = seen.get(t.id.as_str()) {
            return Err(Error::DuplicateId {
                file: name.into(),
                line: t.line,
                first_line,
                id: t.id.clone(),
            });
        }
        seen.insert(&t.id, t.line);
    }
    Ok(out)
}

/// Reads a group map: `<id> <group>` per line (`utt2spk`, an accent map); the group is the
/// rest of the line after the first whitespace run.
///
/// # Errors
/// [`Error::Io`], [`Error::BadLine`] (no group), [`Error::DuplicateId`], [`Error::Format`]
/// (empty).
pub fn read_groups(path: &Path) -> Result<HashMap<String, String>> {
    let name = path.display().to_string();
    let content = read_to_string(path)?;
    let mut out = HashMap::new();
    let mut lines: HashMap<String, usize> = HashMap::new();
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        let Some((id, g)) = l.split_once(char::is_whitespace) else {
            return Err(Error::BadLine {
                file: name,
                line,
                problem: format!("expected `<id> <group>`, found only {l:?}"),
            });
        };
        if let Some(&first_line) = lines.get(id) {
            return Err(Error::DuplicateId {
                file: name,
                line,
                first_line,
                id: id.into(),
            });
        }
        lines.insert(id.into(), line);
        out.insert(id.to_string(), g.trim().to_string());
    }
    if out.is_empty() {
        return Err(Error::Format {
            file: name,
            problem: "no groups (the file is empty)".into(),
        });
    }
    Ok(out)
}

/// A reference/hypothesis pair for `audit`, in reference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Utterance id.
    pub id: String,
    /// Group (from `--groups`, else the reference file's group column), if any.
    pub group: Option<String>,
    /// Reference words.
    pub reference: String,
    /// Hypothesis words (empty when missing and allowed).
    pub hypothesis: String,
}

/// What [`join`] found beyond the pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinIssues {
    /// Reference ids without hypothesis (scored as empty hypotheses).
    pub missing_hypotheses: Vec<String>,
    /// Hypothesis ids without reference (left out).
    pub missing_references: Vec<String>,
}

/// Joins references and hypotheses by id, taking groups from `groups` when given (every
/// reference must then have one) and from the reference file otherwise.
///
/// Ids on one side only are an [`Error::IdMismatch`] naming real ids unless `allow_missing`;
/// even then, references and hypotheses that share **no** id are an error (that is a format
/// or file mix-up, and scoring it would report WER 1.0 as a result).
///
/// # Errors
/// [`Error::IdMismatch`].
pub fn join(
    refs: (&[Transcript], &str),
    hyps: (&[Transcript], &str),
    groups: Option<(&HashMap<String, String>, &str)>,
    allow_missing: bool,
) -> Result<(Vec<Pair>, JoinIssues)> {
    let (refs, rname) = refs;
    let (hyps, hname) = hyps;
    let mut by_id: HashMap<&str, &Transcript> = hyps.iter().map(|h| (h.id.as_str(), h)).collect();
    let mut out = Vec::with_capacity(refs.len());
    let mut issues = JoinIssues::default();
    let mut first_missing_hyp = None;
    for r in refs {
        let hyp = match by_id.remove(r.id.as_str()) {
            Some(h) => h.text.clone(),
            None => {
                first_missing_hyp.get_or_insert((r.id.clone(), r.line));
                issues.missing_hypotheses.push(r.id.clone());
                String::new()
            }
        };
        let group = match groups {
            Some((g, gname)) => Some(g.get(&r.id).cloned().ok_or_else(|| {
                Error::IdMismatch(format!(
                    "reference {} ({rname}:{}) has no group in {gname}",
                    r.id, r.line
                ))
            })?),
            None => r.group.clone(),
        };
        out.push(Pair {
            id: r.id.clone(),
            group,
            reference: r.text.clone(),
            hypothesis: hyp,
        });
    }
    let mut extra: Vec<&Transcript> = by_id.into_values().collect();
    extra.sort_by_key(|h| h.line);
    issues.missing_references = extra.iter().map(|h| h.id.clone()).collect();
    let matched = refs.len() - issues.missing_hypotheses.len();
    let describe = || {
        let mut s = String::new();
        if let Some((id, line)) = &first_missing_hyp {
            s.push_str(&format!(
                "{} reference ids have no hypothesis (first: {id} at {rname}:{line})",
                issues.missing_hypotheses.len()
            ));
        }
        if let Some(h) = extra.first() {
            if !s.is_empty() {
                s.push_str("; ");
            }
            s.push_str(&format!(
                "{} hypothesis ids have no reference (first: {} at {hname}:{})",
                extra.len(),
                h.id,
                h.line
            ));
        }
        s
    };
    if matched == 0 {
        return Err(Error::IdMismatch(format!(
            "{rname} and {hname} share no utterance id: {}; check that both are `id text` \
             files of the same utterances",
            describe()
        )));
    }
    if !allow_missing && (!issues.missing_hypotheses.is_empty() || !extra.is_empty()) {
        return Err(Error::IdMismatch(format!(
            "id mismatch: {}; --allow-missing scores missing hypotheses as empty",
            describe()
        )));
    }
    Ok((out, issues))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaldi_text_splits_at_the_first_whitespace_run() {
        let t = parse_transcripts("u1  the store  on the corner\nu2\tyes\nu3\n", "text").unwrap();
        assert_eq!(t[0].id, "u1");
        assert_eq!(t[0].text, "the store  on the corner");
        assert_eq!((t[1].id.as_str(), t[1].text.as_str()), ("u2", "yes"));
        assert_eq!((t[2].id.as_str(), t[2].text.as_str()), ("u3", ""));
    }

    #[test]
    fn tsv_with_groups_and_ambiguity() {
        let t = parse_transcripts("a\tg1\thello there\nb\tg2\tbye\n", "r").unwrap();
        assert_eq!(t[0].group.as_deref(), Some("g1"));
        assert_eq!(t[0].text, "hello there");
        let err = parse_transcripts("a\tg1\thello\nb bye now\n", "r").unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert!(err.to_string().contains("ambiguous"), "{err}");
        let err = parse_transcripts("a x\na y\n", "r").unwrap_err();
        assert!(matches!(err, Error::DuplicateId { line: 2, .. }), "{err}");
        let j = parse_transcripts("{\"id\": \"a\", \"text\": \"hi\", \"group\": \"g\"}\n", "j")
            .unwrap();
        assert_eq!(j[0].group.as_deref(), Some("g"));
    }

    #[test]
    fn join_names_real_ids_and_refuses_disjoint_sets() {
        let r = parse_transcripts("a hello\nb world\n", "refs").unwrap();
        let h = parse_transcripts("a hello\nc x\n", "hyps").unwrap();
        let err = join((&r, "refs"), (&h, "hyps"), None, false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("first: b at refs:2"), "{msg}");
        assert!(msg.contains("first: c at hyps:2"), "{msg}");
        assert!(!msg.contains("Some("), "{msg}");
        let (p, issues) = join((&r, "refs"), (&h, "hyps"), None, true).unwrap();
        assert_eq!(p[1].hypothesis, "");
        assert_eq!(issues.missing_references, vec!["c".to_string()]);
        // The bug of issue 16: a whole Kaldi line read as one id matched nothing, and
        // --allow-missing turned that into WER 0.0.
        let h = parse_transcripts("x hello\ny world\n", "hyps").unwrap();
        let err = join((&r, "refs"), (&h, "hyps"), None, true).unwrap_err();
        assert!(err.to_string().contains("share no utterance id"), "{err}");
    }

    #[test]
    fn groups_file_overrides_and_must_cover_every_reference() {
        let r = parse_transcripts("a\tg\thello\nb\tg\tworld\n", "refs").unwrap();
        let h = parse_transcripts("a hello\nb word\n", "hyps").unwrap();
        let g: HashMap<String, String> = [("a".to_string(), "s1".to_string())].into();
        let err = join((&r, "refs"), (&h, "hyps"), Some((&g, "utt2spk")), false).unwrap_err();
        assert!(
            err.to_string()
                .contains("reference b (refs:2) has no group in utt2spk"),
            "{err}"
        );
        let g: HashMap<String, String> =
            [("a".into(), "s1".into()), ("b".into(), "s2".into())].into();
        let (p, _) = join((&r, "refs"), (&h, "hyps"), Some((&g, "utt2spk")), false).unwrap();
        assert_eq!(p[1].group.as_deref(), Some("s2"));
    }
}
