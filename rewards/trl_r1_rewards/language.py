r"""``language_consistency``: the share of the reasoning written in the target language (R1's
stage-2 reward against language mixing). Math, code, LaTeX, numbers and one-letter words count
neither way; words are grouped by sentence and script and each group's language is decided by
naive Bayes over langdetect's shipped n-gram profiles, deterministically and cached per word
(rewards/README.md, "language_consistency").
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

import numpy as np

from .base import Reward
from .text import completion_text, last_user_message, split_reasoning

_NOT_PROSE = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code, possibly never closed
    r"|`[^`\n]*`"  # inline code
    r"|\$\$.*?\$\$|\$[^$]*\$"  # TeX math
    r"|\\\[.*?\\\]|\\\(.*?\\\)"  # LaTeX math
    r"|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"  # LaTeX environments
    r"|\\[a-zA-Z]+"  # stray LaTeX commands
    r"|</?[A-Za-z][\w-]*>",  # tags (a stray </think> is not the English word "think")
    re.DOTALL,
)
_SENTENCE_END = re.compile(r"[.!?;:\n\u3002\uff01\uff1f\uff1b\uff1a]+")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_CJK_CHAR = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
_KANA_CHAR = re.compile(f"[{_KANA}]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
# Letters only (no digits or underscores), at least two, not a CJK character.
_WORD = re.compile(rf"(?:(?![{_HAN}{_KANA}{_HANGUL}])[^\W\d_]){{2,}}")

_SMOOTHING = 5e-5  # langdetect's own: alpha 0.5 / base frequency 10,000
_WORD_CACHE_LIMIT = 200_000
# Short sentences ("Wait.", "Let me check.") carry little evidence; a quarter of each
# neighbour's evidence settles them without blurring paragraph-level switches (measured on
# English/French reasoning: pure English scores 0.99 instead of 0.92; 50/50 mixes stay ~0.5).
_NEIGHBOUR_WEIGHT = 0.25
# A run of words without punctuation is cut into groups of at most this many words, each
# classified on its own (with its neighbours' evidence), so that one long run can still mix.
_MAX_GROUP_WORDS = 20
# The target language's prior advantage, in nats, over any other one language: models mostly
# write in the language asked for. It decides what one or two words cannot ("Two.": Polish by
# 2.3 nats; "Wait": French by 1.6), and is far less than a sentence's evidence ("Attends, cela
# ne semble pas correct" is French by 6.8 nats alone, more with its neighbours).
TARGET_PRIOR_NATS = 4.0


class _ProfileModel:
    """Character n-gram naive Bayes over langdetect's language profiles."""

    def __init__(self) -> None:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        # langdetect's own loader: per 1-3-gram, its relative frequency in each language.
        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        self.languages = [name.split("-")[0] for name in factory.langlist]  # zh-cn, zh-tw -> zh
        self._gram_logp = {gram: np.log(np.asarray(p) + _SMOOTHING) for gram, p in factory.word_lang_prob_map.items()}
        self._zero = np.zeros(len(self.languages))
        self._words: dict[str, np.ndarray] = {}

    def word(self, word: str) -> np.ndarray:
        """Log-likelihood of ``word`` under each language (cached)."""
        vector = self._words.get(word)
        if vector is None:
            padded = f" {word} "
            grams = (padded[i: i + n] for n in (1, 2, 3) for i in range(len(padded) - n + 1))
            vector = sum((self._gram_logp[g] for g in grams if g in self._gram_logp), self._zero)
            if len(self._words) >= _WORD_CACHE_LIMIT:
                self._words.clear()
            self._words[word] = vector
        return vector

    def sentence(self, words: list[str]) -> np.ndarray:
        """Log-likelihood of a group of words under each language."""
        return sum((self.word(w) for w in words), self._zero)


@functools.cache
def _model() -> _ProfileModel:
    return _ProfileModel()


