"""What a GPU recipe needs on a cluster that no CPU run shows."""

from __future__ import annotations

import pytest
import yaml
from helpers import REPO

PACKED_SFT = sorted(p for p in (REPO / "recipes").rglob("*.yaml")
                    if "tiny" not in p.parts and (v := yaml.safe_load(p.read_text())) and isinstance(v, dict)
                    and v.get("stage") == "sft" and v.get("packing"))


def test_there_are_packed_sft_recipes_to_check():
    assert len(PACKED_SFT) >= 8  # the six distills, cold start, stage 3


@pytest.mark.parametrize("path", PACKED_SFT, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_packed_sft_prepares_its_data_in_parallel_within_a_longer_wait_and_attends_per_document(path):
    values = yaml.safe_load(path.read_text())
    # TRL tokenizes and packs on the main process first while the other ranks wait at a barrier
    # bounded by ddp_timeout (30 min by default): ~800k long conversations take longer on one core.
    assert values.get("dataset_num_proc", 1) >= 8 and values.get("ddp_timeout", 1800) > 1800
    # sdpa would attend over the whole packed square with a dense block-diagonal mask
    assert values["attn_implementation"].startswith("flash_attention")
