#!/usr/bin/env python3
"""Generate the voxprobe-ssl checkpoint / transcription fixtures (issue 18).

Run through scripts/gen_ssl_ckpt_fixtures.sh, which makes target/venv-ssl from the pins in
scripts/requirements-ssl.txt (Python 3.11, torch 2.15.0, transformers 5.23.0, safetensors 0.8.0,
numpy 2.4.6, tokenizers 0.23.3, huggingface-hub 2.4.0; asserted below).

Writes
  models/tiny-wav2vec2-ctc-960h/         Wav2Vec2ForCTC as facebook/wav2vec2-base-960h (group-norm convs,
                                          post-LN), its 32-token letter vocabulary and tokenizer files in
                                          that repository's layout (vocab.json, tokenizer_config.json,
                                          special_tokens_map.json, preprocessor_config.json)
  models/tiny-wav2vec2-ctc-960h-sharded/ the same weights as model.safetensors.index.json + 3 shards
  models/tiny-wav2vec2-ctc-960h-sharded-bin/  the same weights as pytorch_model.bin.index.json + 3 pickles
  models/tiny-wav2vec2-ctc-lv60/         Wav2Vec2ForCTC as wav2vec2-large-960h-lv60-self (layer-norm convs,
                                          stable LN, attention masks), same vocabulary: batching is exact
  crates/voxprobe-ssl/tests/data/librivox_ctc.logits.safetensors  logits per LibriVox clip and model
  crates/voxprobe-ssl/tests/data/librivox_ctc.json         transcripts, char/word offsets (frames and
                                          seconds) from Wav2Vec2CTCTokenizer.decode, shard drift, versions
  crates/voxprobe-ssl/tests/data/ctc_offsets.json     decodes of hand-made id sequences
                                          (edge cases) with and without skip_special_tokens

Weights are random (seeded) and perturbed as in gen_ssl_fixtures.py; the lm_head is then rescaled
and biased so that greedy decoding of real speech gives several words with repeated letters,
blanks and delimiters (asserted), and the top-2 logit gap of every frame is checked to be far
above the parity tolerance, so that argmax cannot flip between implementations.

The output is byte-identical across runs. CI never runs this script.
"""
import hashlib
import json
import shutil
import sys
import tempfile
import wave
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
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2Processor,
)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
DATA = ROOT / "crates" / "voxprobe-ssl" / "tests" / "data"
CLIP_DIR = ROOT / "crates" / "voxprobe-audio" / "tests" / "data"
CLIPS = [f"sense_and_sensibility_01_austen_64kb-{n}" for n in ("0870", "0880", "0890", "0920", "0930")]
SR = 16000
TOL = 1e-4
# every frame's best logit must beat the second by this much (>> TOL), so argmax is stable
MIN_TOP2_GAP = 2e-3

# facebook/wav2vec2-base-960h's vocab.json, in its order
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L",
         "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"]
# that repository's tokenizer files (old-style: no word_delimiter_token, defaults apply)
TOKENIZER_CONFIG = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
                    "do_lower_case": False, "return_attention_mask": False, "do_normalize": True}
SPECIAL_TOKENS_MAP = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}

GEOM = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    conv_dim=[16] * 7, conv_kernel=[10, 3, 3, 3, 3, 2, 2], conv_stride=[5, 2, 2, 2, 2, 2, 2],
    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, layer_norm_eps=1e-5,
    hidden_act="gelu", feat_extract_activation="gelu", vocab_size=len(VOCAB), pad_token_id=0,
    bos_token_id=1, eos_token_id=2,
)
# name, config kwargs, preprocessor return_attention_mask, seed, lm_head logit scale
MODELS_SPEC = [
    ("wav2vec2-ctc-960h", dict(feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False),
     False, 0, 8.0),
    ("wav2vec2-ctc-lv60", dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),
     True, 1, 8.0),
]
# edge cases for the tokenizer-only reference (ids into VOCAB)
ID_CASES = {
    "empty": [],
    "blanks_only": [0, 0, 0],
    "repeat_and_blank": [11, 11, 0, 5, 5, 15, 0, 15, 8, 4, 4, 18, 8, 13, 15, 14],
    "leading_trailing_delimiters": [4, 4, 6, 11, 5, 4, 0, 4, 7, 4, 4],
    "specials_inside": [1, 11, 10, 3, 3, 0, 12, 4, 2, 7, 0],
    "apostrophe_and_unknown_id": [14, 8, 9, 27, 6, 4, 99, 0, 26, 9, 8, 18],
    "delimiter_runs_with_blanks": [0, 7, 0, 4, 0, 4, 24, 24, 0, 4, 19],
}


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            n1 = torch.randn(p.shape, generator=g)
            n2 = torch.randn(p.shape, generator=g)
            p.mul_(1 + 0.1 * n1).add_(0.02 * n2)


