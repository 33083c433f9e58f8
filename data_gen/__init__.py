"""Rendering side of neurender: integrators, passes, the resumable generator and its executors.

Importing it imports `scenes`, which sets Mitsuba's variant before any module here imports Mitsuba.
"""
import scenes  # noqa: F401