def word_counts(text: str, target: str | None = None) -> Counter[str]:
    """Words per language in ``text`` (prose only: code, math, numbers and tags are stripped
    first); ``target`` gets :data:`TARGET_PRIOR_NATS` of prior in every group.

    >>> dict(word_counts("Let $x = 2$ be the root. Nous avons donc le résultat voulu."))
    {'en': 4, 'fr': 6}
    >>> dict(word_counts("所以答案是 5。So the answer is five."))
    {'zh': 5, 'en': 5}
    >>> dict(word_counts("Two.")), dict(word_counts("Two.", target="en"))
    ({'pl': 1}, {'en': 1})
    """
    counts: Counter[str] = Counter()
    model = _model()
    groups, sizes = [], []  # the non-CJK words of each sentence: log-likelihoods, word counts
    for sentence in _SENTENCE_END.split(_NOT_PROSE.sub(" ", text)):
        cjk = _CJK_CHAR.findall(sentence)
        if cjk:
            hangul = sum(1 for c in cjk if _HANGUL_CHAR.match(c))
            counts["ko"] += hangul
            counts["ja" if _KANA_CHAR.search(sentence) else "zh"] += len(cjk) - hangul
        words = _WORD.findall(sentence)
        for start in range(0, len(words), _MAX_GROUP_WORDS):
            group = words[start:start + _MAX_GROUP_WORDS]
            groups.append(model.sentence(group))
            sizes.append(len(group))
    if groups:
        own = np.array(groups)
        evidence = own.copy()
        evidence[1:] += _NEIGHBOUR_WEIGHT * own[:-1]
        evidence[:-1] += _NEIGHBOUR_WEIGHT * own[1:]
        if target is not None:
            evidence[:, [i for i, language in enumerate(model.languages) if language == target]] += TARGET_PRIOR_NATS
        for index, size in zip(evidence.argmax(axis=1), sizes):
            counts[model.languages[index]] += size
    return +counts


def detect_language(text: str) -> str | None:
    """The language with the most words in ``text``; ``None`` when it has none.

    >>> detect_language("Quelle est la valeur de $x$ ?")
    'fr'
    """
    counts = word_counts(text)
    return counts.most_common(1)[0][0] if counts else None


class LanguageConsistencyReward(Reward):
    """Share of the reasoning's words written in the target language, in [0, 1].

    ``None`` when there is nothing to score: no words in the reasoning, or no target language
    (no ``language`` column and a prompt without words). Counters logged through
    ``log_metric``: ``language_consistency/no_words``, ``language_consistency/no_target``.

    Args:
        language_column: the dataset column holding each example's target language (ISO
            639-1 code); when the dataset lacks it, the target is detected from the prompt.
        default_language: the target when neither the column nor the prompt gives one
            (``None``: such completions score ``None``).

    >>> reward = LanguageConsistencyReward()
    >>> reward(prompts=["What is 2 + 2?"] * 2,
    ...        completions=["<think>Two plus two is four.</think> 4",
    ...                     "<think>Deux plus deux font quatre.</think> 4"])
    [1.0, 0.0]
    """

    name = "language_consistency"
    counters = ("no_words", "no_target")

    def __init__(self, *, language_column: str = "language", default_language: str | None = None):
        super().__init__()
        if not isinstance(language_column, str) or not language_column:
            raise ValueError(f"language_column must be a non-empty column name, got {language_column!r}")
        known = set(_model().languages)
        if default_language is not None and default_language not in known:
            raise ValueError(f"default_language {default_language!r} is not one of the known languages: {sorted(known)}")
        self.language_column = language_column
        self.default_language = default_language

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        targets = columns.get(self.language_column) or [None] * len(completions)
        detect = functools.lru_cache(maxsize=None)(detect_language)  # GRPO repeats each prompt
        rewards: list[float | None] = []
        for prompt, completion, target in zip(prompts, completions, targets, strict=True):
            if not isinstance(target, str) or not target:
                target = detect(last_user_message(prompt)) or self.default_language
            if target is None:
                counts["no_target"] += 1
                rewards.append(None)
                continue
            text = completion_text(completion)
            reasoning, _ = split_reasoning(text)
            target = target.lower().split("-")[0]
            words = word_counts(text if reasoning is None else reasoning, target=target)
            total = sum(words.values())
            if total == 0:
                counts["no_words"] += 1
                rewards.append(None)
            else:
                rewards.append(words[target] / total)
        return rewards

