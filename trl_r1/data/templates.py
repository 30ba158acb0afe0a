"""Prompt templates: how a dataset question becomes the model's prompt, and the recipe fields
that choose one (shared by training, evaluation and sampling, so a model is evaluated with the
prompt it was trained with)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# DeepSeek-R1-Zero's template for base models, verbatim from the paper (docs/r1.md, "R1-Zero").
ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {prompt}. Assistant:"
)

TEMPLATES = ("zero", "chat")
# Where a completion under a template is finished: R1-Zero's answer closes with </answer>, and a
# base model writes on past it (to the length limit, where the strict format then scores 0)
# unless generation stops there. The stop string is kept in the completion.
TEMPLATE_STOPS = {"zero": ["</answer>"]}
# A trained model's folder holds the prompt settings it was trained with, for its evaluation.
PROMPT_FILE = "prompt.json"
PROMPT_FIELDS = ("prompt_template", "system_prompt", "chat_examples")


def make_prompt(
    question: str, template: str, system_prompt: str | None = None, examples: list[dict] | None = None
) -> str | list[dict]:
    """A TRL prompt: plain text for ``zero``, a conversation for ``chat`` (system prompt, then
    any demonstration ``examples`` messages, then the question).

    >>> make_prompt("What is 2+2?", "zero").endswith("User: What is 2+2?. Assistant:")
    True
    >>> make_prompt("What is 2+2?", "chat", system_prompt="Be brief.")
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'What is 2+2?'}]
    """
    if template == "zero":
        return ZERO_TEMPLATE.format(prompt=question)
    if template == "chat":
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return messages + list(examples or []) + [{"role": "user", "content": question}]
    raise ValueError(f"Unknown prompt template {template!r}; choose one of {TEMPLATES}")


@dataclass
class PromptArguments:
    """How a question becomes a prompt.

    Args:
        prompt_template (`str`, defaults to `"chat"`):
            `"zero"`: R1-Zero's plain-text template for base models (no chat template);
            `"chat"`: the tokenizer's chat template, with `system_prompt` when set.
        system_prompt (`str`, *optional*):
            System message for the `chat` template.
        chat_examples (`list[dict]`, *optional*):
            Demonstration messages (`{role, content}`) placed before the question in the `chat`
            template. R1 prompts zero-shot (the default); tiny models may need one example to
            discover the output format at all.
    """

    prompt_template: str = field(
        default="chat", metadata={"help": "How a question becomes a prompt.", "choices": list(TEMPLATES)})
    system_prompt: str | None = field(default=None, metadata={"help": "System message for the chat template."})
    chat_examples: list[dict] | None = field(
        default=None, metadata={"help": "Demonstration messages before the question (chat template only)."})

    def check_prompt_arguments(self) -> None:
        if self.prompt_template not in TEMPLATES:
            raise ValueError(f"prompt_template: {self.prompt_template!r} is not one of {list(TEMPLATES)}")
        if self.prompt_template == "zero" and (self.system_prompt or self.chat_examples):
            raise ValueError("system_prompt / chat_examples: the `zero` template is plain text, with neither")
        for message in self.chat_examples or []:
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                raise ValueError(f"chat_examples: each message is a mapping {{role, content}}, got {message!r}")

    def prompt(self, question: str) -> str | list[dict]:
        """``question`` as the model's prompt (:func:`make_prompt`)."""
        return make_prompt(question, self.prompt_template, self.system_prompt, self.chat_examples)

    def save_prompt(self, folder: str | Path) -> Path:
        """Write the prompt settings to ``folder/prompt.json`` (next to a trained model)."""
        path = Path(folder) / PROMPT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: getattr(self, k) for k in PROMPT_FIELDS}, indent=2) + "\n")
        return path

    def use_trained_prompt(self, model: str | None) -> Path | None:
        """Take the prompt settings a trained model's folder records (its ``prompt.json``), if
        ``model`` is such a folder; returns the file read, or None (settings unchanged)."""
        path = Path(model) / PROMPT_FILE if model else None
        if path is None or not path.is_file():
            return None
        for key, value in json.loads(path.read_text()).items():
            if key in PROMPT_FIELDS:
                setattr(self, key, value)
        self.check_prompt_arguments()
        return path


THINK_OPEN = "<think>"
PREFILL_OPTION = "think_prefilled"  # the reward option that says completions start inside <think>


def opens_think(tokenizer) -> bool:
    """Whether the tokenizer's chat template opens ``<think>`` in the generation prompt itself
    (DeepSeek-R1-Distill's and Qwen3's end with ``<think>\n``): completions then begin inside
    the reasoning, with no opening tag of their own."""
    if not getattr(tokenizer, "chat_template", None):
        return False
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "1 + 1?"}], add_generation_prompt=True,
                                             tokenize=False)
    except Exception:  # a template that needs more than a user turn: it cannot be told, so no
        return False
    return isinstance(text, str) and text.rstrip().endswith(THINK_OPEN)


def think_prefilled_by(model: str, template: str) -> bool:
    """Whether prompts built with ``template`` for ``model`` (a local folder or Hub id) end inside
    an opened ``<think>`` (only the ``chat`` template uses the model's chat template)."""
    if template != "chat":
        return False
    from transformers import AutoTokenizer

    return opens_think(AutoTokenizer.from_pretrained(model))


def with_prefill(name: str, options: dict, prefilled: bool) -> dict:
    """A reward's options with ``think_prefilled: true`` when the prompt opened ``<think>`` and
    the reward takes that option (ours: ``format``; a plugin's, if it declares one), unless the
    recipe set it.

    >>> with_prefill("format", {"template": "r1"}, True), with_prefill("accuracy", {}, True)
    ({'template': 'r1', 'think_prefilled': True}, {})
    """
    if not prefilled or PREFILL_OPTION in options:
        return options
    return {**options, PREFILL_OPTION: True} if takes_prefill(name) else options


def takes_prefill(name: str) -> bool:
    """Whether the reward registered as ``name`` takes the ``think_prefilled`` option (callers ask
    before loading a tokenizer to find out whether the prompt opens ``<think>``)."""
    import inspect

    from trl_r1_rewards import reward_factory

    try:
        return PREFILL_OPTION in inspect.signature(reward_factory(name)).parameters
    except KeyError:  # an unknown name fails where the reward loads, with the names that exist
        return False

