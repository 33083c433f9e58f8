import resource

import torch

from neurender.base.memory import keep_freed_memory

IMAGE_PAGES = 4 * 1024 * 1024 * 4 // 4096
"""Pages of a (4, 1024, 1024) float32 tensor: 16 MiB."""


def _page_faults_of_a_fresh_image() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    image = torch.ones(4, 1024, 1024)  # written: every page touched
    del image
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_freed_image_is_reused_without_page_faults():
    assert keep_freed_memory()
    _page_faults_of_a_fresh_image()  # the heap grows once
    assert _page_faults_of_a_fresh_image() < IMAGE_PAGES / 8
