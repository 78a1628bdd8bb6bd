#!/usr/bin/env python3
"""Generate k-means and NAOPC parity fixtures for crates/voxprobe-kmex.

Reference: scikit-learn KMeans(algorithm="lloyd") and a brute-force (all N! orders) AOPC bound
computation on a scikit-learn logistic regression. Pins: scripts/requirements-kmex.txt
(scikit-learn==1.9.1, numpy==2.4.6, scipy==1.17.1).

    "$(scripts/venv.sh kmex scripts/requirements-kmex.txt)" scripts/gen_kmex_fixtures.py
(scripts/venv.sh makes target/venv-kmex from the pinned file once and prints its python.)

Writes crates/voxprobe-kmex/tests/data/{kmeans_fixtures.json,naopc_fixtures.json,digits_split.json}.
Digits rows are referenced by index into the vendored tests/data/digits.csv.gz.
"""
import gzip
import itertools
import json
import os

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

assert sklearn.__version__ == "1.9.1", sklearn.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "crates", "voxprobe-kmex", "tests", "data")


def load_digits():
    with gzip.open(os.path.join(DATA, "digits.csv.gz"), "rt") as f:
        arr = np.loadtxt(f, delimiter=",")
    return arr[:, :64] / 16.0, arr[:, 64].astype(int)


def km_case(name, X, k, rng, weights=None, max_iter=300, tol=1e-4, rows=None, store_x=False):
    init = X[rng.choice(X.shape[0], k, replace=False)]
    km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", max_iter=max_iter, tol=tol)
    km.fit(X, sample_weight=weights)
    case = {
        "name": name,
        "k": k,
        "max_iter": max_iter,
        "tol": tol,
        "init": init.tolist(),
        "centres": km.cluster_centers_.tolist(),
        "labels": km.labels_.tolist(),
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "weights": None if weights is None else weights.tolist(),
    }
    if store_x:
        case["x"] = X.tolist()
    else:
        case["rows"] = rows
    return case


def main():
    X, y = load_digits()
    rng = np.random.default_rng(0)
    cases = []
    Xb, _ = make_blobs(n_samples=300, n_features=5, centers=4, cluster_std=2.0, random_state=0)
    cases.append(km_case("blobs", Xb, 4, rng, store_x=True))
    wb = rng.uniform(0.5, 2.0, size=300)
    cases.append(km_case("blobs_weighted", Xb, 4, rng, weights=wb, store_x=True))
    rows = list(range(600))
    cases.append(km_case("digits600_k10", X[rows], 10, rng, rows=rows))
    cases.append(km_case("digits600_k10_3iter", X[rows], 10, rng, rows=rows, max_iter=3, tol=0.0))
    rows_all = list(range(X.shape[0]))
    cases.append(km_case("digits_k20_tol1e-2", X, 20, rng, rows=rows_all, tol=1e-2))
    # Own-initialisation target: scikit-learn's best of n_init=10 k-means++ runs on all digits.
    best = KMeans(n_clusters=10, n_init=10, random_state=0, algorithm="lloyd").fit(X)
    own = {"k": 10, "n_init": 10, "sklearn_best_inertia": float(best.inertia_)}
    with open(os.path.join(DATA, "kmeans_fixtures.json"), "w") as f:
        json.dump({"sklearn": sklearn.__version__, "cases": cases, "own_init": own}, f)

    # Stratified 70/30 split of the digits (seed 0), committed so the split needs no RNG.
    idx = np.arange(X.shape[0])
    tr, te = train_test_split(idx, test_size=0.3, stratify=y, random_state=0)
    with open(os.path.join(DATA, "digits_split.json"), "w") as f:
        json.dump({"train": sorted(tr.tolist()), "test": sorted(te.tolist())}, f)

    # NAOPC: logistic regression, 8 features = 4x2-pixel patches (4 rows x 2 cols), removal = 0.
    lr = LogisticRegression(max_iter=2000).fit(X[tr], y[tr])
    patches = []
    for pr in range(2):
        for pc in range(4):
            patches.append([(4 * pr + r) * 8 + 2 * pc + c for r in range(4) for c in range(2)])
    n = len(patches)
    examples = []
    for i in te[:6]:
        x = X[i]
        target = int(lr.predict(x[None])[0])
        probs = {}
        for mask in range(1 << n):
            xm = x.copy()
            for j in range(n):
                if mask >> j & 1:
                    xm[patches[j]] = 0.0
            probs[mask] = lr.predict_proba(xm[None])[0, target]
        g = {m: probs[0] - p for m, p in probs.items()}
        lo, hi = np.inf, -np.inf
        for perm in itertools.permutations(range(n)):
            m, tot = 0, 0.0
            for j in perm:
                m |= 1 << j
                tot += g[m]
            lo, hi = min(lo, tot / n), max(hi, tot / n)
        occ = [g[1 << j] for j in range(n)]
        desc = sorted(range(n), key=lambda j: (-occ[j], j))
        asc = sorted(range(n), key=lambda j: (occ[j], j))

        def aopc(order):
            m, tot = 0, 0.0
            for j in order:
                m |= 1 << j
                tot += g[m]
            return tot / n

        examples.append({
            "row": int(i), "target": target, "lower": lo, "upper": hi,
            "occlusion": occ, "comprehensiveness": aopc(desc), "sufficiency": aopc(asc),
        })
    with open(os.path.join(DATA, "naopc_fixtures.json"), "w") as f:
        json.dump({"coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist(),
                   "patches": patches, "baseline": 0.0, "examples": examples}, f)


if __name__ == "__main__":
    main()
