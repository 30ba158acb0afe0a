r"""Model-based rewards: ``safety`` and ``helpfulness``, scored by a sequence-classification model.

DeepSeek-R1's stage 4 adds preference rewards for general (non-reasoning) prompts: a pointwise
*safety* reward model that judges the **whole response, reasoning included**, and a
*helpfulness* reward model that judges **only the final summary** (the text after
``</think>``). Both rewards here load any ``AutoModelForSequenceClassification`` checkpoint (a
local directory, e.g. what the ``reward_model`` stage of trl_r1 wrote, or a Hub id):

- **What the model reads** (:func:`render`): the prompt's last user message through the
  checkpoint tokenizer's chat template with the generation prompt, then the response text
  verbatim, as the policy produced it. Appending the response instead of passing it through the
  template as an assistant turn keeps templates that strip ``<think>`` blocks from assistant
  turns (DeepSeek-R1's, Qwen3's) from hiding the reasoning. A tokenizer without a chat template
  reads ``question + "\n\n" + response``. The ``reward_model`` stage trains on the very same text
  (it calls these functions), so a checkpoint it wrote sees at scoring time what it saw in
  training.
- **Truncation**: only past ``max_length`` tokens (default: the model's own maximum, its
  ``max_position_embeddings``, so that a 32k-token response is read whole, as R1 reads it), on
  the tokenizer's ``truncation_side`` (right by default); each truncated completion is counted
  in ``<name>/truncated``.
- **Batching**: ``batch_size`` completions per forward pass, grouped by length (less padding),
  under ``torch.inference_mode`` on the trainer's device (``accelerate.PartialState().device``;
  without accelerate, CUDA when available, else CPU); the ``device`` option overrides.
- **Lazy loading**: the model loads on the first call, so checking a recipe or building the
  trainer loads nothing (a scheduled reward loads its model when its window opens). Missing
  ``torch``/``transformers`` fail at construction, naming the ``trl-r1-rewards[models]`` extra;
  a local checkpoint's labels are checked at construction too.
- **Never raises on model output**: any text is scored; a non-finite score becomes 0.0 and is
  counted in ``<name>/nonfinite``.

Use them for general rows only, next to rule-based rewards for reasoning rows, with
:func:`trl_r1_rewards.routing.for_tasks` (a ``task`` column); R1 switched them on for the last
400 steps only (trl_r1's reward schedules).
"""

from __future__ import annotations


import importlib.util
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from .base import Reward
from .shims import whole_model
from .text import answer_region, completion_text, last_user_message

EXTRA = "trl-r1-rewards[models]"
SQUASHES = ("none", "sigmoid", "tanh")


def require_models(what: str) -> None:
    """Fail with an install hint when torch or transformers is missing (without importing them)."""
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"{what} runs a model and needs {' and '.join(missing)}: pip install '{EXTRA}'")


def response_text(completion: object, summary_only: bool = False) -> str | None:
    """What a pointwise reward model judges of a completion: the whole text, reasoning included,
    or with ``summary_only`` the summary after the last ``</think>`` (``None``: reasoning never
    closed, so there is no summary; no think tags at all: everything is summary).

    >>> response_text("<think>hm</think> Paris."), response_text("<think>hm</think> Paris.", summary_only=True)
    ('<think>hm</think> Paris.', ' Paris.')
    >>> response_text([{"role": "assistant", "content": "<think>hm..."}], summary_only=True) is None
    True
    """
    text = completion_text(completion)
    return answer_region(text) if summary_only else text


def prompt_text(tokenizer, question: str) -> str:
    """What comes before the response: the question as the user turn of the chat template, with
    the generation prompt; ``question + "\\n\\n"`` for a tokenizer without a chat template."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
    return question + "\n\n"


def render(tokenizer, prompt: object, response: str) -> str:
    """The text a pointwise reward model reads for ``(prompt, response)`` (module docstring):
    the prompt's last user message through :func:`prompt_text`, then the response verbatim."""
    return prompt_text(tokenizer, last_user_message(prompt)) + response


