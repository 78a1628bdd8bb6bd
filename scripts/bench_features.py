#!/usr/bin/env python3
"""torchaudio.compliance.kaldi timing on the same 10 s input as crates/voxprobe-features/benches.

Prints one JSON line: {case: {"1thread": seconds, "pool": seconds}} (median of repeats).
Pins: scripts/requirements-features.txt.
"""
import json
import sys
import time
import wave

import numpy as np
import torch

_cuda = torch.version.cuda
torch.version.cuda = None  # see gen_features_fixtures.py: skip the unused extension's check
import torchaudio.compliance.kaldi as kaldi  # noqa: E402

torch.version.cuda = _cuda


def main():
    with wave.open("crates/voxprobe-features/tests/data/librivox_0930.wav") as w:
        clip = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    x = torch.from_numpy(np.resize(clip, 10 * 16000)).unsqueeze(0)
    cases = {
        "fbank23": lambda: kaldi.fbank(x),
        "fbank80": lambda: kaldi.fbank(x, num_mel_bins=80),
        "mfcc13": lambda: kaldi.mfcc(x),
    }
    threads = torch.get_num_threads()
    out = {}
    for name, f in cases.items():
        out[name] = {}
        for label, n in (("1thread", 1), ("pool", threads)):
            torch.set_num_threads(n)
            f()
            ts = []
            for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 30):
                t = time.perf_counter()
                f()
                ts.append(time.perf_counter() - t)
            out[name][label] = float(np.median(ts))
    torch.set_num_threads(threads)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
