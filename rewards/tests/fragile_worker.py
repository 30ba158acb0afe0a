"""Preloaded by a worker-pool test: a worker importing it exits at once while the file named
by ``TRL_R1_FRAGILE_WORKER`` exists (a replacement killed while starting, say by the OOM killer)."""

import os

if os.path.exists(os.environ.get("TRL_R1_FRAGILE_WORKER", "/nonexistent")):
    os._exit(1)
