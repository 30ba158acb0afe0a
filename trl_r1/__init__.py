"""trl-r1: reproduce DeepSeek-R1 with TRL."""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("TRL_R1_REHEARSAL"):  # a process of `python -m trl_r1 rehearse`: pushes recorded locally, stages timed
    from .rehearse.hooks import install as _install

    _install()
