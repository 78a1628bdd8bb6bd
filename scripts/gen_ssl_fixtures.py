#!/usr/bin/env python3
"""Generate the voxprobe-ssl parity fixtures (tiny random checkpoints + transformers outputs).

Pins (scripts/requirements-ssl.txt; asserted below): Python 3.11, torch 2.15.0, transformers 5.23.0,
safetensors 0.8.0, numpy 2.4.6, tokenizers 0.23.3, huggingface-hub 2.4.0.

    "$(scripts/venv.sh ssl scripts/requirements-ssl.txt)" scripts/gen_ssl_fixtures.py
(scripts/venv.sh makes target/venv-ssl from the pinned file once and prints its python.)

Writes
  models/tiny-<name>/            config.json, model.safetensors, preprocessor_config.json,
                                 (CTC) vocab.json + tokenizer_config.json + special_tokens_map.json,
                                 (some) model.legacy_weight_norm_keys.safetensors, pytorch_model.bin
  crates/voxprobe-ssl/tests/data/feature_extractor.safetensors   signals + normalised inputs
  crates/voxprobe-ssl/tests/data/<name>.reference.safetensors     per-case outputs
  crates/voxprobe-ssl/tests/data/<name>.reference.json            versions, keys, shapes, decodes

The output is byte-identical across runs (checked by running twice and comparing sha256 sums).
CI never runs this script.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
import huggingface_hub

PINS = {
    "torch": (torch.__version__.split("+")[0], "2.15.0"),
    "transformers": (transformers.__version__, "5.23.0"),
    "safetensors": (safetensors.__version__, "0.8.0"),
    "numpy": (np.__version__, "2.4.6"),
    "tokenizers": (tokenizers.__version__, "0.23.3"),
    "huggingface_hub": (huggingface_hub.__version__, "2.4.0"),
}
for name, (got, want) in PINS.items():
    assert got == want, f"{name} {got} != pinned {want}"
assert sys.version_info[:2] == (3, 11), sys.version

from transformers import (  # noqa: E402
    Data2VecAudioConfig,
    Data2VecAudioForCTC,
    Data2VecAudioModel,
    HubertConfig,
    HubertForCTC,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

torch.set_num_threads(1)  # determinism
torch.use_deterministic_algorithms(True)

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
DATA = ROOT / "crates" / "voxprobe-ssl" / "tests" / "data"
TOL = 1e-4
SR = 16000

GEOM = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    conv_dim=[16] * 7,
    conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    conv_stride=[5, 2, 2, 2, 2, 2, 2],
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
    layer_norm_eps=1e-5,
    hidden_act="gelu",
    feat_extract_activation="gelu",
)
GROUP = dict(feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False)
STABLE = dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H"]
CTC = dict(vocab_size=len(VOCAB), pad_token_id=0)

# name, config class, model class, base attribute (None = bare model), config kwargs, extras
SPECS = [
    ("wav2vec2-base", Wav2Vec2Config, Wav2Vec2Model, None, {**GROUP}, {}),
    ("wav2vec2-stable", Wav2Vec2Config, Wav2Vec2Model, None, {**STABLE, "num_conv_pos_embeddings": 15}, {}),
    ("wav2vec2-ctc-base", Wav2Vec2Config, Wav2Vec2ForCTC, "wav2vec2", {**GROUP, **CTC}, {"legacy": True, "pickle": True}),
    ("wav2vec2-ctc-stable", Wav2Vec2Config, Wav2Vec2ForCTC, "wav2vec2", {**STABLE, **CTC}, {}),
    ("hubert-base", HubertConfig, HubertModel, None, {**GROUP}, {"legacy": True}),
    ("hubert-ctc-stable", HubertConfig, HubertForCTC, "hubert", {**STABLE, **CTC}, {}),
    ("hubert-no-proj-ln", HubertConfig, HubertModel, None, {**GROUP, "feat_proj_layer_norm": False}, {}),
    ("hubert-batchnorm", HubertConfig, HubertModel, None, {**STABLE, "conv_pos_batch_norm": True}, {}),
    ("wavlm-base", WavLMConfig, WavLMModel, None, {**GROUP, "num_buckets": 32, "max_bucket_distance": 40}, {}),
    ("wavlm-stable", WavLMConfig, WavLMModel, None, {**STABLE}, {}),
    ("data2vec-audio-base", Data2VecAudioConfig, Data2VecAudioModel, None,
     {"num_conv_pos_embeddings": 3, "conv_pos_kernel_size": 7}, {}),
    ("data2vec-audio-ctc", Data2VecAudioConfig, Data2VecAudioForCTC, "data2vec_audio",
     {"num_conv_pos_embeddings": 3, "conv_pos_kernel_size": 7, **CTC}, {}),
]


def signals():
    rng = np.random.default_rng(20240611)
    t = np.arange(16000) / SR
    chirp = np.sin(2 * np.pi * (100 * t + (1600 - 100) / 2 * t**2))
    a = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1234.5 * t) + 0.2 * chirp
    a = a + 0.05 * rng.standard_normal(16000)
    n = 11237
    tb = np.arange(n) / SR
    env = np.sin(np.pi * tb / tb[-1]) ** 2
    b = 0.5 * env * np.sin(2 * np.pi * 330 * tb) + 0.03 * rng.standard_normal(n) + 0.02
    return a.astype(np.float32), b.astype(np.float32)


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            n1 = torch.randn(p.shape, generator=g)
            n2 = torch.randn(p.shape, generator=g)
            p.mul_(1 + 0.1 * n1).add_(0.02 * n2)
        for name, buf in sorted(model.named_buffers(), key=lambda kv: kv[0]):
            if name.endswith("running_mean"):
                buf.add_(0.1 * torch.randn(buf.shape, generator=g))
            elif name.endswith("running_var"):
                buf.mul_(torch.exp(0.1 * torch.randn(buf.shape, generator=g)))


def run_case(model, base, x, mask, hidden_size):
    """Returns a dict of tensors for one case, with hooks on the conv stack and projection."""
    captured = {}
    h1 = base.feature_extractor.register_forward_hook(
        lambda m, i, o: captured.__setitem__("conv", o.transpose(1, 2).clone()))
    h2 = base.feature_projection.register_forward_hook(
        lambda m, i, o: captured.__setitem__("proj", (o[0] if isinstance(o, tuple) else o).clone()))
    with torch.inference_mode():
        out = base(x, attention_mask=mask, output_hidden_states=True)
        logits = model(x, attention_mask=mask).logits if model is not base else None
    h1.remove()
    h2.remove()
    res = {
        "conv_features": captured["conv"],
        "projected_features": captured["proj"],
        "last_hidden_state": out.last_hidden_state,
    }
    for i, h in enumerate(out.hidden_states):
        res[f"hidden_states.{i}"] = h
    if logits is not None:
        res["logits"] = logits
    T = out.last_hidden_state.shape[1]
    lens = base._get_feat_extract_output_lengths(
        mask.sum(-1) if mask is not None else torch.full((x.shape[0],), x.shape[1]))
    res["sample_lengths"] = (mask.sum(-1) if mask is not None else torch.full((x.shape[0],), x.shape[1])).long()
    res["feature_lengths"] = lens.long()
    if mask is not None:
        res["feature_attention_mask"] = (torch.arange(T)[None, :] < lens[:, None]).long()
    return {k: v.detach().clone().contiguous() for k, v in res.items()}


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def max_diff(a, b):
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    MODELS.mkdir(parents=True, exist_ok=True)
    a, b = signals()
    fe_mask = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0,
                                       do_normalize=True, return_attention_mask=True)
    fe_nomask = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=False)
    single = fe_mask(a, sampling_rate=SR, return_tensors="pt").input_values
    single_b = fe_mask(b, sampling_rate=SR, return_tensors="pt").input_values
    batch = fe_mask([a, b], sampling_rate=SR, padding=True, return_tensors="pt")
    quirk = fe_nomask([a, b], sampling_rate=SR, padding=True, return_tensors="pt").input_values
    fe_tensors = {
        "signal.a": torch.from_numpy(a),
        "signal.b": torch.from_numpy(b),
        "single.input_values": single,
        "single_b.input_values": single_b,
        "batch.input_values": batch.input_values,
        "batch.attention_mask": batch.attention_mask.to(torch.uint8),
        "batch_stats_include_padding.input_values": quirk,
    }
    safetensors.torch.save_file({k: v.contiguous() for k, v in fe_tensors.items()},
                                DATA / "feature_extractor.safetensors")
    cases = {
        "single": (single, None),
        "single_b": (single_b, None),
        "batch_masked": (batch.input_values, batch.attention_mask),
        "batch_unmasked": (batch.input_values, None),
    }

    summary = {}
    for seed, (name, cfg_cls, model_cls, base_attr, kw, extra) in enumerate(SPECS):
        torch.manual_seed(1000 + seed)
        cfg = cfg_cls(**{**GEOM, **kw})
        cfg._attn_implementation = "eager"
        model = model_cls(cfg).eval()
        perturb(model, 2000 + seed)
        base = getattr(model, base_attr) if base_attr else model
        out_dir = MODELS / f"tiny-{name}"
        if out_dir.exists():
            shutil.rmtree(out_dir)
        model.save_pretrained(out_dir)
        layer_norm = cfg.feat_extract_norm == "layer" if hasattr(cfg, "feat_extract_norm") else True
        fe = fe_mask if layer_norm else fe_nomask
        fe.save_pretrained(out_dir)
        if base_attr is not None:
            with tempfile.TemporaryDirectory() as td:
                vf = Path(td) / "vocab.json"
                vf.write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
                tok = Wav2Vec2CTCTokenizer(str(vf))
                tok.save_pretrained(out_dir)

        refs = {}
        for case, (x, mask) in cases.items():
            for k, v in run_case(model, base, x, mask, cfg.hidden_size).items():
                refs[f"{case}.{k}"] = v

        # SDPA vs eager (not available for WavLM, which is eager only)
        sdpa_diff = None
        if not name.startswith("wavlm"):
            m2 = model_cls.from_pretrained(out_dir, attn_implementation="sdpa").eval()
            b2 = getattr(m2, base_attr) if base_attr else m2
            r2 = run_case(m2, b2, batch.input_values, batch.attention_mask, cfg.hidden_size)
            sdpa_diff = max_diff(r2, {k.split(".", 1)[1]: v for k, v in refs.items() if k.startswith("batch_masked.")})

        # reload drift (current layout) must be exactly 0
        m3 = model_cls.from_pretrained(out_dir, attn_implementation="eager").eval()
        b3 = getattr(m3, base_attr) if base_attr else m3
        r3 = run_case(m3, b3, single, None, cfg.hidden_size)
        drift = max_diff(r3, {k.split(".", 1)[1]: v for k, v in refs.items() if k.startswith("single.")})
        assert drift == 0.0, (name, drift)

        sd = safetensors.torch.load_file(out_dir / "model.safetensors")
        legacy = {k.replace("parametrizations.weight.original0", "weight_g")
                   .replace("parametrizations.weight.original1", "weight_v"): v for k, v in sd.items()}
        legacy_drift = None
        if extra.get("legacy"):
            safetensors.torch.save_file(legacy, out_dir / "model.legacy_weight_norm_keys.safetensors",
                                        metadata={"format": "pt"})
            with tempfile.TemporaryDirectory() as td:
                shutil.copy(out_dir / "config.json", td)
                shutil.copy(out_dir / "model.legacy_weight_norm_keys.safetensors", Path(td) / "model.safetensors")
                m4 = model_cls.from_pretrained(td, attn_implementation="eager").eval()
                b4 = getattr(m4, base_attr) if base_attr else m4
                legacy_drift = max_diff(run_case(m4, b4, single, None, cfg.hidden_size),
                                        {k.split(".", 1)[1]: v for k, v in refs.items() if k.startswith("single.")})
                assert legacy_drift == 0.0, (name, legacy_drift)
        if extra.get("pickle"):
            torch.save({k: v.clone() for k, v in legacy.items()}, out_dir / "pytorch_model.bin")

        decodes = {}
        if base_attr is not None:
            tok = Wav2Vec2CTCTokenizer.from_pretrained(out_dir)
            for case in cases:
                ids = refs[f"{case}.logits"].argmax(-1)
                decodes[case] = {
                    "ids": ids.tolist(),
                    "text": tok.batch_decode(ids),
                    "text_skip_special": tok.batch_decode(ids, skip_special_tokens=True),
                }

        if name.startswith("wavlm"):
            attn = base.encoder.layers[0].attention
            rel = torch.arange(-1499, 1500)
            bucket = attn._relative_positions_bucket(rel[None, :])[0]
            # cross-check against compute_bias' own bucketing on a 1500-frame grid
            ctx = torch.arange(1500)[:, None]
            mem = torch.arange(1500)[None, :]
            grid = attn._relative_positions_bucket(mem - ctx)
            assert torch.equal(grid[0], bucket[1499:]) and torch.equal(grid[:, 0].flip(0), bucket[:1500])
            refs["buckets.relative_position"] = rel.long()
            refs["buckets.bucket"] = bucket.long()

        # batch vs single on the first item, for the README's batching table
        bm = refs["batch_masked.last_hidden_state"][0]
        bu = refs["batch_unmasked.last_hidden_state"][0]
        s0 = refs["single.last_hidden_state"][0]
        lb = refs["single_b.last_hidden_state"][0]
        nb = lb.shape[0]
        batch_vs_single = {
            "masked_item0": float((bm - s0).abs().max()),
            "unmasked_item0": float((bu - s0).abs().max()),
            "masked_item1_valid_frames": float((refs["batch_masked.last_hidden_state"][1, :nb] - lb).abs().max()),
        }

        ref_path = DATA / f"{name}.reference.safetensors"
        safetensors.torch.save_file({k: v.contiguous() for k, v in sorted(refs.items())}, ref_path)
        stable = bool(getattr(cfg, "do_stable_layer_norm", False))
        meta = {
            "model": name,
            "class": model_cls.__name__,
            "model_dir": f"models/tiny-{name}",
            "versions": {k: v[0] for k, v in PINS.items()} | {"python": sys.version.split()[0]},
            "seeds": {"init": 1000 + seed, "perturb": 2000 + seed, "signals": 20240611},
            "perturbation": "p <- p*(1+0.1*n1) + 0.02*n2 for every parameter (sorted by name); "
                            "running_mean += 0.1*n, running_var *= exp(0.1*n)",
            "attn_implementation": "eager",
            "sdpa_vs_eager_max_abs": sdpa_diff,
            "reload_drift": drift,
            "legacy_reload_drift": legacy_drift,
            "hidden_states_convention": "transformers 5.x: entry 0 = input of layer 0, entry i = output of layer i-1"
                                        + ("; stable: last entry is NOT normed" if stable else
                                           "; post-LN: last entry == last_hidden_state"),
            "tolerance": {"atol": TOL, "rtol": TOL},
            "batch_vs_single_last_hidden_state_max_abs": batch_vs_single,
            "weights": {k: list(v.shape) for k, v in sorted(sd.items())},
            "references": {k: list(v.shape) for k, v in sorted(refs.items())},
            "ctc_decodes": decodes,
            "sha256": {p.name: sha(p) for p in sorted(out_dir.iterdir())} | {ref_path.name: sha(ref_path)},
        }
        (DATA / f"{name}.reference.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        summary[name] = {"sdpa_vs_eager": sdpa_diff, **batch_vs_single}
        print(name, json.dumps(summary[name]))


if __name__ == "__main__":
    main()
