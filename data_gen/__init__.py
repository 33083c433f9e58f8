"""Rendering side of neurender: integrators, passes, the resumable generator and its executors.

Mitsuba's variant is chosen by a call (`neurender.base.variant.use_variant`), never by an import.
"""