def shape_lm_head(model, seed, scale, inputs):
    """Random lm_head with logits of std ~`scale`, then blank and delimiter biases chosen from the
    data: blank wins about half of the frames, the delimiter about a sixth of the rest, and the
    biases are nudged until every frame's top-2 gap exceeds MIN_TOP2_GAP."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model.lm_head.weight
        w.copy_(torch.randn(w.shape, generator=g) * scale / np.sqrt(w.shape[1]))
        b = model.lm_head.bias
        b.copy_(0.1 * torch.randn(b.shape, generator=g))
        b[1:4] -= scale  # <s>, </s>, <unk>: rare, as in a trained model
        with torch.inference_mode():
            logits = torch.cat([model(x).logits[0] for x in inputs])
        others = logits.clone()
        others[:, 0] = -float("inf")
        blank = round(float((others.max(-1).values - logits[:, 0]).median()), 1)
        nb = logits[logits[:, 0] + blank < others.max(-1).values]
        others = nb.clone()
        others[:, 4] = -float("inf")
        delim = round(float((others.max(-1).values - nb[:, 4]).quantile(1 / 6)), 1)
        base = b.clone()
        for k in range(40):
            b.copy_(base)
            b[0] += blank + 0.05 * k
            b[4] += delim + 0.05 * k
            top2 = (logits - base + b).topk(2, dim=-1).values
            gap = float((top2[:, 0] - top2[:, 1]).min())
            if gap > MIN_TOP2_GAP:
                return float(b[0]), float(b[4]), gap
    raise AssertionError("no bias gives a clear argmax on every frame")


def read_clip(name):
    with wave.open(str(CLIP_DIR / f"{name}.wav"), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == SR, name
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_json(path, obj, indent=1):
    Path(path).write_text(json.dumps(obj, indent=indent, sort_keys=True, separators=(",", ":") if indent is None else None) + "\n")


def write_tokenizer_files(out_dir, return_attention_mask):
    write_json(out_dir / "vocab.json", {t: i for i, t in enumerate(VOCAB)})
    write_json(out_dir / "tokenizer_config.json", TOKENIZER_CONFIG)
    write_json(out_dir / "special_tokens_map.json", SPECIAL_TOKENS_MAP)
    write_json(out_dir / "preprocessor_config.json", {
        "do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
        "padding_side": "right", "padding_value": 0.0, "return_attention_mask": return_attention_mask,
        "sampling_rate": SR,
    })


def offsets_json(out, ratio, rate):
    def sec(o):
        return int(o) * ratio / rate  # offset x inputs_to_logits_ratio / sampling_rate
    return {
        "text": out.text,
        "char_offsets": [{"char": c["char"], "start_offset": int(c["start_offset"]),
                          "end_offset": int(c["end_offset"]), "start": sec(c["start_offset"]),
                          "end": sec(c["end_offset"])} for c in out.char_offsets],
        "word_offsets": [{"word": w["word"], "start_offset": int(w["start_offset"]),
                          "end_offset": int(w["end_offset"]), "start": sec(w["start_offset"]),
                          "end": sec(w["end_offset"])} for w in out.word_offsets],
    }


def decode_all(tok, ids, ratio, rate):
    res = {}
    for skip in (False, True):
        out = tok.decode(ids, skip_special_tokens=skip, output_char_offsets=True, output_word_offsets=True)
        plain = tok.decode(ids, skip_special_tokens=skip)
        assert plain == out.text
        res["skip_special" if skip else "default"] = offsets_json(out, ratio, rate)
    return res


def save_bin_shards(model, out_dir, n_shards):
    """pytorch_model-0000k-of-0000n.bin + pytorch_model.bin.index.json in transformers' 4.x layout."""
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    keys = list(sd)
    per = -(-len(keys) // n_shards)
    weight_map = {}
    total = 0
    for s in range(n_shards):
        fname = f"pytorch_model-{s + 1:05d}-of-{n_shards:05d}.bin"
        part = {k: sd[k] for k in keys[s * per:(s + 1) * per]}
        torch.save(part, out_dir / fname)
        for k, v in part.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
    write_json(out_dir / "pytorch_model.bin.index.json",
               {"metadata": {"total_size": total}, "weight_map": weight_map})


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    clips = {c: read_clip(c) for c in CLIPS}
    refs = {}
    meta = {
        "versions": {k: v[0] for k, v in PINS.items()} | {"python": sys.version.split()[0]},
        "clips": {c: {"samples": int(len(x)), "source": f"crates/voxprobe-audio/tests/data/{c}.wav"}
                  for c, x in clips.items()},
        "tolerance": {"atol": TOL, "rtol": TOL},
        "min_top2_gap": MIN_TOP2_GAP,
        "models": {},
    }
    tok_ref = None
    for name, kw, ram, seed, scale in MODELS_SPEC:
        torch.manual_seed(3000 + seed)
        cfg = Wav2Vec2Config(**{**GEOM, **kw})
        cfg.architectures = ["Wav2Vec2ForCTC"]
        cfg._attn_implementation = "eager"
        model = Wav2Vec2ForCTC(cfg).eval()
        perturb(model, 4000 + seed)
        fe0 = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=ram)
        blank_bias, delim_bias, _ = shape_lm_head(
            model, 5000 + seed, scale,
            [fe0(x, sampling_rate=SR, return_tensors="pt").input_values for x in clips.values()])
        out_dir = MODELS / f"tiny-{name}"
        if out_dir.exists():
            shutil.rmtree(out_dir)
        model.save_pretrained(out_dir)
        write_tokenizer_files(out_dir, ram)
        processor = Wav2Vec2Processor.from_pretrained(out_dir)
        tok = processor.tokenizer
        assert isinstance(tok, Wav2Vec2CTCTokenizer) and tok.word_delimiter_token == "|"
        fe = processor.feature_extractor
        assert isinstance(fe, Wav2Vec2FeatureExtractor) and fe.sampling_rate == SR
        ratio = model.config.inputs_to_logits_ratio
        assert ratio == 320
        tok_ref = tok_ref or tok

        m = {"class": "Wav2Vec2ForCTC", "model_dir": f"models/tiny-{name}",
             "seeds": {"init": 3000 + seed, "perturb": 4000 + seed, "lm_head": 5000 + seed},
             "lm_head": {"scale": scale, "blank_bias": blank_bias, "delimiter_bias": delim_bias},
             "inputs_to_logits_ratio": ratio, "sampling_rate": fe.sampling_rate, "clips": {}}
        min_gap = float("inf")
        for c, x in clips.items():
            inp = fe(x, sampling_rate=SR, return_tensors="pt")
            with torch.inference_mode():
                logits = model(inp.input_values).logits
            refs[f"{name}.{c}.logits"] = logits.contiguous()
            top2 = logits[0].topk(2, dim=-1).values
            min_gap = min(min_gap, float((top2[:, 0] - top2[:, 1]).min()))
            ids = logits[0].argmax(-1).tolist()
            d = decode_all(tok, ids, ratio, fe.sampling_rate)
            words = d["default"]["word_offsets"]
            # non-trivial output: several words, collapsed repeats, blanks
            assert len(words) >= 3, (name, c, d["default"]["text"])
            assert any(a == b and a > 4 for a, b in zip(ids, ids[1:])), (name, c)
            assert ids.count(0) > len(ids) // 5, (name, c)
            m["clips"][c] = {"frames": len(ids), "ids": ids, **d}
            print(name, c, len(ids), "frames:", d["default"]["text"])
        assert min_gap > MIN_TOP2_GAP, (name, min_gap)
        m["min_top2_gap"] = min_gap

        # batched (masked for lv60, as its preprocessor says) vs one by one
        batch = fe([clips[c] for c in CLIPS], sampling_rate=SR, padding=True, return_tensors="pt")
        with torch.inference_mode():
            bl = model(batch.input_values, attention_mask=batch.get("attention_mask")).logits
        diffs = []
        for i, c in enumerate(CLIPS):
            t = refs[f"{name}.{c}.logits"].shape[1]
            diffs.append(float((bl[i, :t] - refs[f"{name}.{c}.logits"][0]).abs().max()))
        m["hf_batched_vs_single_logits_max_abs"] = dict(zip(CLIPS, diffs))

        if name == "wav2vec2-ctc-960h":
            # sharded copies: same weights, same logits (exactly)
            for kind in ("sharded", "sharded-bin"):
                sdir = MODELS / f"tiny-{name}-{kind}"
                if sdir.exists():
                    shutil.rmtree(sdir)
                if kind == "sharded":
                    model.save_pretrained(sdir, max_shard_size="45KB")
                    index = sdir / "model.safetensors.index.json"
                else:
                    sdir.mkdir(parents=True)
                    model.config.save_pretrained(sdir)
                    save_bin_shards(model, sdir, 3)
                    index = sdir / "pytorch_model.bin.index.json"
                assert index.is_file(), sorted(p.name for p in sdir.iterdir())
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
                assert len(shards) >= 2, shards
                for f in ("vocab.json", "tokenizer_config.json", "special_tokens_map.json",
                          "preprocessor_config.json"):
                    shutil.copy(out_dir / f, sdir / f)
                m2 = Wav2Vec2ForCTC.from_pretrained(sdir, attn_implementation="eager").eval()
                drift = 0.0
                for c, x in clips.items():
                    inp = fe(x, sampling_rate=SR, return_tensors="pt")
                    with torch.inference_mode():
                        l2 = m2(inp.input_values).logits
                    drift = max(drift, float((l2 - refs[f"{name}.{c}.logits"]).abs().max()))
                assert drift == 0.0, (kind, drift)
                m[f"{kind}_reload_drift"] = drift
                m[f"{kind}_files"] = {p.name: sha(p) for p in sorted(sdir.iterdir())}
        m["sha256"] = {p.name: sha(p) for p in sorted(out_dir.iterdir())}
        meta["models"][name] = m

    ref_path = DATA / "librivox_ctc.logits.safetensors"
    safetensors.torch.save_file({k: v for k, v in sorted(refs.items())}, ref_path)
    meta["sha256"] = {ref_path.name: sha(ref_path)}
    write_json(DATA / "librivox_ctc.json", meta, indent=None)

    # tokenizer-only edge cases; also a tokenizer with lower-casing and clean-up
    with tempfile.TemporaryDirectory() as td:
        vf = Path(td) / "vocab.json"
        vf.write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
        lower = Wav2Vec2CTCTokenizer(str(vf), do_lower_case=True)
    cases = {}
    for cname, ids in ID_CASES.items():
        cases[cname] = {"ids": ids, "default_tokenizer": decode_all(tok_ref, ids, 320, SR),
                        "lower_case_tokenizer": decode_all(lower, ids, 320, SR)}
    write_json(DATA / "ctc_offsets.json", {
        "versions": meta["versions"], "vocab": VOCAB, "inputs_to_logits_ratio": 320, "sampling_rate": SR,
        "tokenizers": {"default_tokenizer": "models/tiny-wav2vec2-ctc-960h (base-960h tokenizer files)",
                       "lower_case_tokenizer": "same vocab.json, do_lower_case=True"},
        "cases": cases,
    })


if __name__ == "__main__":
    main()
