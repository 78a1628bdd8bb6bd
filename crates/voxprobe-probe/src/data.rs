//! Reading probe inputs: a features CSV, `id<TAB>label` / `id<TAB>group` files, and joining
//! them into a [`Dataset`] with every check a probe needs before any fitting.

use std::collections::{HashMap, HashSet};

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

/// A features table: `id` column then numeric columns, one row per utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// Column names after `id`.
    pub columns: Vec<String>,
    /// Row ids, file order.
    pub ids: Vec<String>,
    /// Values `[rows, columns]`.
    pub values: Array2<f64>,
}

/// Parses a comma-separated table with a header whose first field is the id column
/// (openSMILE-style `functionals.csv`: `id,F0semitoneFrom27.5Hz_sma3nz_amean,…`).
/// Values must parse as finite numbers; rows must have the header's width.
pub fn parse_features_csv(text: &str) -> Result<FeatureTable> {
    const WHAT: &str = "features csv";
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or(Error::EmptyInput {
        what: "features csv has no header",
    })?;
    let columns: Vec<String> = header
        .split(',')
        .skip(1)
        .map(|s| s.trim().to_string())
        .collect();
    if columns.is_empty() {
        return Err(Error::EmptyInput {
            what: "features csv has no feature columns",
        });
    }
    let mut ids = Vec::new();
    let mut flat = Vec::new();
    let mut seen = HashSet::new();
    for (ln, line) in lines {
        let mut fields = line.split(',');
        let id = fields.next().unwrap_or("").trim().to_string();
        if id.is_empty() {
            return Err(parse_err(WHAT, ln, "empty id".into()));
        }
        if !seen.insert(id.clone()) {
            return Err(Error::DuplicateId { id, what: WHAT });
        }
        let mut count = 0;
        for (j, f) in fields.enumerate() {
            let v: f64 = f.trim().parse().map_err(|_| {
                parse_err(
                    WHAT,
                    ln,
                    format!("column {} value `{f}` is not a number", j + 2),
                )
            })?;
            if !v.is_finite() {
                return Err(parse_err(
                    WHAT,
                    ln,
                    format!("column {} is not finite", j + 2),
                ));
            }
            flat.push(v);
            count += 1;
        }
        if count != columns.len() {
            return Err(parse_err(
                WHAT,
                ln,
                format!("{count} values, header has {}", columns.len()),
            ));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(Error::EmptyInput {
            what: "features csv has no rows",
        });
    }
    let values = Array2::from_shape_vec((ids.len(), columns.len()), flat).map_err(|_| {
        Error::ShapeMismatch {
            what: "features csv cells",
            expected: ids.len() * columns.len(),
            actual: 0,
        }
    })?;
    Ok(FeatureTable {
        columns,
        ids,
        values,
    })
}

fn parse_err(what: &'static str, line0: usize, reason: String) -> Error {
    Error::Parse {
        what,
        line: line0 + 1,
        reason,
    }
}

/// Parses `id<TAB>value` lines (a single space also separates, as in Kaldi's `utt2spk`);
/// blank lines and lines starting with `#` are skipped; duplicate ids are an error.
pub fn parse_id_map(text: &str, what: &'static str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, value) = line
            .split_once('\t')
            .or_else(|| line.split_once(' '))
            .ok_or_else(|| parse_err(what, ln, "expected `id<TAB>value`".into()))?;
        let (id, value) = (id.trim(), value.trim());
        if id.is_empty() || value.is_empty() {
            return Err(parse_err(what, ln, "empty id or value".into()));
        }
        if !seen.insert(id.to_string()) {
            return Err(Error::DuplicateId {
                id: id.to_string(),
                what,
            });
        }
        out.push((id.to_string(), value.to_string()));
    }
    if out.is_empty() {
        return Err(Error::EmptyInput { what });
    }
    Ok(out)
}

/// Labelled samples ready for [`cross_validate`](crate::cross_validate).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Ids of the labelled rows, in features order.
    pub ids: Vec<String>,
    /// Features of those rows.
    pub x: Array2<f64>,
    /// Class index per row.
    pub y: Vec<usize>,
    /// Class names, ascending (scikit-learn's `classes_` order); `y` indexes them.
    pub classes: Vec<String>,
    /// Group per row, when groups were given.
    pub groups: Option<Vec<String>>,
    /// Feature rows that had no label and were left out.
    pub unlabelled: usize,
}

