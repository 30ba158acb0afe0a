"""Prompt templates: how a dataset question becomes the model's prompt."""

from __future__ import annotations

# DeepSeek-R1-Zero's template for base models, verbatim from the paper (R1_FACTS.md).
ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {prompt}. Assistant:"
)

TEMPLATES = ("zero", "chat")


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
