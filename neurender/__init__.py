"""neurender: neural rendering of screen-space effects (fog, AO, GI) from G-buffers.

Importing this package is cheap: torch and Mitsuba are imported by the modules that need them.
"""
__version__ = "0.1.0"