def tokenize(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids of rendered texts, cut to ``max_length`` on the tokenizer's truncation side,
    and whether each was cut. Special tokens are added only when there is no chat template
    (a template writes its own)."""
    encoded = tokenizer(list(texts), add_special_tokens=not getattr(tokenizer, "chat_template", None))["input_ids"]
    left = getattr(tokenizer, "truncation_side", "right") == "left"
    ids = [(x[-max_length:] if left else x[:max_length]) if len(x) > max_length else list(x) for x in encoded]
    return ids, [len(x) > max_length for x in encoded]


def model_max_length(config, tokenizer=None) -> int:
    """The most tokens a model reads: its config's ``max_position_embeddings`` (text config, for
    multimodal models), else the tokenizer's ``model_max_length`` when that is a real number.

    >>> from types import SimpleNamespace as C
    >>> model_max_length(C(get_text_config=lambda: C(max_position_embeddings=32768)))
    32768
    """
    found = getattr(config.get_text_config(), "max_position_embeddings", None)
    if not found and tokenizer is not None and getattr(tokenizer, "model_max_length", 0) < 10**9:
        found = tokenizer.model_max_length
    if not found:
        raise ValueError("max_length: the model declares no maximum length; set the reward's `max_length`")
    return int(found)


def label_index(id2label: dict, label: str | int, model: str = "the model") -> int:
    """The output index of ``label`` (a name from the checkpoint's ``id2label``, or an index).

    >>> label_index({0: "unsafe", 1: "safe"}, "safe"), label_index({"0": "LABEL_0", "1": "LABEL_1"}, 1)
    (1, 1)
    """
    names = {int(k): v for k, v in id2label.items()}
    if isinstance(label, int) and not isinstance(label, bool) and label in names:
        return label
    for index, name in names.items():
        if name == label:
            return index
    raise ValueError(
        f"label {label!r} is not an output of {model}; its labels are {names}: set `label` to one of these "
        "names or indices"
    )


def _squash(value: float, how: str) -> float:
    if how == "sigmoid":
        return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1.0 + math.exp(value))
    if how == "tanh":
        return math.tanh(value)
    return value


class SequenceClassifierReward(Reward):
    """A reward read off a sequence-classification model's output for ``(prompt, response)``.

    The model's *score* of a completion is its single output (a 1-output model), or the
    probability of ``label`` (softmax over the outputs) for a classifier; subclasses choose
    what of the completion is read (:attr:`summary_only`) and how the score becomes the reward.
    """

    summary_only: ClassVar[bool] = False
    counters = ("truncated", "nonfinite")

    def __init__(
        self,
        *,
        model: str,
        label: str | int | None = None,
        batch_size: int = 8,
        max_length: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
    ):
        super().__init__()
        if not isinstance(model, str) or not model:
            raise ValueError(f"{self.name}: `model` must be a checkpoint path or Hub id, got {model!r}")
        if isinstance(label, bool) or (label is not None and not isinstance(label, (str, int))):
            raise ValueError(f"{self.name}: `label` must be a label name or index, got {label!r}")
        for key, value in (("batch_size", batch_size), ("max_length", 1 if max_length is None else max_length)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{self.name}: `{key}` must be a positive integer, got {value!r}")
        require_models(f"The {self.name} reward")
        self.model = model
        self.label = label
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.dtype = dtype
        self._model = self._tokenizer = None
        self._max_length: int | None = None  # max_length, or the model's maximum once loaded
        self._label_index: int | None = None
        config = Path(model) / "config.json"
        if config.is_file():  # a local checkpoint: check its labels now, not when the model first runs
            try:
                id2label = json.loads(config.read_text()).get("id2label") or {}
            except (OSError, ValueError):
                id2label = {}
            self._check_label(id2label)

    def _check_label(self, id2label: dict) -> None:
        if len(id2label) > 1:
            if self.label is None:
                raise ValueError(f"{self.name}: {self.model} is a classifier with labels "
                                 f"{ {int(k): v for k, v in id2label.items()} }: set `label` to the one whose probability is the reward")
            self._label_index = label_index(id2label, self.label, self.model)

    def __getstate__(self) -> dict:
        state = dict(vars(self))
        state["_model"] = state["_tokenizer"] = None  # reloaded lazily where unpickled
        return state

    def _device(self):
        import torch

        if self.device:
            return torch.device(self.device)
        try:
            from accelerate import PartialState
        except ImportError:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return PartialState().device

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model)
        with whole_model():  # even under DeepSpeed ZeRO-3 (see shims.py)
            model = AutoModelForSequenceClassification.from_pretrained(self.model, dtype=self.dtype)
        self._check_label(model.config.id2label if model.config.num_labels > 1 else {})
        text_config = model.config.get_text_config()
        if text_config.pad_token_id is None:  # the model finds each row's last token by the pad id
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            text_config.pad_token_id = pad if pad is not None else 0
        model.requires_grad_(False)
        self._model, self._tokenizer = model.to(self._device()).eval(), tokenizer
        self._max_length = self.max_length or model_max_length(model.config, tokenizer)

    def model_scores(self, texts: list[str], counts: Counter[str]) -> list[float]:
        """The model's score of each rendered text, in order (batched, grouped by length)."""
        import torch

        if self._model is None:
            self._load()
        ids, truncated = tokenize(self._tokenizer, texts, self._max_length)
        counts["truncated"] += sum(truncated)
        pad = self._model.config.get_text_config().pad_token_id
        device = next(self._model.parameters()).device
        scores: list[float] = [0.0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                width = max(1, max(len(ids[i]) for i in rows))
                input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
                attention = torch.zeros((len(rows), width), dtype=torch.long)
                for r, i in enumerate(rows):  # right padding; the model pools each row's last non-pad token
                    input_ids[r, :len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                    attention[r, :len(ids[i])] = 1
                logits = self._model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
                if logits.shape[-1] > 1:
                    values = logits.softmax(-1)[:, self._label_index]
                else:
                    values = logits[:, 0]
                for i, value in zip(rows, values.tolist(), strict=True):
                    scores[i] = value
        return scores

    def reward_of(self, score: float) -> float:
        """The reward for a model score (:meth:`model_scores`)."""
        return score

    def no_response(self, counts: Counter[str]) -> float | None:
        """The reward of a completion with nothing to judge (``summary_only`` and no summary)."""
        return None

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        rewards: list[float | None] = [None] * len(completions)
        rows, texts = [], []
        for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            response = response_text(completion, self.summary_only)
            if response is None:
                rewards[i] = self.no_response(counts)
                continue
            rows.append(i)
            texts.append(response)
        if not rows:
            return rewards
        if self._model is None:
            self._load()
        heads: dict[str, str] = {}  # a GRPO batch repeats each prompt once per generation
        rendered = []
        for i, text in zip(rows, texts, strict=True):
            question = last_user_message(prompts[i])
            if question not in heads:
                heads[question] = prompt_text(self._tokenizer, question)
            rendered.append(heads[question] + text)
        for i, score in zip(rows, self.model_scores(rendered, counts), strict=True):
            reward = self.reward_of(score)
            if not math.isfinite(reward):
                counts["nonfinite"] += 1
                reward = 0.0
            rewards[i] = reward
        return rewards


class SafetyReward(SequenceClassifierReward):
    """``safety``: the probability that the whole response, reasoning included, is safe.

    A classifier's reward is the softmax probability of ``label`` (the safe class, by name from
    the checkpoint's ``id2label`` or by index); a 1-output model's is the sigmoid of its output.
    Counter ``safety/unsafe``: completions with a reward below 0.5 (``safety/truncated`` and
    ``safety/nonfinite`` as for every model-based reward).

    Args:
        model: the classifier: a local checkpoint directory or a Hub id.
        label: the safe class (ignored for a 1-output model).
        batch_size: completions per forward pass.
        max_length: tokens the model reads per completion (prompt included); the rest is cut.
            Default: the model's maximum (its ``max_position_embeddings``): the whole response.
        device: where the model runs (default: the trainer's device).
        dtype: the model's dtype (``"auto"``: the checkpoint's).
    """

    name = "safety"
    counters = ("unsafe", "truncated", "nonfinite")

    def __init__(self, *, model: str, label: str | int = "safe", batch_size: int = 8, max_length: int | None = None,
                 device: str | None = None, dtype: str = "auto"):
        super().__init__(model=model, label=label, batch_size=batch_size, max_length=max_length, device=device,
                         dtype=dtype)

    def model_scores(self, texts: list[str], counts: Counter[str]) -> list[float]:
        scores = super().model_scores(texts, counts)
        if self._label_index is None:  # one output: a logit of "safe"
            scores = [_squash(s, "sigmoid") if math.isfinite(s) else s for s in scores]
        counts["unsafe"] += sum(s < 0.5 for s in scores)
        return scores


class HelpfulnessReward(SequenceClassifierReward):
    """``helpfulness``: a reward model's score of the final summary only (after ``</think>``).

    The reward is the model's output (a 1-output reward model, e.g. trained with the
    ``reward_model`` stage on a ``score`` column with ``summary_only``), or the probability of
    ``label`` for a classifier; ``squash`` maps it through ``sigmoid`` or ``tanh`` (default:
    none). A completion whose reasoning never closes has no summary: it gets ``no_summary``
    (default 0.0; None leaves it out) without running the model, counted in
    ``helpfulness/no_summary``. Changing the reasoning never changes the reward.

    Args:
        model: the reward model: a local checkpoint directory or a Hub id.
        label: for a classifier, the class whose probability is the score.
        squash: ``"none"``, ``"sigmoid"`` or ``"tanh"``, applied to the score.
        no_summary: the reward without a summary (set it to the bottom of your score's range).
        batch_size, max_length, device, dtype: as for ``safety``.
    """

    name = "helpfulness"
    summary_only = True
    counters = ("no_summary", "truncated", "nonfinite")

    def __init__(self, *, model: str, label: str | int | None = None, squash: str = "none",
                 no_summary: float | None = 0.0, batch_size: int = 8, max_length: int | None = None,
                 device: str | None = None, dtype: str = "auto"):
        if squash not in SQUASHES:
            raise ValueError(f"helpfulness: `squash` must be one of {SQUASHES}, got {squash!r}")
        if no_summary is not None and (isinstance(no_summary, bool) or not isinstance(no_summary, (int, float))):
            raise ValueError(f"helpfulness: `no_summary` must be a number or None, got {no_summary!r}")
        super().__init__(model=model, label=label, batch_size=batch_size, max_length=max_length, device=device,
                         dtype=dtype)
        self.squash = squash
        self.no_summary = None if no_summary is None else float(no_summary)

    def reward_of(self, score: float) -> float:
        return _squash(score, self.squash) if math.isfinite(score) else score

    def no_response(self, counts: Counter[str]) -> float | None:
        counts["no_summary"] += 1
        return self.no_summary
