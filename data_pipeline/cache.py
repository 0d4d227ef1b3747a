"""On-disk cache of tokenized datasets, keyed by everything that changes the result.

Layout: ``<cache_dir>/<key>/`` holds ``train_*.npy``, ``valid_*.npy`` (see storage.py) and
``meta.json``. The key is a sha256 over the content hash of every data file (in task order), the
tokenizer's fingerprint and every data setting that changes tokenization or the split, plus
FORMAT_VERSION (bump it whenever the stored format or the tokenization code changes meaning).

An entry is written into a temporary sibling directory (``.tmp-...``) and renamed into place
only when complete, so a visible entry is always whole. A crash leaves at most a ``.tmp-...``
directory, which lookups never read; two processes building the same entry at once both
succeed (the loser of the rename discards its copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .config import DataConfig
from .errors import DataError
from .storage import TokenizedSplit

FORMAT_VERSION = 2  # 2: empty answers and chats ending on a user turn refused; stats name skipped lines
META_FILE = "meta.json"


def default_cache_dir() -> str:
    """Token and tokenizer cache shared by runs (entries are keyed by content): $MFT_CACHE, else
    $XDG_CACHE_HOME/mft, else ~/.cache/mft. data.cache_dir overrides it for one run."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("MFT_CACHE") or os.path.join(base, "mft")


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> dict:
    """What identifies a tokenizer's behaviour: class, sizes, special tokens, template, vocabulary.

    The vocabulary is hashed as sorted (token, id) pairs; for fast tokenizers the full backend
    serialisation (merges, normalizer, pre-tokenizer) is hashed too.
    """
    vocab = sorted(tokenizer.get_vocab().items())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return {
        "class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "special_tokens": [str(token) for token in tokenizer.all_special_tokens],
        "special_ids": [int(i) for i in tokenizer.all_special_ids],
        "bos_eos_pad": [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id],
        "chat_template": getattr(tokenizer, "chat_template", None),
        "vocab_sha256": _text_sha256(json.dumps(vocab, ensure_ascii=False)),
        "backend_sha256": _text_sha256(backend.to_str()) if backend is not None else None,
    }


def cache_key(cfg: DataConfig, tokenizer: Any) -> str:
    """The cache key of building `cfg` with `tokenizer` (files must exist)."""
    parts = {
        "format_version": FORMAT_VERSION,
        "tasks": [
            {
                "name": task.name,
                "train": [file_sha256(path) for path in task.train],
                "valid": [file_sha256(path) for path in task.valid],
                "valid_fraction": task.valid_fraction,
            }
            for task in cfg.tasks
        ],
        "schema": cfg.schema,
        "seq_length": cfg.seq_length,
        "on_bad_record": cfg.on_bad_record,
        "split_seed": cfg.split_seed,
        "chat_template": cfg.chat_template,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    return _text_sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False))


def load_entry(cache_dir: str, key: str) -> tuple[TokenizedSplit, TokenizedSplit, dict] | None:
    """Memory-map the entry `key` (train, valid, meta), or None when there is none."""
    entry = Path(cache_dir) / key
    meta_path = entry / META_FILE
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{entry}: cache entry has format {meta.get('format_version')}, expected {FORMAT_VERSION}; delete it"
        )
    num_tasks = len(meta["task_names"])
    return TokenizedSplit.load(entry, "train", num_tasks), TokenizedSplit.load(entry, "valid", num_tasks), meta


def write_entry(cache_dir: str, key: str, train: TokenizedSplit, valid: TokenizedSplit, meta: dict) -> Path:
    """Write entry `key` atomically (temp dir + rename) and return its path."""
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
    try:
        train.save(tmp, "train")
        valid.save(tmp, "valid")
        (tmp / META_FILE).write_text(json.dumps({**meta, "format_version": FORMAT_VERSION}, indent=1), encoding="utf-8")
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / META_FILE).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process wrote the same entry first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry
