#!/usr/bin/env python3
"""Reference eGeMAPS v02 values from openSMILE (PyPI `opensmile` 2.6.0) on the bundled speech,
for voxprobe-features' eGeMAPS parity tests, plus a same-run timing of openSMILE.

Run from the repository root (makes its own venv from scripts/requirements-egemaps.txt):

    python3 scripts/gen_egemaps_fixtures.py

Writes crates/voxprobe-features/tests/data/egemaps/:
  functionals.csv   id + the 88 eGeMAPSv02 functionals, one row per file (openSMILE names)
  lld_<id>.csv      frame-level LLDs (25) of two WAVs: start time (s) + openSMILE's columns
  files.tsv         id<TAB>path (relative to the repository root)
and prints openSMILE's wall time over all files (for the speed ratio).
"""
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join("target", "venv-egemaps")


def ensure_venv():
    py = os.path.join(ROOT, VENV, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py):
        return
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", os.path.join(ROOT, VENV)])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r",
                               os.path.join(ROOT, "scripts", "requirements-egemaps.txt")])
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


ensure_venv()

import opensmile  # noqa: E402

OUT = os.path.join(ROOT, "crates", "voxprobe-features", "tests", "data", "egemaps")
LLD_IDS = ["sense_and_sensibility_01_austen_64kb-0870", "flite_slt_u001"]


def bundled():
    """LibriVox (real read speech, 5 WAVs), flite slt u001 (lossless WAV), and the
    accent-audit voices (Ogg Vorbis) of sentences u001-u005."""
    files = sorted(glob.glob(os.path.join(
        ROOT, "crates", "voxprobe-audio", "tests", "data", "sense_and_sensibility_*.wav")))
    files.append(os.path.join(ROOT, "crates", "voxprobe-features", "tests", "data",
                              "flite_slt_u001.wav"))
    for n in range(1, 6):
        files += sorted(glob.glob(os.path.join(
            ROOT, "examples", "data", "accent-audit", "audio", f"u{n:03d}_*.ogg")))
    return [(os.path.splitext(os.path.basename(f))[0], f) for f in files]


def main():
    os.makedirs(OUT, exist_ok=True)
    files = bundled()
    func = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)
    lld = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                          feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    rows = []
    t0 = time.perf_counter()
    for fid, path in files:
        df = func.process_file(path)
        rows.append((fid, df.iloc[0].tolist()))
    wall = time.perf_counter() - t0
    names = list(func.feature_names)
    assert len(names) == 88, len(names)
    with open(os.path.join(OUT, "functionals.csv"), "w") as f:
        f.write("id," + ",".join(names) + "\n")
        for fid, vals in rows:
            f.write(fid + "," + ",".join(f"{v:.9g}" for v in vals) + "\n")
    with open(os.path.join(OUT, "files.tsv"), "w") as f:
        for fid, path in files:
            f.write(f"{fid}\t{os.path.relpath(path, ROOT)}\n")
    for fid, path in files:
        if fid not in LLD_IDS:
            continue
        df = lld.process_file(path)
        with open(os.path.join(OUT, f"lld_{fid}.csv"), "w") as f:
            f.write("start," + ",".join(df.columns) + "\n")
            for (_, start, _), vals in zip(df.index, df.values):
                f.write(f"{start.total_seconds():.3f}," + ",".join(f"{v:.6g}" for v in vals) + "\n")
    print(f"opensmile {opensmile.__version__}: {len(files)} files, functionals wall "
          f"{wall:.3f} s ({wall / len(files) * 1000:.1f} ms/file)")


if __name__ == "__main__":
    main()
