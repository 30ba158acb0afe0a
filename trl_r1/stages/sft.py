"""Stage ``sft``: supervised fine-tuning with TRL's SFTTrainer on conversations whose last
assistant turn (R1-format reasoning and summary) is the one learned: R1's cold start, stage-3
SFT and every distillation (docs/stages.md, "sft").
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset
from transformers import AutoConfig, AutoModelForCausalLM
from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, get_peft_config

from ..data.decontaminate import (
    DEFAULT_NGRAM,
    Report,
    build_index,
    conversation_text,
    rows_to_keep,
)
from ..data.loading import check_model_and_dataset, load_split, subsample
from ..data.templates import PromptArguments
from ..models import hub_id, model_init_kwargs, resolve_model, truncate_layers
from ..train.activation_checkpointing import ActivationCheckpointing
from ..train.callbacks import MetricsFileCallback
from ..train.checkpoints import ResumeArguments, on_main_process, train_and_save
from ..train.console import ConsoleArguments
from ..train.hub import Card, defer_push, publish
from ..train.launch import StepSize

STUDENT_DIR = "student-init"  # under output_dir: the truncated student, before training
ADAPTER_DIR = "adapter"  # under output_dir, with use_peft: the trained LoRA adapter
PANELS = [("Training loss", ["loss"]), ("Mean token accuracy", ["mean_token_accuracy"]),
          ("Learning rate", ["learning_rate"])]


@dataclass
class SFTScriptArguments(ScriptArguments):
    """Where the conversations come from.

    A row is one conversation that ends with the assistant turn to learn. The dataset has either
    a messages column (a list of `{role, content}`), or, when it has no such column, a question
    column and a response column, which become `[user: question, assistant: response]`.

    Args:
        dataset_name (`str`):
            A Hub dataset id, a local directory or data file (JSONL, JSON, CSV, Parquet), a
            `save_to_disk` folder (what the `sample` stage writes), or `builtin:<name>`.
        dataset_messages_column (`str`, defaults to `"messages"`):
            Column holding the conversation.
        dataset_prompt_column (`str`, defaults to `"problem"`):
            Without a messages column: the column holding the question.
        dataset_response_column (`str`, defaults to `"response"`):
            Without a messages column: the column holding the answer to learn (reasoning + summary).
        system_prompt (`str`, *optional*):
            System message put first in every conversation that has none.
        max_train_samples (`int`, *optional*):
            Keep only N training rows (after decontamination, shuffled with the seed), for quick runs.
    """

    dataset_messages_column: str = field(
        default="messages", metadata={"help": "Column holding the conversation (a list of {role, content})."}
    )
    dataset_prompt_column: str = field(
        default="problem", metadata={"help": "Without a messages column: the column holding the question."}
    )
    dataset_response_column: str = field(
        default="response", metadata={"help": "Without a messages column: the column holding the answer to learn."}
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System message put first in every conversation that has none."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only N training rows (quick runs)."}
    )


@dataclass
class R1SFTConfig(ActivationCheckpointing, ConsoleArguments, StepSize, SFTConfig, ResumeArguments):
    r"""
    [`trl.SFTConfig`] plus what R1's SFT stages need. Sequence length and packing are TRL's own
    `max_length` and `packing`; TRL's `eos_token`, unset, becomes the token the chat template ends
    an assistant turn with (`<|im_end|>` for Qwen, `<|eot_id|>` for Llama 3), so that the tuned
    model stops (see `check_end_of_turn`).

    Args:
        num_train_epochs (`float`, defaults to `2.0`):
            R1 fine-tunes for 2 epochs (stage 3; distillation: 2-3).
        lr_scheduler_type (`str`, defaults to `"cosine"`):
            A decaying learning rate, as in the paper.
        auto_resume (`bool`, defaults to `True`):
            Resume from the last complete checkpoint ([`ResumeArguments`]).
        sequences_per_step (`int`, *optional*):
            Sequences per optimizer step, every process together: `gradient_accumulation_steps` is
            derived from the launch's process count ([`StepSize`]), so more GPUs or nodes train
            the same experiment faster. Leave `gradient_accumulation_steps` unset with it.
        rope_theta (`float`, *optional*):
            Long context: the RoPE base frequency the model is loaded (and saved) with, e.g.
            300000 for 32k tokens (Open-R1). Replaces `rope_theta` in the model config's
            `rope_parameters` (in every layer type's entry, for models with several), and raises
            the declared context (`max_position_embeddings`) to `max_length`.
        student_num_layers (`int`, *optional*):
            Distil into a smaller student: train a copy of the model that keeps only its first N
            decoder layers (built once, in `output_dir/student-init`).
        decontaminate_against (`list[str]`, *optional*):
            Evaluation sets (`PATH_OR_HUB_ID[:name]`, as for `python -m trl_r1 decontaminate`):
            conversations sharing a word n-gram with any of their questions are dropped before
            training; the summary counts them per benchmark.
        decontaminate_column (`str`, defaults to `"problem"`):
            The question column of the evaluation sets.
        decontaminate_ngram (`int`, defaults to `10`):
            n-gram size in words (the paper: 10).
    """

    num_train_epochs: float = field(default=2.0, metadata={"help": "Training epochs (R1: 2)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule (R1: decaying)."})
    rope_theta: float | None = field(
        default=None, metadata={"help": "Long context: RoPE base frequency to load and save the model with."}
    )
    student_num_layers: int | None = field(
        default=None, metadata={"help": "Train a student keeping only the model's first N decoder layers."}
    )
    decontaminate_against: list[str] | None = field(
        default=None, metadata={"help": "Evaluation sets PATH_OR_HUB_ID[:name]: drop rows sharing an n-gram with them."}
    )
    decontaminate_column: str = field(
        default="problem", metadata={"help": "Question column of the evaluation sets."}
    )
    decontaminate_ngram: int = field(default=DEFAULT_NGRAM, metadata={"help": "Decontamination n-gram size in words."})


ARGUMENTS = (SFTScriptArguments, R1SFTConfig, ModelConfig)
PLAN_AS = "language_model"  # how `plan` sizes it (trl_r1/plan/planner.py)
CARD = Card("supervised fine-tuning (SFT)", "loss", ("mean_token_accuracy", "num_tokens", "learning_rate"),
            "training loss, token accuracy, learning rate")  # what its model card says (trl_r1/train/hub.py)


def rehearsal_limits(size) -> dict:
    """Field -> value in a rehearsal (``rehearse``; ``size`` is trl_r1/rehearse/scale.py, with its sizes)."""
    return {**size.TRAINING_LIMITS, "per_device_train_batch_size": 2, "max_length": 256}


def rehearsal_data(values: dict, folder: Path, standins, splits) -> str:
    """The built-in stand-in ``rehearse`` uses for a Hub ``dataset_name`` (``standins`` is
    trl_r1/rehearse/standins.py; ``splits(*fields, default=...)`` the splits the recipe names)."""
    messages = None if "dataset_prompt_column" in values else values.get("dataset_messages_column", "messages")
    return standins.conversations(folder / "conversations", splits("dataset_train_split", "dataset_test_split"),
                                  messages, values.get("dataset_prompt_column", "problem"),
                                  values.get("dataset_response_column", "response"))


def validate(script_args: SFTScriptArguments, args: R1SFTConfig, model_args: ModelConfig) -> None:
    check_model_and_dataset(model_args.model_name_or_path, script_args.dataset_name, "sft")
    if args.packing and args.max_length is None:
        raise ValueError("max_length: packing needs a max_length, the length of the packed sequences")
    if args.rope_theta is not None and args.rope_theta <= 0:
        raise ValueError(f"rope_theta: must be > 0, got {args.rope_theta}")
    for key, value in [("student_num_layers", args.student_num_layers),
                       ("decontaminate_ngram", args.decontaminate_ngram),
                       ("max_train_samples", script_args.max_train_samples)]:
        if value is not None and value < 1:
            raise ValueError(f"{key}: must be >= 1, got {value}")


def conversations(dataset: Dataset, script_args: SFTScriptArguments) -> Dataset:
    """The rows as TRL's conversational prompt-completion pairs: the completion is the last turn
    (the assistant's), the prompt the turns before it, with the system prompt first if set."""
    columns = dataset.column_names
    messages, question, response = (script_args.dataset_messages_column, script_args.dataset_prompt_column,
                                    script_args.dataset_response_column)
    if messages not in columns and not {question, response} <= set(columns):
        raise ValueError(
            f"dataset_messages_column: the dataset has neither a {messages!r} column nor {question!r} + {response!r} "
            f"columns (dataset_prompt_column, dataset_response_column); its columns are {columns}"
        )

    def convert(row: dict) -> dict:
        if messages in row:
            turns = [{"role": m["role"], "content": m["content"]} for m in row[messages]]
        else:
            turns = [{"role": "user", "content": row[question]}, {"role": "assistant", "content": row[response]}]
        if not turns or turns[-1]["role"] != "assistant":
            raise ValueError(f"{messages}: a conversation must end with an assistant turn; one ends with {turns[-1:]}")
        if script_args.system_prompt and turns[0]["role"] != "system":
            turns.insert(0, {"role": "system", "content": script_args.system_prompt})
        return {"prompt": turns[:-1], "completion": turns[-1:]}

    return dataset.map(convert, remove_columns=columns)


def long_context(model_path: str, theta: float, max_length: int | None, **config_kwargs) -> dict:
    """What ``from_pretrained`` is given for a long-context fine-tune: the config's
    ``rope_parameters`` with ``rope_theta`` set to ``theta`` (in each entry, where a model has one
    per layer type), and ``max_position_embeddings`` raised to ``max_length``: the context the
    saved model declares, which vLLM and later stages read as the model's limit (Qwen2.5-Math
    declares 4,096 tokens; trained to 32k with theta 300k, it must say 32,768)."""
    config = AutoConfig.from_pretrained(model_path, **config_kwargs)
    params = copy.deepcopy(getattr(config, "rope_parameters", None))
    if not params:
        raise ValueError(f"rope_theta: {model_path} has no RoPE parameters to override")
    for entry in [v for v in params.values() if isinstance(v, dict)] or [params]:
        entry["rope_theta"] = theta
    declared = getattr(config.get_text_config(), "max_position_embeddings", None) or 0
    return {"rope_parameters": params, "max_position_embeddings": max(declared, max_length or 0) or None}


def end_of_turn(tokenizer) -> str | None:
    """The special token the chat template closes an assistant turn with (``<|im_end|>`` in
    Qwen's ChatML, ``<|eot_id|>`` in Llama 3), or None (no template, or no special token there)."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    probe = "TRL_R1_END_OF_TURN_PROBE"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": probe}],
                                         tokenize=False)
    tail = text[text.rindex(probe) + len(probe):]
    specials = {t for t in [*tokenizer.all_special_tokens, *tokenizer.get_added_vocab()] if t and t in tail}
    return min(specials, key=lambda t: (tail.index(t), -len(t))) if specials else None


def check_end_of_turn(model_path: str, args: R1SFTConfig, announce=print) -> None:
    """Make the tuned model stop where its chat template ends a turn. Qwen2.5 base tokenizers end
    with ``<|endoftext|>`` while ChatML ends a turn with ``<|im_end|>`` (Llama 3 base:
    ``<|end_of_text|>`` / ``<|eot_id|>``): trained on the template, the model writes the turn end,
    and generation (vLLM, ``generate``) stops only at the tokenizer's end token. Unset, ``eos_token``
    becomes the template's turn end (TRL then sets it in the tokenizer and the model's generation
    config, and both are saved); set to something else, it is an error."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=args.trust_remote_code)
    source = args.chat_template_path
    if source and Path(source).is_file():
        tokenizer.chat_template = Path(source).read_text()
    elif source:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=args.trust_remote_code)
    turn_end = end_of_turn(tokenizer)
    if turn_end is None:
        return
    if args.eos_token is None and turn_end != tokenizer.eos_token:
        args.eos_token = turn_end
        announce(f"eos_token: the chat template ends a turn with {turn_end}, the tokenizer ends text with "
                 f"{tokenizer.eos_token}; training with eos_token {turn_end} so that the tuned model stops")
    elif args.eos_token is not None and args.eos_token != turn_end:
        raise ValueError(f"eos_token: {args.eos_token!r}, but the chat template ends an assistant turn with "
                         f"{turn_end!r}: the tuned model would write {turn_end!r} and never stop; set eos_token: {turn_end}")


