"""What the scene library, the renderer and the learning side share: errors, EXR I/O, atomic
writes, cameras, the dataset format and Mitsuba's variant choice. The lowest layer: imports nothing
of scenes, data_gen or the rest of neurender."""
