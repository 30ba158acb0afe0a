"""Activation checkpointing under transformers 5's name, `activation_checkpointing`, on any
transformers a recipe may meet, so that no run warns about a name of ours.

transformers (from about 5.20) renamed `gradient_checkpointing` to `activation_checkpointing` and
warns (FutureWarning) whenever a configuration holds the old name; TRL 1.16 sets the old name to
True in every configuration it defines (`_BaseConfig`), so every run warned before it started.
The engines' environment (`pip install ".[rehearse]"`) pins transformers < 5.20, which knows only
the old name. `ActivationCheckpointing`, first among a configuration's bases:

- with the new name: the old one is unset unless a recipe sets it (then transformers warns,
  rightly), and the new one defaults to the configuration's choice (TRL's: on);
- without it: the new name is a field of ours, passed on as the old one.

Either way a recipe writes `activation_checkpointing`, and `gradient_checkpointing` reads the
value in effect (transformers mirrors it; the planner reads it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from transformers import TrainingArguments

TRANSFORMERS_HAS_THE_NEW_NAME = "activation_checkpointing" in {f.name for f in dataclasses.fields(TrainingArguments)}


@dataclass
class ActivationCheckpointing:
    """Mixin: `activation_checkpointing` (default `ACTIVATION_CHECKPOINTING_DEFAULT`: TRL's, on)
    and the old name `gradient_checkpointing` unset, on any transformers (see the module)."""

    ACTIVATION_CHECKPOINTING_DEFAULT: ClassVar[bool] = True  # TRL's choice; a plain TrainingArguments: off

    activation_checkpointing: bool | None = field(
        default=None,
        metadata={"help": "Recompute activations in the backward pass instead of keeping them: less memory, "
                          "~20%% slower (TRL turns it on by default).", "nargs": "?", "const": True},
    )
    gradient_checkpointing: bool | None = field(
        default=None,
        metadata={"help": "The old name of `activation_checkpointing` (transformers 5 deprecates it).", "nargs": "?",
                  "const": True},
    )

    def __post_init__(self):
        if self.activation_checkpointing is None and self.gradient_checkpointing is None:
            self.activation_checkpointing = self.ACTIVATION_CHECKPOINTING_DEFAULT
        if not TRANSFORMERS_HAS_THE_NEW_NAME and self.activation_checkpointing is not None:
            self.gradient_checkpointing = self.activation_checkpointing
        super().__post_init__()
