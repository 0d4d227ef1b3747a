"""The prompt format a model was trained on, written beside every exported model.

    {"chat_template": "auto", "uses_chat_template": false, "system": ""}

`chat_template` is the run's data.chat_template ("auto": the tokenizer's own template when it has
one; "default": the built-in <|user|> / <|assistant|> headers), `uses_chat_template` what that
meant for the run's tokenizer, and `system` a system turn put before every prompt ("" for none).
The record belongs to the data pipeline because its encoder produced the training format;
`eval.prompt_format` reads it to build benchmark prompts in the same format.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .encode import uses_chat_template

FILE = "prompt_format.json"


@dataclass(frozen=True)
class PromptFormat:
    chat_template: str = "auto"  # the run's data.chat_template: "auto" | "default"
    system: str = ""  # system turn before every prompt; "" = none


def write_prompt_format(folder: str | Path, tokenizer: Any, chat_template: str, system: str = "") -> None:
    """Record in `folder` how the model saved there was trained to read prompts."""
    record = {**asdict(PromptFormat(chat_template, system)),
              "uses_chat_template": uses_chat_template(tokenizer, chat_template)}
    (Path(folder) / FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
