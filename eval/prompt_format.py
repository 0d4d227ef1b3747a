"""Prompts built in the format a model was trained on.

The trainer writes `prompt_format.json` into every model folder it exports
(`data_pipeline.prompt_format` is the writer; this module only reads it). A benchmark prompt
then becomes the user turn of a conversation, encoded by data_pipeline's own
`Encoder.encode_prompt`, so the model is scored on exactly the ids it learned to answer.

Choices (`--prompt-format`): "auto" (the record when the folder has one, else "raw"), "raw" (the
benchmark text as it is, through the tokenizer: what a base model expects) and "chat" (the
record's format, or the tokenizer's template / the headers when there is no record).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from data_pipeline.encode import Encoder
from data_pipeline.prompt_format import FILE, PromptFormat
from data_pipeline.records import Turn

from .errors import EvalError

CHOICES = ("auto", "raw", "chat")


def read_prompt_format(folder: str | Path) -> PromptFormat | None:
    """The record in `folder`, or None when the model was not exported by mft."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return PromptFormat(chat_template=record["chat_template"], system=record.get("system", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"{path}: unreadable prompt-format record ({exc}); delete it to score raw prompts")


class Prompter:
    """Benchmark text -> the prompt ids a model is given (`fmt` None: the raw text)."""

    def __init__(self, tokenizer: Any, fmt: PromptFormat | None):
        self.tokenizer = tokenizer
        self.format = fmt
        self.encoder = None if fmt is None else Encoder(tokenizer, fmt.chat_template)

    @property
    def name(self) -> str:
        """'raw', 'chat-template' or 'headers' (with '+system' when a system turn is added)."""
        if self.encoder is None:
            return "raw"
        return ("chat-template" if self.encoder.with_template else "headers") + ("+system" if self.format.system else "")

    def ids(self, text: str) -> list[int]:
        """The ids of one benchmark prompt."""
        if self.encoder is None:
            return self.tokenizer(text)["input_ids"]
        return self.conversation_ids([Turn("user", text)])

    def conversation_ids(self, turns: Sequence[Turn]) -> list[int]:
        """The ids of a conversation (no answer yet) up to where the answer starts."""
        if self.encoder is None:
            return self.tokenizer("".join(t.content for t in turns))["input_ids"]
        system = [Turn("system", self.format.system)] if self.format.system and turns[0].role != "system" else []
        return self.encoder.encode_prompt(system + list(turns))

    def text(self, ids: Sequence[int]) -> str:
        """The exact text of prompt ids, special tokens included (what the per-sample files keep)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


def resolve_format(folder: str | Path, choice: str = "auto") -> PromptFormat | None:
    """The format a --prompt-format choice means for the model in `folder` (None: raw text)."""
    if choice not in CHOICES:
        raise EvalError(f"unknown --prompt-format {choice!r}; choose from {', '.join(CHOICES)}")
    if choice == "raw":
        return None
    recorded = read_prompt_format(folder)
    if choice == "auto":
        return recorded
    return recorded or PromptFormat()


def make_prompter(folder: str | Path, tokenizer: Any, choice: str = "auto") -> Prompter:
    """The prompter for the model in `folder` under a --prompt-format choice."""
    return Prompter(tokenizer, resolve_format(folder, choice))
