"""train_sentencepiece / load_tokenizer: sizes, ids equal to sentencepiece's, save and reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece as spm

from data_pipeline import DataError, load_tokenizer, train_sentencepiece
from data_pipeline.tokenizers import VocabTooSmall

try:
    from .data_fixtures import corpus, spm_dir, tokenizer  # noqa: F401
except ImportError:
    from data_fixtures import corpus, spm_dir, tokenizer  # noqa: F401

KNOWN_TEXT = "def answer(x):\n    return x  + 1\t# héllo ☃ 中"


def test_vocab_size_and_special_ids(tokenizer, spm_dir: Path):
    processor = spm.SentencePieceProcessor(model_file=str(spm_dir / "tokenizer.model"))
    assert len(tokenizer) == 320 == processor.get_piece_size()
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (
        0,
        1,
        2,
        3,
    )
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<pad>", "<unk>", "<s>", "</s>"]
    for header in ("<|system|>", "<|user|>", "<|assistant|>"):
        assert len(tokenizer.encode(header, add_special_tokens=False)) == 1


def test_ids_equal_sentencepiece_and_no_bos_added(tokenizer, spm_dir: Path):
    processor = spm.SentencePieceProcessor(model_file=str(spm_dir / "tokenizer.model"))
    for text in (KNOWN_TEXT, "while x in list:\n\n  print(value)", " leading space", "x"):
        assert tokenizer.encode(text, add_special_tokens=False) == processor.encode(text)
        assert tokenizer.encode(text) == processor.encode(text)  # the pipeline adds BOS/EOS itself
    assert tokenizer.decode(tokenizer.encode(KNOWN_TEXT, add_special_tokens=False)) == KNOWN_TEXT


def test_save_pretrained_and_reload_keep_ids(tokenizer, tmp_path: Path):
    tokenizer.save_pretrained(str(tmp_path / "saved"))
    reloaded = load_tokenizer(str(tmp_path / "saved"))
    assert reloaded.encode(KNOWN_TEXT, add_special_tokens=False) == tokenizer.encode(KNOWN_TEXT, add_special_tokens=False)
    assert (reloaded.pad_token_id, reloaded.bos_token_id, reloaded.eos_token_id) == (0, 2, 3)
    assert len(reloaded) == len(tokenizer)


def test_training_is_deterministic_and_unigram_works(tmp_path: Path, spm_dir: Path):
    train_sentencepiece(corpus(), str(tmp_path / "again"), vocab_size=320)
    first = spm.SentencePieceProcessor(model_file=str(spm_dir / "tokenizer.model"))
    again = spm.SentencePieceProcessor(model_file=str(tmp_path / "again" / "tokenizer.model"))
    pieces = [(first.id_to_piece(i), first.get_score(i)) for i in range(first.get_piece_size())]
    assert pieces == [(again.id_to_piece(i), again.get_score(i)) for i in range(again.get_piece_size())]
    assert [p.name for p in (tmp_path / "again").iterdir()] == ["tokenizer.model"]  # no temp dir left

    unigram = train_sentencepiece(corpus(), str(tmp_path / "uni"), vocab_size=320, model_type="unigram")
    processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "uni" / "tokenizer.model"))
    assert len(unigram) == 320
    assert unigram.encode(KNOWN_TEXT, add_special_tokens=False) == processor.encode(KNOWN_TEXT)


def test_load_tokenizer_errors_name_the_directory(tmp_path: Path):
    with pytest.raises(DataError, match=r"missing_dir: tokenizer directory not found"):
        load_tokenizer(str(tmp_path / "missing_dir"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: holds no tokenizer \(tokenizer.model"):
        load_tokenizer(str(tmp_path / "empty"))


def test_too_few_texts_give_a_smaller_vocabulary_not_an_error(tmp_path: Path):
    small = train_sentencepiece([f"p{i} c{i}" for i in range(10)], str(tmp_path / "small"), vocab_size=300)
    processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "small" / "tokenizer.model"))
    assert 263 <= len(small) == processor.get_piece_size() < 300  # 4 special + 3 headers + 256 bytes at least
    assert small.encode("p3 c9", add_special_tokens=False) == processor.encode("p3 c9")


def test_a_vocabulary_too_small_for_the_characters_says_the_smallest_that_trains(tmp_path: Path):
    texts = [f"{word} {i}" for i, word in enumerate(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])]
    with pytest.raises(VocabTooSmall) as err:
        train_sentencepiece(texts, str(tmp_path / "a"), vocab_size=200)
    needed = err.value.needed
    assert err.value.asked == 200 and str(err.value).endswith(f"use at least {needed}")
    with pytest.raises(VocabTooSmall):
        train_sentencepiece(texts, str(tmp_path / "b"), vocab_size=needed - 1)
    assert len(train_sentencepiece(texts, str(tmp_path / "c"), vocab_size=needed)) == needed


def test_no_text_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="^no text to train a tokenizer on"):
        train_sentencepiece(["", "x" * 5000], str(tmp_path / "t"), vocab_size=300)
