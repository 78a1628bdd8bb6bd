"""Reference for voxprobe-audio's Normalize::ZeroMeanUnitVar.

Applies the formula of transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm
(transformers 4.46, feature_extraction_wav2vec2.py):
    normed = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
to the float32 samples of tests/data/speech_16k.wav, and writes the first 2000 results as
float32 little-endian to tests/data/znorm_speech_16k_first2000.f32.

Pinned: Python 3.11, numpy==1.26.4 (scripts/requirements-audio.txt). Run from the repo root:
    "$(scripts/venv.sh audio scripts/requirements-audio.txt)" scripts/gen_audio_norm_ref.py
(scripts/venv.sh makes target/venv-audio from the pinned file once and prints its python.)
"""
import wave

import numpy as np

DATA = "crates/voxprobe-audio/tests/data/"
with wave.open(DATA + "speech_16k.wav") as w:
    assert w.getsampwidth() == 2 and w.getnchannels() == 1
    pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
x = (pcm.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
normed = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
normed.astype("<f4")[:2000].tofile(DATA + "znorm_speech_16k_first2000.f32")
print("mean", x.mean(), "var", x.var(), "n", len(x))
