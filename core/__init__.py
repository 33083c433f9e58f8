"""What the scene library, the renderer and the learning side share: errors, EXR I/O, atomic
writes, cameras and the dataset format. Imports nothing of scenes, data_gen or neurender."""
