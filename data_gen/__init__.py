"""Rendering side of neurender: Mitsuba variant choice, integrators, passes, the resumable generator."""
