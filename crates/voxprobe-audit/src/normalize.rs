//! Composable text normalisation applied before the audit's metrics (not part of the parity
//! path: error-align and jiwer parity use raw text). Reports record [`Normalizer::describe`].

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One normalisation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum NormalizeStep {
    /// Unicode lowercase (`str::to_lowercase`).
    Lowercase,
    /// Expand common English contractions (`won't` → `will not`, `'re` → ` are`, …; jiwer's list).
    Contractions,
    /// Expand common abbreviations as whole words (`mr` → `mister`, `dr` → `doctor`, …).
    Abbreviations,
    /// Remove punctuation and symbols; `-`, `_`, `/` become spaces; apostrophes inside words stay.
    StripPunctuation,
    /// Collapse whitespace runs to one space and trim.
    CollapseWhitespace,
}

impl NormalizeStep {
    /// Stable name used in reports and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Lowercase => "lowercase",
            Self::Contractions => "contractions",
            Self::Abbreviations => "abbreviations",
            Self::StripPunctuation => "strip-punctuation",
            Self::CollapseWhitespace => "collapse-whitespace",
        }
    }
}

impl std::str::FromStr for NormalizeStep {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "lowercase" => Self::Lowercase,
            "contractions" => Self::Contractions,
            "abbreviations" => Self::Abbreviations,
            "strip-punctuation" | "strip-punct" => Self::StripPunctuation,
            "collapse-whitespace" | "collapse-ws" => Self::CollapseWhitespace,
            other => {
                return Err(Error::UnknownNormalizeStep {
                    name: other.to_string(),
                })
            }
        })
    }
}

/// An ordered pipeline of [`NormalizeStep`]s (empty = identity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Steps applied in order.
    pub steps: Vec<NormalizeStep>,
}

const CONTRACTIONS: &[(&str, &str)] = &[
    ("won't", "will not"),
    ("can't", "can not"),
    ("let's", "let us"),
    ("n't", " not"),
    ("'re", " are"),
    ("'s", " is"),
    ("'d", " would"),
    ("'ll", " will"),
    ("'t", " not"),
    ("'ve", " have"),
    ("'m", " am"),
];

const ABBREVIATIONS: &[(&str, &str)] = &[
    ("mr", "mister"),
    ("mrs", "missus"),
    ("ms", "miss"),
    ("dr", "doctor"),
    ("st", "saint"),
    ("prof", "professor"),
    ("jr", "junior"),
    ("sr", "senior"),
    ("vs", "versus"),
    ("etc", "et cetera"),
];

impl Normalizer {
    /// Identity pipeline.
    pub fn new() -> Self {
        Self::default()
    }
    /// The recommended audit pipeline: lowercase, contractions, strip punctuation, collapse spaces.
    pub fn standard() -> Self {
        Self::new()
            .step(NormalizeStep::Lowercase)
            .step(NormalizeStep::Contractions)
            .step(NormalizeStep::StripPunctuation)
            .step(NormalizeStep::CollapseWhitespace)
    }
    /// Appends a step.
    pub fn step(mut self, s: NormalizeStep) -> Self {
        self.steps.push(s);
        self
    }
    /// Parses a comma-separated list (`"lowercase,strip-punct"`); `"none"` or `""` is identity,
    /// `"standard"` is [`Normalizer::standard`].
    ///
    /// # Errors
    /// [`Error::UnknownNormalizeStep`] for an unknown name.
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok(Self::new());
        }
        if spec == "standard" {
            return Ok(Self::standard());
        }
        let steps = spec
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { steps })
    }
    /// Step names, for reports.
    pub fn describe(&self) -> Vec<&'static str> {
        self.steps.iter().map(NormalizeStep::name).collect()
    }
    /// Applies all steps in order.
    pub fn apply(&self, text: &str) -> String {
        let mut s = text.to_string();
        for step in &self.steps {
            s = match step {
                NormalizeStep::Lowercase => s.to_lowercase(),
                NormalizeStep::Contractions => {
                    let mut t = s.replace('\u{2019}', "'");
                    for (a, b) in CONTRACTIONS {
                        t = t.replace(a, b);
                    }
                    t
                }
                NormalizeStep::Abbreviations => s
                    .split(' ')
                    .map(|w| {
                        let core = w.trim_end_matches('.');
                        let lower = core.to_lowercase();
                        ABBREVIATIONS
                            .iter()
                            .find(|(a, _)| *a == lower)
                            .map_or_else(|| w.to_string(), |(_, b)| (*b).to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                NormalizeStep::StripPunctuation => strip_punctuation(&s),
                NormalizeStep::CollapseWhitespace => {
                    s.split_whitespace().collect::<Vec<_>>().join(" ")
                }
            };
        }
        s
    }
}

fn strip_punctuation(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() || c.is_whitespace() {
            out.push(c);
        } else if matches!(c, '-' | '_' | '/' | '\u{2013}' | '\u{2014}') {
            out.push(' ');
        } else if c == '\'' || c == '\u{2019}' {
            let prev = i.checked_sub(1).and_then(|k| chars.get(k));
            let next = chars.get(i + 1);
            if prev.is_some_and(|p| p.is_alphanumeric())
                && next.is_some_and(|n| n.is_alphanumeric())
            {
                out.push('\'');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_pipeline() {
        let n = Normalizer::standard().step(NormalizeStep::Abbreviations);
        assert_eq!(
            n.apply("Mr. Smith's  well-known, 'quote'!"),
            "mister smith is well known quote"
        );
        assert!(matches!(
            Normalizer::parse("bogus"),
            Err(Error::UnknownNormalizeStep { .. })
        ));
    }
}
