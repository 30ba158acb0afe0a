"""R1's evaluation metrics: pass@1 over k samples, the unbiased pass@k, cons@k, and the format
and reflection rates (docs/r1.md, "Evaluation"). Which answers count as the same in a vote is
the scorer reward's to say (its ``group_answers``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from trl_r1_rewards import full_response, r1_conditions

from .reflection import rate_per_1k_words, reflection_counts


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from ``n`` samples of which ``c`` are correct (Chen et al.,
    2021): ``1 - C(n-c, k) / C(n, k)``, computed as a product so it never overflows.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 2), pass_at_k(4, 0, 2), pass_at_k(4, 3, 2)
    (0.25, 0.5, 0.0, 1.0)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    missed = 1.0  # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
    for i in range(n - c + 1, n + 1):
        missed *= 1.0 - k / i
    return 1.0 - missed


def pass_ks(n: int) -> list[int]:
    """The k reported for ``n`` samples: powers of two up to ``n``, and ``n`` itself.

    >>> pass_ks(1), pass_ks(6), pass_ks(64)
    ([1], [1, 2, 4, 6], [1, 2, 4, 8, 16, 32, 64])
    """
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def mean_pass_at_k(scores: Sequence[Sequence[float]], k: int) -> float:
    """pass@k averaged over questions; ``scores[q]`` are question q's per-sample scores (a
    sample counts as correct when its score is >= 1; ``None`` counts as wrong). With ``k=1``
    this is pass@1, the mean correctness over the samples.

    >>> mean_pass_at_k([[1, 0, 0, 0], [1, 1, 0, 0]], 1), round(mean_pass_at_k([[1, 0, 0, 0], [1, 1, 0, 0]], 2), 4)
    (0.375, 0.6667)
    """
    if not scores:
        return 0.0
    return sum(pass_at_k(len(s), sum(_correct(x) for x in s), k) for s in scores) / len(scores)


def _correct(score: float | None) -> bool:
    return score is not None and score >= 1.0


def _vote(ids: Sequence[int | None], scores: Sequence[float | None]) -> float:
    """1.0 when the most frequent cluster (ties: the one seen first) is correct; no answer, no vote."""
    counts: dict[int, int] = {}
    for i in ids:
        if i is not None:
            counts[i] = counts.get(i, 0) + 1
    if not counts:
        return 0.0
    winner = max(counts, key=lambda i: (counts[i], -i))  # ids are numbered in order of appearance
    return float(_correct(scores[ids.index(winner)]))


def mean_cons_at_k(groups: Sequence[Sequence[int | None]], scores: Sequence[Sequence[float | None]],
                   k: int | None = None) -> float:
    """cons@k averaged over questions: each question's vote among its first ``k`` samples (all if
    None). ``groups[q]`` holds a group id per sample (equal ids: the same answer; ``None``: no
    answer, no vote), as a reward's ``group_answers`` returns them.

    >>> mean_cons_at_k([[0, 1, 1, 0], [0, 1, 1]], [[1, 0, 0, 1], [1, 0, 0]])
    0.5
    """
    if not groups:
        return 0.0
    votes = [_vote(list(ids)[:k], list(s)[:k]) for ids, s in zip(groups, scores, strict=True)]
    return sum(votes) / len(votes)


def summarize(questions: Sequence[Sequence[dict]], reflection_words: Sequence[str],
              group_answers: Callable | None = None) -> dict:
    """The metrics of an evaluation from its per-sample rows (``score``, ``answer``,
    ``completion``, ``num_tokens``), grouped by question, every question with the same n.
    ``group_answers``: the scorer's grouping of final answers for cons@n (``None``: no cons@n).

    >>> rows = [[{"score": 1.0, "answer": "2", "completion": "wait, 2", "num_tokens": 4},
    ...          {"score": 0.0, "answer": "3", "completion": "3", "num_tokens": 2}]]
    >>> from trl_r1_rewards import load_reward
    >>> summarize(rows, ["wait"], load_reward("accuracy").group_answers)
    {'num_samples': 2, 'pass@1': 0.5, 'pass@2': 1.0, 'cons@2': 1.0, 'mean_response_tokens': 3.0, 'reflection_per_1k_words': 333.3333333333333, 'format_rate': 0.0}

    ``format_rate`` is the share of samples in R1's output format (``<think>\\n...\\n</think>``
    then a summary: all four conditions of the ``format`` reward's ``r1`` template), counting a
    ``<think>`` the chat template opened (R1-Distill's) as written:

    >>> summarize([[{"score": 1.0, "answer": "4", "num_tokens": 9,
    ...              "completion": "Two and two.\\n</think>\\n\\n\\\\boxed{4}"}]], [])["format_rate"]
    1.0
    """
    sizes = {len(q) for q in questions}
    if len(sizes) > 1:
        raise ValueError(f"every question needs the same number of samples, got {sorted(sizes)}")
    n = sizes.pop() if sizes else 0
    scores = [[s["score"] for s in q] for q in questions]
    metrics: dict = {"num_samples": n}
    for k in pass_ks(n) if n else []:
        metrics[f"pass@{k}"] = mean_pass_at_k(scores, k)
    if group_answers is not None and n:
        metrics[f"cons@{n}"] = mean_cons_at_k(group_answers([[s["answer"] for s in q] for q in questions]), scores)
    samples = [s for q in questions for s in q]
    metrics["mean_response_tokens"] = sum(s["num_tokens"] for s in samples) / len(samples) if samples else 0.0
    counts, total = reflection_counts((s["completion"] for s in samples), reflection_words)
    metrics["reflection_per_1k_words"] = rate_per_1k_words(sum(counts.values()), total)
    responses = [full_response(s["completion"]) for s in samples]  # <think> opened by the chat template, put back
    metrics["format_rate"] = sum(all(r1_conditions(r)) for r in responses) / len(responses) if responses else 0.0
    return metrics


def markdown_table(results: Sequence[dict]) -> str:
    """One row per metrics dict (``benchmark``, ``model`` and the metrics of :func:`summarize`);
    accuracies as percentages, absent metrics as a dash.

    >>> print(markdown_table([{"benchmark": "aime24", "model": "m", "num_samples": 2, "pass@1": 0.5, "pass@2": 0.75}]))
    | benchmark | model | n | pass@1 | pass@2 |
    |---|---|---|---|---|
    | aime24 | m | 2 | 50.0 | 75.0 |
    """
    metric_keys: list[str] = []
    for result in results:
        for key in result:
            if (key.startswith(("pass@", "cons@")) or key in ("mean_response_tokens", "reflection_per_1k_words", "format_rate")) \
                    and key not in metric_keys:
                metric_keys.append(key)
    order = {"pass": 0, "cons": 1}
    metric_keys.sort(key=lambda k: (order.get(k.split("@")[0], 2), int(k.split("@")[1]) if "@" in k else 0))
    header = ["benchmark", "model", "n", *metric_keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        cells = [str(result.get("benchmark", "")), str(result.get("model", "")), str(result.get("num_samples", "-"))]
        for key in metric_keys:
            value = result.get(key)
            if value is None:
                cells.append("-")
            elif "@" in key or key == "format_rate":
                cells.append(f"{100 * value:.1f}")
            else:
                cells.append(f"{value:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
