"""A generative judge: does a response's final answer agree with the reference answer?

R1's rejection sampling scores with rules where it can and, where no rule applies, asks a model
(DeepSeek-V3) to compare the prediction with the ground truth (docs/r1.md, "The four stages of R1", 3). Two judges
here, one interface, ``judge(question, reference, response) -> bool``:

- :class:`EndpointJudge`: any OpenAI-compatible chat-completions endpoint (``vllm serve``, TGI,
  SGLang, OpenAI, ...), spoken to with the standard library only; timeouts, retries with
  back-off on 429 / 5xx / network errors, and a clear error at start-up when nothing answers;
- :class:`LocalJudge`: a local model, generating greedily with the transformers backend.

Both are shown the question, the reference and the response's final answer (the summary after
``</think>``, not the reasoning) and asked to reply YES or NO.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

from trl_r1_rewards import split_reasoning

from ..models import resolve_model
from .backends import Sampling, TransformersBackend

JUDGE_PROMPT = """\
Decide whether a response to a question is correct by comparing its final answer with the reference answer.

Question:
{question}

Reference answer:
{reference}

Final answer of the response:
{answer}

Is the final answer equivalent to the reference answer? Reply with YES or NO only."""

_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_RETRY_STATUS = (408, 429)


class JudgeError(RuntimeError):
    """The judge endpoint cannot be used (unreachable, refusing, or answering nonsense)."""


def judge_prompt(question: str, reference: str, response: str) -> str:
    """The judge's question: the response's final answer (after ``</think>``), not its reasoning.

    >>> print(judge_prompt("2+2?", "4", "<think>2 and 2</think> Four.").split("\\n\\n")[3])
    Final answer of the response:
    Four.
    """
    _, answer = split_reasoning(response)
    return JUDGE_PROMPT.format(question=question.strip(), reference=str(reference).strip(), answer=(answer or "").strip())


def parse_verdict(reply: str) -> bool:
    """``True`` when the judge's reply (after any reasoning of its own) says YES first.

    >>> parse_verdict("YES"), parse_verdict("No."), parse_verdict("<think>yes? no...</think> Yes"), parse_verdict("")
    (True, False, True, False)
    """
    _, answer = split_reasoning(reply or "")
    match = _VERDICT.search(answer or "")
    return bool(match) and match.group(1).lower() == "yes"


class EndpointJudge:
    """A model behind an OpenAI-compatible ``POST {url}/chat/completions`` endpoint.

    Args:
        url: the API base, e.g. ``http://localhost:8000/v1``.
        model: the model name the endpoint serves.
        api_key: sent as ``Authorization: Bearer`` when given.
        timeout: seconds per request.
        retries: further attempts after a network error, a timeout, 408, 429 or 5xx (waiting
            ``backoff`` seconds, doubled each time); other HTTP errors fail at once.
        max_tokens: the reply's budget (a reasoning judge thinks before it answers).
    """

    def __init__(self, url: str, model: str, *, api_key: str | None = None, timeout: float = 60.0, retries: int = 3,
                 max_tokens: int = 1024, backoff: float = 1.0):
        self.base = url.rstrip("/")
        self.model, self.timeout, self.retries, self.max_tokens, self.backoff = model, timeout, retries, max_tokens, backoff
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.check_reachable()

    def check_reachable(self) -> None:
        """Fail now, not after the model has loaded, when no server answers at ``url``. Any HTTP
        answer counts (not every server implements ``GET /models``)."""
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{self.base}/models", headers=self.headers),
                                        timeout=self.timeout):
                pass
        except urllib.error.HTTPError:
            pass  # a server answered
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise JudgeError(f"judge_url: nothing answers at {self.base} ({reason}); start the judge server "
                             "or fix judge_url") from None

    def ask(self, prompt: str) -> str:
        """The judge's reply to one user message."""
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": 0.0, "max_tokens": self.max_tokens}).encode()
        url = f"{self.base}/chat/completions"
        error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, data=body, headers=self.headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read())
                return reply["choices"][0]["message"]["content"] or ""
            except urllib.error.HTTPError as e:
                if e.code not in _RETRY_STATUS and e.code < 500:
                    raise JudgeError(f"judge: {url} answered HTTP {e.code}: {e.read()[:300]!r}") from None
                error = e
            except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
                error = e
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise JudgeError(f"judge: {url} did not answer as a chat-completions endpoint: {e!r}") from None
        raise JudgeError(f"judge: no answer from {url} after {self.retries + 1} attempts: {error}")

    def __call__(self, question: str, reference: str, response: str) -> bool:
        return parse_verdict(self.ask(judge_prompt(question, reference, response)))


class LocalJudge:
    """A local model (directory, Hub id or ``embedded:<name>``) answering greedily through the
    transformers backend, with its chat template."""

    def __init__(self, model: str, *, max_tokens: int = 1024, dtype: str = "auto"):

        self.backend = TransformersBackend(resolve_model(model), dtype)
        self.sampling = Sampling(num_samples=1, temperature=0.0, max_new_tokens=max_tokens)

    def __call__(self, question: str, reference: str, response: str) -> bool:
        prompt = [{"role": "user", "content": judge_prompt(question, reference, response)}]
        return parse_verdict(self.backend.generate([prompt], self.sampling)[0][0].text)
