"""Train a small sentencepiece tokenizer, and load any tokenizer directory the same way.

Transformers 5.x traps (docs/design.md, "Tokenizers"): ``LlamaTokenizer(vocab_file=...)`` silently ignores the file
and ``LlamaTokenizer.from_pretrained`` gives wrong ids for unigram models. What works: the model
at ``DIR/tokenizer.model`` loaded by ``AutoTokenizer.from_pretrained(DIR, pad_token=...,
unk_token=..., bos_token=..., eos_token=...)``; it adds no BOS by itself (the pipeline does).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from .encode import HEADERS
from .errors import DataError

SPECIAL_PIECES = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
MODEL_FILE = "tokenizer.model"
_HF_FILES = ("tokenizer.json", "tokenizer_config.json")
MAX_SENTENCE_BYTES = 4192  # sentencepiece's default: a longer text is left out of training


class VocabTooSmall(DataError):
    """`vocab_size` cannot hold every piece the texts need: each distinct character, the 256 byte
    pieces and the special pieces. `needed` is the smallest size that trains."""

    def __init__(self, asked: int, needed: int):
        super().__init__(f"vocab_size {asked} is smaller than the {needed} pieces the texts need "
                         f"(every distinct character, 256 byte pieces and the special pieces); use at least {needed}")
        self.asked = asked
        self.needed = needed


def train_sentencepiece(texts: Iterable[str], out_dir: str, vocab_size: int, model_type: str = "bpe") -> Any:
    """Train a sentencepiece model on `texts`, write ``out_dir/tokenizer.model``, return it loaded.

    `vocab_size` is an upper bound: texts too few to learn that many pieces give a smaller
    vocabulary instead of an error (len(tokenizer) tells; models should size their embeddings
    from it). Deterministic (one thread, no sampling of the input). Ids: <pad> 0, <unk> 1, <s> 2, </s> 3;
    the default template's headers are single pieces; byte_fallback lets any text encode. The
    text is kept as is (identity normalisation, no dummy prefix, no whitespace folding), which
    code needs. The model is trained in a temporary directory and moved into place, so two
    ranks may call this at once.
    """
    import sentencepiece as spm

    texts = [t for t in texts if t and len(t.encode("utf-8")) <= MAX_SENTENCE_BYTES]  # as sentencepiece reads them
    if not texts:
        raise DataError(f"no text to train a tokenizer on (every text is empty or longer than "
                        f"{MAX_SENTENCE_BYTES} bytes)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-spm-", dir=out))
    try:
        _train(
            spm,
            sentence_iterator=iter(texts),
            model_prefix=str(tmp / "tokenizer"),
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            model_type=model_type,
            pad_id=0,
            unk_id=1,
            bos_id=2,
            eos_id=3,
            pad_piece=SPECIAL_PIECES["pad_token"],
            unk_piece=SPECIAL_PIECES["unk_token"],
            bos_piece=SPECIAL_PIECES["bos_token"],
            eos_piece=SPECIAL_PIECES["eos_token"],
            user_defined_symbols=[header.strip() for header in HEADERS.values()],
            byte_fallback=True,
            character_coverage=1.0,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=False,
            num_threads=1,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            max_sentence_length=MAX_SENTENCE_BYTES,
            minloglevel=2,
        )
        os.replace(tmp / MODEL_FILE, out / MODEL_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_tokenizer(str(out))


def _train(spm: Any, **options: Any) -> None:
    """SentencePieceTrainer.train, with its one user-facing failure as `VocabTooSmall`."""
    try:
        spm.SentencePieceTrainer.train(**options)
    except RuntimeError as exc:
        found = re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", str(exc))
        if not found:
            raise
        raise VocabTooSmall(int(found.group(1)), int(found.group(2))) from None


def load_tokenizer(directory: str) -> Any:
    """Load the tokenizer in `directory`; a bare ``tokenizer.model`` gets <pad>/<unk>/<s>/</s>.

    A tokenizer without a pad token uses its EOS as pad.
    """
    from transformers import AutoTokenizer

    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"{directory}: tokenizer directory not found; fix the tokenizer path")
    has_hf_files = any((path / name).is_file() for name in _HF_FILES)
    if (path / MODEL_FILE).is_file() and not has_hf_files:
        tokenizer = AutoTokenizer.from_pretrained(str(path), **SPECIAL_PIECES)
    elif has_hf_files:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    else:
        raise DataError(
            f"{directory}: holds no tokenizer ({MODEL_FILE}, {' or '.join(_HF_FILES)}); "
            "point to a tokenizer directory or train one with train_sentencepiece"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
