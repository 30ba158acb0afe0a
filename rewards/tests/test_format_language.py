"""format and language_consistency on good, bad and hostile completions."""

import pytest
from trl_r1_rewards import load_reward
from trl_r1_rewards.format import FormatReward
from trl_r1_rewards.language import LanguageConsistencyReward

HOSTILE = ["", None, "\ud800", "<think>" + "a" * 1_000_000, "\\boxed{" + "{" * 100_000, 42,
           [{"role": "assistant", "content": None}], "<think><think></think>"]


@pytest.mark.parametrize(
    "template, completion, strict, lenient",
    [
        ("zero", "<think>a</think><answer>4</answer>", 1.0, 1.0),
        ("zero", " <think>\na\n</think>\n<answer> 4 </answer>\n", 1.0, 1.0),
        ("zero", "<think>a</think>so<answer>4</answer>", 0.0, 0.75),
        ("zero", "<answer>4</answer><think>a</think>", 0.0, 0.5),
        ("zero", "<think>a</think><think>b</think><answer>4</answer>", 0.0, 0.5),
        ("zero", "<think>never closed", 0.0, 0.0),
        ("r1", "<think>\nhm\n</think>\n\nThe answer is 4.", 1.0, 1.0),
        ("r1", "<think>hm</think>", 0.0, 0.75),
        ("r1", "intro <think>hm</think> 4", 0.0, 0.75),
        ("r1", "<think></think> 4", 0.0, 0.75),
    ],
)
def test_format_templates(template, completion, strict, lenient):
    assert FormatReward(template=template)(["q"], [completion]) == [strict]
    assert FormatReward(template=template, strict=False)(["q"], [[{"role": "assistant", "content": completion}]]) == [lenient]


def test_format_think_prefilled_and_counter():
    metrics = {}
    reward = load_reward("format", template="r1", think_prefilled=True)
    assert reward(["q", "q"], ["hm\n</think>\n\n4", "hm"], log_metric=metrics.__setitem__) == [1.0, 0.0]
    assert metrics == {"format/unclosed_think": 1.0}


@pytest.mark.parametrize("template", ["zero", "r1"])
def test_format_hostile(template):
    rewards = FormatReward(template=template, strict=False)(["q"] * len(HOSTILE), HOSTILE)
    assert all(0.0 <= r <= 1.0 for r in rewards)


def test_format_bad_template():
    with pytest.raises(ValueError, match="'zero', 'r1'"):
        FormatReward(template="R1")


EN = ("Okay, so I need to find the value that satisfies the equation. Let me start by expanding the left side. "
      "Wait, that does not look right. Maybe I made a mistake in the second step. So the derivative is zero here. ")
FR = ("D'accord, je dois trouver la valeur qui satisfait l'équation. Commençons par développer le côté gauche. "
      "Attends, cela ne semble pas correct. J'ai peut-être fait une erreur à la deuxième étape. Donc la dérivée est nulle ici. ")
ZH = "好的，我需要找到满足这个方程的值。让我先展开左边。等等，这看起来不对。也许我在第二步犯了错误。所以导数在这里为零。"


@pytest.fixture(scope="module")
def language():
    return load_reward("language_consistency")


def think(text):
    return f"<think>{text}</think> The answer is $\\boxed{{4}}$."


def test_language_same_and_different_scripts(language):
    prompts = ["What is the value of x?"] * 3
    rewards = language(prompts, [think(EN * 3), think(FR * 3), think(ZH * 3)])
    assert rewards[0] > 0.95 and rewards[1] < 0.05 and rewards[2] < 0.05
    rewards = language(["Quelle est la valeur de x ?"] * 2, [think(FR * 3), think(EN * 3)])
    assert rewards[0] > 0.95 and rewards[1] < 0.05
    rewards = language(["x 的值是多少？"] * 2, [think(ZH * 3), think(EN * 3)])
    assert rewards[0] > 0.95 and rewards[1] < 0.05


@pytest.mark.parametrize("other", [FR, ZH])
def test_language_half_mix_scores_near_half(language, other):
    paragraphs = [EN, other] * 4
    (reward,) = language(["What is x?"], [think("\n\n".join(paragraphs))], language=["en"])
    assert 0.35 <= reward <= 0.65


def test_language_column_wins_and_math_code_do_not_count(language):
    noisy = FR + r" $\frac{a}{b}$ \[ \sum_k k \] `print(x)` ```python\nfor i in range(3): pass\n``` 12345"
    assert language(["What is x?"], [think(noisy)], language=["fr"]) == [1.0]
    assert language(["q"], [[{"role": "assistant", "content": EN}]], language=["en"]) == [1.0]  # no tags: whole text


def test_language_nothing_to_score_is_none(language):
    metrics = {}
    rewards = language(["What is x?", "$x$"], [think("$x = 2$ 42"), think(EN)], log_metric=metrics.__setitem__)
    assert rewards == [None, None]
    assert metrics == {"language_consistency/no_words": 1.0, "language_consistency/no_target": 1.0}
    assert LanguageConsistencyReward(default_language="en")(["$x$"], [think(EN)]) == [1.0]


def test_language_hostile(language):
    rewards = language(["What is x?"] * len(HOSTILE), HOSTILE)
    assert all(r is None or 0.0 <= r <= 1.0 for r in rewards)


def test_language_bad_default():
    with pytest.raises(ValueError, match="default_language"):
        LanguageConsistencyReward(default_language="english")


def test_language_stray_tags_are_not_words(language):
    """A stray ``</think>`` used to count as the English word "think" (1.0 for tag soup)."""
    metrics = {}
    assert language(["What is 2 + 2?"] * 2, ["</think></think><think>", "<think><answer></answer></think> 4"],
                    log_metric=metrics.__setitem__) == [None, None]
    assert metrics["language_consistency/no_words"] == 2.0
    (mixed,) = language(["What is x?"], [think("</answer><br> " + FR * 2)])
    assert mixed < 0.05  # the tags do not make French reasoning English


def test_language_one_word_of_reasoning_counts_for_the_target(language):
    """One or two words carry too little evidence to outvote the language asked for ("Two."
    alone reads as Polish); a sentence does."""
    rewards = language(["What is 2 + 2?"] * 4, [think("Two."), think("Wait."), think("Four. Done."),
                                                think("Attends, cela ne semble pas correct.")])
    assert rewards == [1.0, 1.0, 1.0, 0.0]


def test_language_a_long_unpunctuated_run_can_still_mix(language):
    english = "the answer is four and we are done " * 30
    french = "la réponse est quatre et nous avons fini " * 30
    (reward,) = language(["What is x?"], [think(english + french)], language=["en"])
    assert 0.35 <= reward <= 0.65  # was 0.0: the whole run was one sentence, judged French
