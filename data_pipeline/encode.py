"""Conversations -> token ids and a loss mask (1 on the tokens the model learns).

Only answer tokens are learned: the content of every assistant turn plus the token(s) that
close it. Each piece of text is tokenized on its own (``add_special_tokens=False``) and the ids
are concatenated, so the mask lines up with the ids exactly.

Default template (used when the tokenizer has no chat template, or data.chat_template is
"default")::

    <BOS><|system|>\\n{system}\\n<|user|>\\n{user}\\n<|assistant|>\\n{answer}<EOS><|user|>\\n...

i.e. BOS (when the tokenizer has one), then per turn a header ``<|system|>\\n``,
``<|user|>\\n`` or ``<|assistant|>\\n`` and the content; system and user turns end with
``\\n``, assistant turns with EOS. Learned: assistant content and its EOS. Record text is
tokenized with ``split_special_tokens=True``, so a literal "</s>" inside a record stays text
instead of becoming an EOS.

Tokenizer chat template (data.chat_template "auto" and the tokenizer has one): the whole
conversation is rendered with ``apply_chat_template(messages, tokenize=False)``. The answer
spans are found by rendering prefixes: for assistant turn j, the messages before it with
``add_generation_prompt=True`` (end of the prompt) and the messages up to and including it
(end of the answer). The text between those two renderings is learned; it includes whatever
the template writes to close a turn (EOS, ``<|im_end|>``...), and no EOS is added beyond what
the template writes. Special-token text in the rendering (e.g. ``<s>``) maps to its id.
"""

from __future__ import annotations

from typing import Any

from .errors import DataError
from .records import BadRecord, Turn

HEADERS = {"system": "<|system|>\n", "user": "<|user|>\n", "assistant": "<|assistant|>\n"}


def uses_chat_template(tokenizer: Any, setting: str) -> bool:
    """True when records are rendered with the tokenizer's own chat template."""
    return setting == "auto" and bool(getattr(tokenizer, "chat_template", None))


class Encoder:
    """Encodes conversations with one tokenizer and one template choice ("auto" | "default")."""

    def __init__(self, tokenizer: Any, chat_template: str = "auto"):
        self.tokenizer = tokenizer
        self.with_template = uses_chat_template(tokenizer, chat_template)
        self.bos_id = tokenizer.bos_token_id
        self.eos_id = tokenizer.eos_token_id
        if self.eos_id is None and not self.with_template:
            raise DataError(
                f"tokenizer {type(tokenizer).__name__} has no EOS token, which the default template "
                "needs to end answers; use a tokenizer with an eos_token"
            )

    def encode(self, turns: list[Turn]) -> tuple[list[int], list[int]]:
        """Return (input_ids, loss_mask) for one conversation."""
        if self.with_template:
            return self._encode_with_template(turns)
        return self._encode_default(turns)

    def encode_prompt(self, turns: list[Turn]) -> list[int]:
        """Token ids of a conversation without its answer, ending where the model's answer starts:
        exactly the ids `encode` puts before the answer of ``turns + [assistant turn]``."""
        if self.with_template:
            messages = [{"role": turn.role, "content": turn.content} for turn in turns]
            return self._ids(self._render(messages, generation_prompt=True), split_special=False)
        ids, _ = self._encode_default(turns)
        return ids + self._ids(HEADERS["assistant"], split_special=False)

    def _ids(self, text: str, *, split_special: bool) -> list[int]:
        if not text:
            return []
        if split_special:
            return self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _encode_default(self, turns: list[Turn]) -> tuple[list[int], list[int]]:
        ids: list[int] = [] if self.bos_id is None else [self.bos_id]
        mask: list[int] = [0] * len(ids)

        def add(piece: list[int], learned: int) -> None:
            ids.extend(piece)
            mask.extend([learned] * len(piece))

        for turn in turns:
            add(self._ids(HEADERS[turn.role], split_special=False), 0)
            if turn.role == "assistant":
                add(self._ids(turn.content, split_special=True) + [self.eos_id], 1)
            else:
                add(self._ids(turn.content + "\n", split_special=True), 0)
        return ids, mask

    def _render(self, messages: list[dict], generation_prompt: bool) -> str:
        try:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            )
        except Exception as err:  # jinja's raise_exception and template bugs alike
            raise BadRecord("template_error", f"the tokenizer's chat template rejected the record ({err})") from None
        if not isinstance(text, str):
            raise DataError(
                'apply_chat_template(tokenize=False) did not return text; set data.chat_template="default"'
            )
        return text

    def _encode_with_template(self, turns: list[Turn]) -> tuple[list[int], list[int]]:
        messages = [{"role": turn.role, "content": turn.content} for turn in turns]
        pieces: list[tuple[str, int]] = []  # (text, learned)
        done = ""  # rendering covered by `pieces` so far
        for j, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            prompt_end = self._render(messages[:j], generation_prompt=True)
            answer_end = self._render(messages[: j + 1], generation_prompt=False)
            self._check_prefix(done, prompt_end, j)
            self._check_prefix(prompt_end, answer_end, j)
            pieces += [(prompt_end[len(done):], 0), (answer_end[len(prompt_end):], 1)]
            done = answer_end
        full = self._render(messages, generation_prompt=False)
        self._check_prefix(done, full, len(turns))
        pieces.append((full[len(done):], 0))

        ids: list[int] = []
        mask: list[int] = []
        for text, learned in pieces:
            piece = self._ids(text, split_special=False)
            ids.extend(piece)
            mask.extend([learned] * len(piece))
        return ids, mask

    @staticmethod
    def _check_prefix(prefix: str, text: str, turn: int) -> None:
        if not text.startswith(prefix):
            raise DataError(
                f"the tokenizer's chat template renders turn {turn} differently once later turns follow, "
                "so answer tokens cannot be located; set data.chat_template=\"default\""
            )
