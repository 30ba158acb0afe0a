"""R1's evaluation metrics: pass@1 over k samples, the unbiased pass@k, cons@k, and the format
and reflection rates (docs/r1.md, "Evaluation"). Which answers count as the same in a vote is
the scorer reward's to say (its ``group_answers``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of ``values`` (one per question: its pass@1), population
    variance over n; for 0/1 values this is the binomial ``sqrt(p (1 - p) / n)``.

    >>> standard_error([1, 0, 1, 0]), standard_error([0.5, 0.5]), standard_error([])
    (0.25, 0.0, 0.0)
    """
    if not values:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values) / len(values))


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z.

    >>> round(two_sided_p(1.959964), 4), two_sided_p(0.0)
    (0.05, 1.0)
    """
    return math.erfc(abs(z) / math.sqrt(2))


def two_proportion_test(p1: float, n1: int, p2: float, n2: int) -> tuple[float, float]:
    """The two-proportion z-test of ``p2 - p1`` (e.g. greedy accuracy after vs before training),
    with the pooled proportion: returns ``(z, two-sided p)``. The two evaluations share their
    questions, so this ignores the pairing and is, if anything, conservative.

    >>> z, p = two_proportion_test(0.25, 100, 0.5, 100)
    >>> round(z, 3), round(p, 4)
    (3.651, 0.0003)
    >>> two_proportion_test(0.0, 10, 0.0, 10)
    (0.0, 1.0)
    """
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 0.0, 1.0
    z = (p2 - p1) / spread
    return z, two_sided_p(z)


def difference_test(mean1: float, se1: float, mean2: float, se2: float) -> tuple[float, float]:
    """z-test of ``mean2 - mean1`` for two means with standard errors (e.g. pass@1 over k
    samples per question): returns ``(z, two-sided p)``.

    >>> z, p = difference_test(0.3, 0.03, 0.5, 0.04)
    >>> round(z, 2), round(p, 5)
    (4.0, 6e-05)
    """
    spread = math.sqrt(se1 ** 2 + se2 ** 2)
    if spread == 0:
        return 0.0, 1.0
    z = (mean2 - mean1) / spread
    return z, two_sided_p(z)


def question_values(questions: Sequence[Sequence[dict]], metric: str = "pass@1") -> list[float]:
    """One value per question, the unit a paired test compares: its share of correct samples
    (``pass@1``: score >= 1) or its mean score (``mean_score``: a reward model's, no answer = 0).

    >>> rows = [[{"score": 1.0}, {"score": 0.25}], [{"score": None}, {"score": 0.5}]]
    >>> question_values(rows), question_values(rows, "mean_score")
    ([0.5, 0.0], [0.625, 0.25])
    """
    if metric == "pass@1":
        return [sum(_correct(s["score"]) for s in q) / len(q) for q in questions]
    if metric == "mean_score":
        return [sum(s["score"] or 0.0 for s in q) / len(q) for q in questions]
    raise ValueError(f"metric: {metric!r} is not one of pass@1, mean_score")


def paired_test(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """Two models' values on the same questions (one per question, :func:`question_values`):
    ``(mean difference after - before, two-sided p)``. Where every value is 0 or 1 (greedy
    correctness), McNemar's exact test (a binomial test on the questions only one model got
    right); otherwise the paired z-test of the mean difference. Pairing removes the spread
    between questions, which the unpaired tests above count as noise.

    >>> paired_test([0, 0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1])  # 6 of 6 discordant pairs improved
    (0.75, 0.03125)
    >>> d, p = paired_test([0.25, 0.5, 0.0, 0.25], [0.5, 0.75, 0.25, 0.75]); d, f"{p:.1g}"  # z = 5
    (0.3125, '6e-07')
    """
    return Paired.of(before, after).test()


@dataclass(frozen=True)
class Paired:
    """All that :func:`paired_test` reads of two models' per-question values: the number of
    questions, the sum and the sum of squares of the differences (after - before), how many
    questions improved and how many got worse, and whether every value was 0 or 1. ``+`` pools
    two sets of questions (e.g. the same comparison on two seeds), as if their values were
    concatenated.

    >>> one = Paired.of([0, 0, 1], [1, 0, 1]); one
    Paired(questions=3, total=1.0, squares=1.0, gained=1, lost=0, binary=True)
    >>> (one + one + one).test() == paired_test([0, 0, 1] * 3, [1, 0, 1] * 3)
    True
    """

    questions: int
    total: float
    squares: float
    gained: int
    lost: int
    binary: bool

    @classmethod
    def of(cls, before: Sequence[float], after: Sequence[float]) -> Paired:
        if len(before) != len(after) or not before:
            raise ValueError(f"a paired test needs the same questions on both sides, got {len(before)} and {len(after)}")
        differences = [b - a for a, b in zip(before, after)]
        return cls(len(differences), float(sum(differences)), float(sum(d * d for d in differences)),
                   sum(d > 0 for d in differences), sum(d < 0 for d in differences),
                   all(v in (0, 1) for v in (*before, *after)))

    def __add__(self, other: Paired) -> Paired:
        return Paired(self.questions + other.questions, self.total + other.total, self.squares + other.squares,
                      self.gained + other.gained, self.lost + other.lost, self.binary and other.binary)

    def test(self) -> tuple[float, float]:
        """``(mean difference, two-sided p)``: McNemar's exact test when binary, else the paired z-test."""
        n, mean = self.questions, self.total / self.questions
        if self.binary:
            return mean, _binomial_two_sided(min(self.gained, self.lost), self.gained + self.lost)
        variance = max(0.0, self.squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
        if variance <= 1e-12 * max(1.0, self.squares):
            return mean, 1.0 if mean == 0 else 0.0
        return mean, two_sided_p(mean / math.sqrt(variance / n))


def _binomial_two_sided(k: int, n: int) -> float:
    """P(X <= k or X >= n - k) for X ~ Binomial(n, 1/2), ``k <= n / 2``: McNemar's exact p."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


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
    {'num_samples': 2, 'pass@1': 0.5, 'pass@2': 1.0, 'pass@1_stderr': 0.0, 'cons@2': 1.0, 'mean_response_tokens': 3.0, 'reflection_per_1k_words': 333.3333333333333, 'format_rate': 0.0}

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
    if n:
        metrics["pass@1_stderr"] = standard_error(question_values(questions))
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
            if (key.startswith(("pass@", "cons@")) and key.split("@")[1].isdigit() or key in ("mean_response_tokens", "reflection_per_1k_words", "format_rate")) \
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


def compare_models(start: dict[str, dict], trained: dict[str, dict]) -> list[dict]:
    """The before/after rows of two models evaluated on the same questions, each as
    ``{"sampled": metrics, "greedy": metrics}`` (:func:`summarize`'s metrics with ``settings``
    and ``num_questions``): pass@1 over k samples (with its standard error; z-test of the
    difference), greedy accuracy (two-proportion z-test) and the sampled answers' format rate.

    >>> def ev(p, n=1, t=0.0): return {"pass@1": p, "pass@1_stderr": 0.05, "num_questions": 100, "format_rate": 0.5,
    ...                               "settings": {"num_samples": n, "temperature": t, "top_p": 0.95}}
    >>> rows = compare_models({"sampled": ev(0.3, 4, 0.6), "greedy": ev(0.25)}, {"sampled": ev(0.5, 4, 0.6), "greedy": ev(0.5)})
    >>> [(r["metric"], round(r["difference"], 2), r["z"] and round(r["z"], 2)) for r in rows]
    [('pass@1, 4 samples at T=0.6, top-p 0.95', 0.2, 2.83), ('greedy accuracy (T=0)', 0.25, 3.65), ('format rate (sampled)', 0.0, None)]
    """
    rows = []
    for mode in ("sampled", "greedy"):
        if mode not in start or mode not in trained:
            continue
        before, after = start[mode], trained[mode]
        settings = after.get("settings", {})
        if mode == "greedy":
            label = "greedy accuracy (T=0)"
            z, p = two_proportion_test(before["pass@1"], before["num_questions"], after["pass@1"], after["num_questions"])
        else:
            label = (f"pass@1, {settings.get('num_samples')} samples at T={settings.get('temperature')}, "
                     f"top-p {settings.get('top_p')}")
            z, p = difference_test(before["pass@1"], before["pass@1_stderr"], after["pass@1"], after["pass@1_stderr"])
        rows.append({"metric": label, "start": before["pass@1"], "start_stderr": before["pass@1_stderr"],
                     "trained": after["pass@1"], "trained_stderr": after["pass@1_stderr"],
                     "difference": after["pass@1"] - before["pass@1"], "z": z, "p": p})
    if "sampled" in start and "sampled" in trained:
        before, after = start["sampled"]["format_rate"], trained["sampled"]["format_rate"]
        rows.append({"metric": "format rate (sampled)", "start": before, "start_stderr": None, "trained": after,
                     "trained_stderr": None, "difference": after - before, "z": None, "p": None})
    return rows


def comparison_table(rows: Sequence[dict], questions: str = "held-out questions") -> str:
    """:func:`compare_models`' rows as Markdown, in percent, ``± standard error``.

    >>> print(comparison_table([{"metric": "greedy accuracy (T=0)", "start": 0.25, "start_stderr": 0.043,
    ...     "trained": 0.5, "trained_stderr": 0.05, "difference": 0.25, "z": 3.73, "p": 0.0002}]))
    | held-out questions | start | trained | difference | z | p |
    |---|---|---|---|---|---|
    | greedy accuracy (T=0) | 25.0 ± 4.3 | 50.0 ± 5.0 | +25.0 | 3.73 | 0.0002 |
    """
    def percent(value, stderr):
        return f"{100 * value:.1f}" + (f" ± {100 * stderr:.1f}" if stderr is not None else "")

    lines = [f"| {questions} | start | trained | difference | z | p |", "|---|---|---|---|---|---|"]
    for row in rows:
        z = f"{row['z']:.2f}" if row["z"] is not None else ""
        p = f"{row['p']:.2g}" if row["p"] is not None else ""
        lines.append(f"| {row['metric']} | {percent(row['start'], row['start_stderr'])} | "
                     f"{percent(row['trained'], row['trained_stderr'])} | {100 * row['difference']:+.1f} | {z} | {p} |")
    return "\n".join(lines)
