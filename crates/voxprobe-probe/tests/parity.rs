//! Parity with scikit-learn 1.9.1 on `tests/data/probe_parity.json`
//! (made by `scripts/gen_probe_fixtures.py`).

use ndarray::Array2;
use serde_json::Value;
use voxprobe_probe::{
    cross_validate, leave_one_group_out, stratified_k_fold, MissingClassPolicy, ProbeParams,
};

/// Probabilities against scikit-learn run to convergence (`tol=1e-10`): both solve the same
/// strictly convex problem, so only solver tolerances separate them; 1e-4 is the bar.
const PROBA_TOL: f64 = 1e-4;
/// Metrics are functions of identical predictions: equal up to float summation order.
const METRIC_TOL: f64 = 1e-12;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/probe_parity.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows = v.as_array().unwrap();
    let d = rows[0].as_array().unwrap().len();
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    Array2::from_shape_vec((rows.len(), d), flat).unwrap()
}

#[test]
fn cross_validation_matches_sklearn() {
    let fx = fixture();
    assert_eq!(fx["sklearn"], "1.9.1");
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let x = matrix(&c["x"]);
        let y = usizes(&c["y"]);
        let classes: Vec<String> = c["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let folds = if c["groups"].is_null() {
            stratified_k_fold(&y, c["n_splits"].as_u64().unwrap() as usize).unwrap()
        } else {
            let g: Vec<String> = c["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            leave_one_group_out(&g).unwrap()
        };
        let params = ProbeParams::new().missing_class(MissingClassPolicy::FitPresent);
        let cv = cross_validate(x.view(), &y, &classes, &folds, &params).unwrap();
        assert_eq!(
            cv.fold_of,
            usizes(&c["test_fold"]),
            "{name}: fold assignment"
        );
        assert_eq!(
            cv.predicted,
            usizes(&c["pred_tight"]),
            "{name}: predictions"
        );
        assert_eq!(
            cv.predicted,
            usizes(&c["pred_default"]),
            "{name}: predictions vs LogisticRegression()"
        );
        let p = matrix(&c["proba_tight"]);
        let worst = (&cv.proba - &p).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(worst <= PROBA_TOL, "{name}: max |dp| = {worst:e}");
        assert!((cv.pooled.uar - c["uar"].as_f64().unwrap()).abs() < METRIC_TOL);
        assert!((cv.pooled.accuracy - c["accuracy"].as_f64().unwrap()).abs() < METRIC_TOL);
        assert!((cv.pooled.macro_f1 - c["macro_f1"].as_f64().unwrap()).abs() < METRIC_TOL);
        let conf: Vec<Vec<usize>> = c["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(usizes)
            .collect();
        assert_eq!(cv.pooled.confusion, conf, "{name}: confusion");
        for (r, u) in cv.folds.iter().zip(c["fold_uar"].as_array().unwrap()) {
            assert!(
                (r.metrics.uar - u.as_f64().unwrap()).abs() < METRIC_TOL,
                "{name}"
            );
            assert!(r.converged, "{name}: fold {} did not converge", r.name);
        }
    }
}

#[test]
fn constant_column_is_reported_per_fold() {
    let fx = fixture();
    let c = &fx["cases"][0];
    assert_eq!(c["name"], "strat5_3class_constant_col");
    let x = matrix(&c["x"]);
    let y = usizes(&c["y"]);
    let classes = vec!["angry".into(), "happy".into(), "sad".into()];
    let folds = stratified_k_fold(&y, 5).unwrap();
    let cv = cross_validate(x.view(), &y, &classes, &folds, &ProbeParams::new()).unwrap();
    for f in &cv.folds {
        assert_eq!(f.constant_features, vec![1]);
    }
}
