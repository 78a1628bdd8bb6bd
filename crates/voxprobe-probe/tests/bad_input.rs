//! The bad inputs: each a typed error or a documented, tested behaviour.

use ndarray::{array, Array2};
use voxprobe_probe::{
    cross_validate, leave_one_group_out, parse_features_csv, parse_id_map, Dataset, Error,
    MissingClassPolicy, ProbeParams,
};

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn labels_for_unknown_ids_are_an_error() {
    let t = parse_features_csv("id,f1,f2\nu1,0,1\nu2,1,0\nu3,2,2\nu4,3,1\n").unwrap();
    let labels = parse_id_map("u1\ta\nu2\tb\nu3\ta\nu4\tb\nghost\ta\n", "labels").unwrap();
    let err = Dataset::join(&t.ids, t.values.view(), &labels, None).unwrap_err();
    assert!(matches!(err, Error::UnknownIds { count: 1, ref first } if first == "ghost"));
    assert!(err.to_string().contains("ghost"));
}

#[test]
fn a_class_with_one_example_is_an_error() {
    let t = parse_features_csv("id,f\nu1,0\nu2,1\nu3,2\n").unwrap();
    let labels = parse_id_map("u1 a\nu2 a\nu3 b\n", "labels").unwrap();
    let err = Dataset::join(&t.ids, t.values.view(), &labels, None).unwrap_err();
    assert!(matches!(err, Error::ClassTooSmall { count: 1, needed: 2, ref class } if class == "b"));
}

/// Speaker `s2` is the only one with class `c`: its fold is fine (c is tested, not trained),
/// but the other folds... are fine too; the fold holding out `s2` lacks `c` in training.
#[test]
fn a_fold_whose_training_set_lacks_a_class() {
    let x = Array2::from_shape_fn((8, 2), |(i, j)| ((i * 3 + j * 5) % 7) as f64);
    let y = vec![0, 1, 0, 1, 2, 2, 0, 1];
    let groups = strings(&["s0", "s0", "s1", "s1", "s2", "s2", "s3", "s3"]);
    let classes = strings(&["a", "b", "c"]);
    let folds = leave_one_group_out(&groups).unwrap();
    let err = cross_validate(x.view(), &y, &classes, &folds, &ProbeParams::new()).unwrap_err();
    assert!(
        matches!(err, Error::FoldMissingClass { ref fold, ref class } if fold == "s2" && class == "c")
    );
    // Opt-in: fit on the classes present; the absent class has probability 0.
    let params = ProbeParams::new().missing_class(MissingClassPolicy::FitPresent);
    let cv = cross_validate(x.view(), &y, &classes, &folds, &params).unwrap();
    let f = cv.folds.iter().find(|f| f.name == "s2").unwrap();
    assert_eq!(f.missing_classes, vec![2]);
    for &i in &[4usize, 5] {
        assert_eq!(cv.proba[[i, 2]], 0.0);
        assert_ne!(cv.predicted[i], 2);
    }
}

#[test]
fn a_fold_with_a_single_training_class_is_an_error() {
    let x = array![[0.0], [1.0], [2.0], [3.0]];
    let y = vec![0, 0, 1, 1];
    let groups = strings(&["g0", "g0", "g1", "g1"]);
    let folds = leave_one_group_out(&groups).unwrap();
    let params = ProbeParams::new().missing_class(MissingClassPolicy::FitPresent);
    let err = cross_validate(x.view(), &y, &strings(&["a", "b"]), &folds, &params).unwrap_err();
    assert!(matches!(err, Error::FoldSingleClass { .. }));
}

/// All-constant features: every standardised value is 0, so the probe predicts the majority
/// class of the training fold with its class-prior probabilities (the intercepts alone).
#[test]
fn constant_features_give_the_prior() {
    let x = Array2::from_elem((9, 3), 4.0);
    let y = vec![0, 0, 1, 0, 0, 1, 0, 0, 1];
    let groups = strings(&["a", "a", "a", "b", "b", "b", "c", "c", "c"]);
    let folds = leave_one_group_out(&groups).unwrap();
    let cv = cross_validate(
        x.view(),
        &y,
        &strings(&["m", "n"]),
        &folds,
        &ProbeParams::new(),
    )
    .unwrap();
    assert!(cv.predicted.iter().all(|&p| p == 0));
    for f in &cv.folds {
        assert_eq!(f.constant_features, vec![0, 1, 2]);
    }
    // Training folds are 4 of class 0 and 2 of class 1 (or 5/1 etc.): p(1) = share of class 1.
    let share = cv.proba[[0, 1]];
    assert!((share - 2.0 / 6.0).abs() < 1e-8, "{share}");
}

#[test]
fn non_finite_features_are_an_error() {
    let x = array![[0.0, 1.0], [f64::INFINITY, 0.0], [1.0, 1.0], [2.0, 0.0]];
    let folds = leave_one_group_out(&strings(&["a", "a", "b", "b"])).unwrap();
    let err = cross_validate(
        x.view(),
        &[0, 1, 0, 1],
        &strings(&["p", "q"]),
        &folds,
        &ProbeParams::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NonFinite { row: 1, column: 0 }));
}
