#!/usr/bin/env python3
"""Parity fixtures for crates/voxprobe-features: torchaudio.compliance.kaldi fbank/mfcc on real speech.

Pins: scripts/requirements-features.txt (torch 2.15.0, torchaudio 2.11.0 with --no-deps).
Run from the repository root:

    "$(scripts/venv.sh features scripts/requirements-features.txt)" scripts/gen_features_fixtures.py

(scripts/venv.sh makes target/venv-features from the pinned file once, torchaudio with --no-deps,
and prints its python.)

Inputs (16-bit mono WAV, committed): crates/voxprobe-features/tests/data/*.wav.
Outputs: tests/data/cases.json (one entry per case: input, scale, function, torchaudio keyword
arguments) and tests/data/fixtures.safetensors with two tensors per case (frames x dims):

- `<case>`: what torchaudio returns for the float32 waveform (what users get);
- `<case>@f64`: the same torchaudio code on the same samples as float64, rounded to float32
  at the end. torchaudio's float32 result is itself off from the exact value by up to ~1e-3 on
  MFCCs of real speech (FFT rounding in quiet frames and low bins, amplified by the DCT and
  lifter); cases.json records that gap (`f32_vs_f64`) so the test can bound its tolerance
  against the float32 output by it.
"""
import json
import wave
from pathlib import Path

import numpy as np
import torch

# torchaudio 2.11's import checks that its C extension was built for torch's CUDA version;
# compliance.kaldi never calls the extension, so hide torch's CUDA version during the import.
_cuda = torch.version.cuda
torch.version.cuda = None
import torchaudio  # noqa: E402
import torchaudio.compliance.kaldi as kaldi  # noqa: E402

torch.version.cuda = _cuda
from safetensors.torch import save_file  # noqa: E402

DATA = Path("crates/voxprobe-features/tests/data")

# Full utterances with the default options (the parity claim) ...
FULL = ["librivox_0880", "librivox_0930", "flite_slt_u001", "librivox_0880_8k"]
# ... and option variants on the first 1.5 s of one clip (keeps the fixture file small).
VARIANT_WAV, VARIANT_SECONDS = "librivox_0930", 1.5

FBANK_VARIANTS = {
    "mel80": dict(num_mel_bins=80),
    "energy": dict(use_energy=True),
    "energy_htk": dict(use_energy=True, htk_compat=True),
    "energy_windowed_nofloor": dict(use_energy=True, raw_energy=False, energy_floor=0.0),
    "no_snip_edges": dict(snip_edges=False),
    "hamming": dict(window_type="hamming"),
    "hanning": dict(window_type="hanning"),
    "blackman": dict(window_type="blackman", blackman_coeff=0.40),
    "rectangular": dict(window_type="rectangular"),
    "no_pow2": dict(round_to_power_of_two=False),
    "subtract_mean": dict(subtract_mean=True),
    "vtln_0_9": dict(vtln_warp=0.9),
    "vtln_1_1": dict(vtln_warp=1.1, num_mel_bins=40),
    "magnitude": dict(use_power=False),
    "linear": dict(use_log_fbank=False),
    "band_60_7600": dict(low_freq=60.0, high_freq=-400.0),
    "no_preemph_no_dc": dict(preemphasis_coefficient=0.0, remove_dc_offset=False),
    "frames_20_5": dict(frame_length=20.0, frame_shift=5.0),
}
MFCC_VARIANTS = {
    "ceps20_mel40": dict(num_ceps=20, num_mel_bins=40),
    "energy": dict(use_energy=True),
    "htk": dict(htk_compat=True),
    "energy_htk": dict(use_energy=True, htk_compat=True),
    "no_lifter": dict(cepstral_lifter=0.0),
    "no_snip_edges": dict(snip_edges=False),
    "subtract_mean": dict(subtract_mean=True),
}


def read_wav(name):
    with wave.open(str(DATA / f"{name}.wav")) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return x.astype(np.float32), w.getframerate()


def main():
    cases, tensors = [], {}

    def add(name, wav, seconds, scale, kind, kwargs):
        x, sr = read_wav(wav)
        if seconds is not None:
            x = x[: int(seconds * sr)]
        if scale == "unit":
            x = x / np.float32(32768.0)  # exact in float32, as in the Rust test
        fn = kaldi.fbank if kind == "fbank" else kaldi.mfcc
        t = torch.from_numpy(x.copy()).unsqueeze(0)
        y = fn(t, sample_frequency=float(sr), **kwargs)
        y64 = fn(t.double(), sample_frequency=float(sr), **kwargs)
        tensors[name] = y.contiguous()
        tensors[name + "@f64"] = y64.float().contiguous()
        if kwargs.get("use_log_fbank", True):
            gap = (y.double() - y64).abs().max().item()
        else:  # linear outputs: relative to each frame's largest value
            gap = ((y.double() - y64).abs() / y64.abs().amax(1, keepdim=True)).max().item()
        cases.append(
            dict(name=name, wav=wav, seconds=seconds, scale=scale, kind=kind, kwargs=kwargs,
                 shape=list(y.shape), f32_vs_f64=gap)
        )

    for wav in FULL:
        for kind in ("fbank", "mfcc"):
            add(f"{wav}/{kind}", wav, None, "int16", kind, {})
    add(f"{VARIANT_WAV}/fbank/unit_scale", VARIANT_WAV, VARIANT_SECONDS, "unit", "fbank", {})
    add(f"{VARIANT_WAV}/mfcc/unit_scale", VARIANT_WAV, VARIANT_SECONDS, "unit", "mfcc", {})
    for v, kw in FBANK_VARIANTS.items():
        add(f"{VARIANT_WAV}/fbank/{v}", VARIANT_WAV, VARIANT_SECONDS, "int16", "fbank", kw)
    for v, kw in MFCC_VARIANTS.items():
        add(f"{VARIANT_WAV}/mfcc/{v}", VARIANT_WAV, VARIANT_SECONDS, "int16", "mfcc", kw)

    meta = dict(torch=torch.__version__, torchaudio=torchaudio.__version__, cases=cases)
    (DATA / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    save_file(tensors, str(DATA / "fixtures.safetensors"))
    print(f"{len(cases)} cases, torch {torch.__version__}, torchaudio {torchaudio.__version__}")


if __name__ == "__main__":
    main()