def training_data(script_args: SFTScriptArguments, args: R1SFTConfig) -> tuple[Dataset, Report | None]:
    """The conversations to train on and, when decontaminating, the report of what was dropped:
    conversations whose text (every turn but the system prompt) shares an n-gram with a question."""
    rows = load_split(script_args.dataset_name, script_args.dataset_config, script_args.dataset_train_split,
                      field="dataset_train_split")
    train = conversations(rows, script_args)
    report = None
    if args.decontaminate_against:
        index = build_index(args.decontaminate_against, args.decontaminate_column, args.decontaminate_ngram)
        texts = [conversation_text(prompt + completion)
                 for prompt, completion in zip(train["prompt"], train["completion"], strict=True)]
        keep, report = rows_to_keep(texts, index)
        train = train.select(keep)
        if args.process_index == 0:
            print(f"Decontamination against {', '.join(index.benchmarks)}: {report}")
    train = subsample(train, script_args.max_train_samples, args.seed)
    if len(train) == 0:  # e.g. a rejection-sampling stage that kept nothing; SFTTrainer would stop obscurely
        raise ValueError(f"dataset_name: {script_args.dataset_name} has no conversation to train on"
                         f"{' after decontamination' if report is not None and report.removed else ''}")
    return train, report


def run(recipe) -> dict:
    script_args, args, model_args = recipe.configs
    output_dir = Path(args.output_dir)
    rows, report = training_data(script_args, args)

    model_path = resolve_model(model_args.model_name_or_path)
    if args.student_num_layers:
        student = output_dir / STUDENT_DIR
        with args.main_process_first(desc="student"):
            if not (student / "config.json").is_file():
                truncate_layers(model_path, args.student_num_layers, student)
        model_path = str(student)
    args.model_init_kwargs = model_init_kwargs(model_args, args)
    if args.rope_theta is not None:
        args.model_init_kwargs.update(long_context(model_path, args.rope_theta, args.max_length,
                                                   revision=model_args.model_revision,
                                                   trust_remote_code=args.trust_remote_code))
    check_end_of_turn(model_path, args, print if args.process_index == 0 else (lambda *_: None))
    push_to_hub = defer_push(args)
    trainer = SFTTrainer(
        model=model_path,
        args=args,
        train_dataset=rows,
        peft_config=get_peft_config(model_args),
        callbacks=[MetricsFileCallback(output_dir)],
    )
    result, _ = train_and_save(trainer, args, save_dir=output_dir / ADAPTER_DIR if model_args.use_peft else output_dir)

    def summarize() -> dict:
        if model_args.use_peft:
            _save_merged(output_dir / ADAPTER_DIR, model_path, args.model_init_kwargs, trainer.processing_class, output_dir)
        notes = []
        if args.student_num_layers:
            notes.append(f"The student keeps the first {args.student_num_layers} decoder layers of the base model.")
        if model_args.use_peft:
            notes.append(f"Trained as a LoRA adapter (in `{ADAPTER_DIR}/`), merged into these weights.")
        if report is not None:
            notes.append(f"Decontaminated ({args.decontaminate_ngram}-grams): {report.removed} of {report.rows} "
                         f"training rows removed; per benchmark: {report.per_benchmark}.")
        print(f"\nTrained on {len(rows)} conversations; mean training loss {result.training_loss:.4f}")
        # The prompt it was trained with (its chat template, the system prompt), for its evaluation.
        PromptArguments(prompt_template="chat", system_prompt=script_args.system_prompt).save_prompt(output_dir)
        summary = publish(recipe, args, push_to_hub=push_to_hub, panels=PANELS,
                          base_model=hub_id(model_args.model_name_or_path), notes=notes)
        summary.update(train_loss=result.training_loss, train_rows=len(rows))
        if report is not None:
            summary["contaminated_rows"] = report.removed
            summary.update({f"contaminated_rows/{name}": n for name, n in report.per_benchmark.items()})
        return summary

    return on_main_process(trainer, summarize)


def _save_merged(adapter_dir: Path, base_path: str, init_kwargs: dict, tokenizer, output_dir: Path) -> None:
    """The base model with the trained adapter merged in, saved as a plain model (what the next
    stage loads), with the tokenizer. Loaded afresh from disk, so it works however training was
    distributed."""
    from peft import PeftModel  # only with use_peft: peft is slow to import

    config_kwargs = {k: init_kwargs[k] for k in ("revision", "trust_remote_code", "rope_parameters", "max_position_embeddings") if init_kwargs.get(k)}
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto", **config_kwargs)
    PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
