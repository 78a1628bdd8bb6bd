#!/usr/bin/env python3
"""Writes crates/voxprobe-probe/tests/data/probe_parity.json: scikit-learn's cross-validated
StandardScaler + LogisticRegression on small synthetic problems, for voxprobe-probe's parity test.

Run from the repository root (makes its own venv from scripts/requirements-probe.txt):

    python3 scripts/gen_probe_fixtures.py

Per case: the inputs (x, class indices y, class names, groups or n_splits), scikit-learn's fold
assignment, and out-of-fold predictions/probabilities of
  * "tight":   LogisticRegression(tol=1e-10, max_iter=10000) -- the same objective as the
               default, solved to convergence (what voxprobe-probe does), and
  * "default": LogisticRegression() -- scikit-learn's early stop (tol=1e-4, max_iter=100).
Metrics (balanced accuracy = UAR, accuracy, macro-F1, confusion) are on the pooled "tight"
predictions.
"""
import json
import os
import subprocess
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join("target", "venv-probe")


def ensure_venv():
    py = os.path.join(ROOT, VENV, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py):
        return
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", os.path.join(ROOT, VENV)])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r",
                               os.path.join(ROOT, "scripts", "requirements-probe.txt")])
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


ensure_venv()

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,  # noqa: E402
                             confusion_matrix, f1_score)
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

OUT = os.path.join(ROOT, "crates", "voxprobe-probe", "tests", "data", "probe_parity.json")


def make(rng, n_per_class, d, k, sep, const_col=False, order=None):
    y = np.repeat(np.arange(k), n_per_class)
    means = rng.normal(size=(k, d)) * sep
    x = means[y] + rng.normal(size=(len(y), d))
    if const_col:
        x[:, 1] = 3.25
    perm = rng.permutation(len(y)) if order is None else order
    return np.round(x[perm], 6), y[perm]


def run_cv(x, y, k, folds, **lr):
    n = len(y)
    pred = np.full(n, -1)
    proba = np.zeros((n, k))
    fold_uar = []
    for tr, te in folds:
        sc = StandardScaler().fit(x[tr])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = LogisticRegression(**lr).fit(sc.transform(x[tr]), y[tr])
        z = sc.transform(x[te])
        pred[te] = m.predict(z)
        proba[np.ix_(te, m.classes_)] = m.predict_proba(z)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fold_uar.append(balanced_accuracy_score(y[te], pred[te]))
    return pred, proba, fold_uar


def case(name, x, y, classes, groups=None, n_splits=None):
    k = len(classes)
    if groups is not None:
        folds = list(LeaveOneGroupOut().split(x, y, groups))
    else:
        folds = list(StratifiedKFold(n_splits=n_splits).split(x, y))
    test_fold = np.full(len(y), -1)
    for f, (_, te) in enumerate(folds):
        test_fold[te] = f
    pt, prt, fuar = run_cv(x, y, k, folds, tol=1e-10, max_iter=10000)
    pd, prd, _ = run_cv(x, y, k, folds)
    out = {
        "name": name,
        "x": x.tolist(),
        "y": y.tolist(),
        "classes": classes,
        "groups": None if groups is None else list(groups),
        "n_splits": n_splits,
        "test_fold": test_fold.tolist(),
        "pred_tight": pt.tolist(),
        "proba_tight": prt.tolist(),
        "pred_default": pd.tolist(),
        "proba_default": prd.tolist(),
        "uar": balanced_accuracy_score(y, pt),
        "accuracy": accuracy_score(y, pt),
        "macro_f1": f1_score(y, pt, average="macro", zero_division=0),
        "confusion": confusion_matrix(y, pt, labels=list(range(k))).tolist(),
        "fold_uar": fuar,
        "default_vs_tight_max_abs_proba": float(np.abs(prd - prt).max()),
    }
    print(f"{name}: n={len(y)} d={x.shape[1]} k={k} folds={len(folds)} uar={out['uar']:.4f} "
          f"default-vs-tight max|dp|={out['default_vs_tight_max_abs_proba']:.2e} "
          f"pred differ={int((pd != pt).sum())}")
    return out


def main():
    rng = np.random.default_rng(20261207)
    cases = []
    # 3 classes, stratified 5-fold, one constant column.
    x, y = make(rng, 20, 6, 3, 0.8, const_col=True)
    cases.append(case("strat5_3class_constant_col", x, y, ["angry", "happy", "sad"], n_splits=5))
    # Uneven classes, labels shuffled (first-appearance order != sorted order), 4-fold.
    counts = [7, 12, 9, 16]
    y = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    y = y[rng.permutation(len(y))]
    means = rng.normal(size=(4, 5)) * 0.7
    x = np.round(means[y] + rng.normal(size=(len(y), 5)), 6)
    cases.append(case("strat4_uneven", x, y, ["a", "b", "c", "d"], n_splits=4))
    # Binary, leave-one-speaker-out over 5 speakers.
    x, y = make(rng, 20, 4, 2, 0.6)
    groups = [f"spk{i % 5}" for i in range(len(y))]
    cases.append(case("logo_binary", x, y, ["neutral", "stressed"], groups=groups))
    # 4 classes, d (48) > training size per fold: the SSL-embedding regime.
    x, y = make(rng, 10, 48, 4, 0.4)
    groups = [f"s{i % 4}" for i in range(len(y))]
    cases.append(case("logo_wide", x, y, ["ang", "hap", "neu", "sad"], groups=groups))
    # A class spoken by one speaker only: that fold's training set lacks the class.
    x, y = make(rng, 9, 3, 3, 1.0)
    groups = np.array([f"g{i % 3}" for i in range(len(y))])
    groups[y == 2] = "g9"
    cases.append(case("logo_missing_class", x, y, ["x", "y", "z"], groups=list(groups)))
    meta = {
        "generator": "scripts/gen_probe_fixtures.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(meta, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