impl Dataset {
    /// Joins feature rows (`ids`, `x`) with labels and optional groups.
    ///
    /// * A label for an id with no features → [`Error::UnknownIds`] (usually a wrong file).
    /// * Feature rows without a label are left out and counted in `unlabelled`.
    /// * Fewer than 2 classes → [`Error::TooFewClasses`]; a class with a single example →
    ///   [`Error::ClassTooSmall`] (it could not be both trained on and tested).
    /// * With groups, every labelled id needs one → [`Error::MissingGroup`].
    pub fn join(
        ids: &[String],
        x: ArrayView2<'_, f64>,
        labels: &[(String, String)],
        groups: Option<&[(String, String)]>,
    ) -> Result<Self> {
        if ids.len() != x.nrows() {
            return Err(Error::ShapeMismatch {
                what: "feature ids (one per row)",
                expected: x.nrows(),
                actual: ids.len(),
            });
        }
        let mut row_of = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if row_of.insert(id.as_str(), i).is_some() {
                return Err(Error::DuplicateId {
                    id: id.clone(),
                    what: "features",
                });
            }
        }
        let unknown: Vec<&String> = labels
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !row_of.contains_key(id.as_str()))
            .collect();
        if let Some(first) = unknown.first() {
            return Err(Error::UnknownIds {
                count: unknown.len(),
                first: (*first).clone(),
            });
        }
        let label_of: HashMap<&str, &str> = labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let mut classes: Vec<String> = labels.iter().map(|(_, l)| l.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(Error::TooFewClasses {
                n_classes: classes.len(),
            });
        }
        let group_of: Option<HashMap<&str, &str>> =
            groups.map(|g| g.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect());
        let mut rows = Vec::new();
        let mut y = Vec::new();
        let mut out_ids = Vec::new();
        let mut out_groups = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let Some(label) = label_of.get(id.as_str()) else {
                continue;
            };
            let c = classes
                .binary_search_by(|c| c.as_str().cmp(label))
                .map_err(|_| Error::TooFewClasses { n_classes: 0 })?;
            if let Some(g) = &group_of {
                let grp = g
                    .get(id.as_str())
                    .ok_or_else(|| Error::MissingGroup { id: id.clone() })?;
                out_groups.push((*grp).to_string());
            }
            rows.push(i);
            y.push(c);
            out_ids.push(id.clone());
        }
        let mut counts = vec![0usize; classes.len()];
        y.iter().for_each(|&c| counts[c] += 1);
        if let Some((c, &count)) = counts.iter().enumerate().find(|(_, &n)| n < 2) {
            return Err(Error::ClassTooSmall {
                class: classes[c].clone(),
                count,
                needed: 2,
            });
        }
        Ok(Self {
            x: x.select(ndarray::Axis(0), &rows),
            unlabelled: ids.len() - rows.len(),
            ids: out_ids,
            y,
            classes,
            groups: group_of.map(|_| out_groups),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_csv_and_reports_bad_cells() {
        let t = parse_features_csv("id,a,b\nu1,1,2\nu2,3,4.5\n").unwrap();
        assert_eq!(t.columns, s(&["a", "b"]));
        assert_eq!(t.values[[1, 1]], 4.5);
        assert!(matches!(
            parse_features_csv("id,a\nu1,x\n"),
            Err(Error::Parse { line: 2, .. })
        ));
        assert!(matches!(
            parse_features_csv("id,a,b\nu1,1\n"),
            Err(Error::Parse { line: 2, .. })
        ));
        assert!(matches!(
            parse_features_csv("id,a\nu1,nan\n"),
            Err(Error::Parse { .. })
        ));
        assert!(matches!(
            parse_features_csv("id,a\nu1,1\nu1,2\n"),
            Err(Error::DuplicateId { .. })
        ));
    }

    #[test]
    fn join_checks_ids_classes_and_groups() {
        let ids = s(&["a", "b", "c", "d", "e"]);
        let x = Array2::from_shape_fn((5, 2), |(i, j)| (i * 2 + j) as f64);
        let lab = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let ok = lab(&[("a", "x"), ("b", "y"), ("c", "x"), ("d", "y")]);
        let d = Dataset::join(&ids, x.view(), &ok, None).unwrap();
        assert_eq!(d.unlabelled, 1);
        assert_eq!(d.y, vec![0, 1, 0, 1]);
        assert_eq!(d.classes, s(&["x", "y"]));
        let unknown = lab(&[("a", "x"), ("zz", "y")]);
        assert!(matches!(
            Dataset::join(&ids, x.view(), &unknown, None),
            Err(Error::UnknownIds { count: 1, ref first }) if first == "zz"
        ));
        let single = lab(&[("a", "x"), ("b", "x"), ("c", "y")]);
        assert!(matches!(
            Dataset::join(&ids, x.view(), &single, None),
            Err(Error::ClassTooSmall { count: 1, ref class, .. }) if class == "y"
        ));
        let groups = lab(&[("a", "g1"), ("b", "g1"), ("c", "g2")]);
        assert!(matches!(
            Dataset::join(&ids, x.view(), &ok, Some(&groups)),
            Err(Error::MissingGroup { ref id }) if id == "d"
        ));
    }

    #[test]
    fn id_map_parsing() {
        let m = parse_id_map("a\tx y\n# c\n\nb z\n", "labels").unwrap();
        assert_eq!(m[0], ("a".to_string(), "x y".to_string()));
        assert_eq!(m[1], ("b".to_string(), "z".to_string()));
        assert!(matches!(
            parse_id_map("a\n", "labels"),
            Err(Error::Parse { line: 1, .. })
        ));
        assert!(matches!(
            parse_id_map("a\tx\na\ty\n", "labels"),
            Err(Error::DuplicateId { .. })
        ));
    }
}
