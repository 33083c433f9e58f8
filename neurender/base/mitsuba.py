"""Dr.Jit and Mitsuba as every module that uses them imports them: ``from neurender.base.mitsuba import dr, mi``.

drjit reads ``DRJIT_LIBLLVM_PATH`` when it is imported, so this module first points it at the newest
libLLVM 16+ (`neurender.base.variant.point_drjit_at_libllvm`). Mitsuba (0.1 s more) is imported on
first use of ``mi``, so the compiled classic methods (`neurender.baselines.kernels`) do without it. This
module chooses no variant: whoever renders calls `neurender.base.variant.use_variant`.
"""
from neurender.base.variant import point_drjit_at_libllvm

point_drjit_at_libllvm()

import drjit as dr  # noqa: E402 - drjit reads the libLLVM path when it is imported

__all__ = ["dr"]  # and ``mi``, made on first use


def __getattr__(name: str):
    """``mi``: Mitsuba, imported on first use."""
    if name == "mi":
        import mitsuba

        return mitsuba
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
