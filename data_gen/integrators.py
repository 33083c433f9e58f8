"""Python integrators: ray-traced ambient occlusion and a G-buffer (Mitsuba 3 has neither).

`register` makes each a ``mi.SamplingIntegrator`` subclass of the variant in use and registers them
under the names ``neurender_ao`` and ``neurender_gbuffer``. They run as compiled kernels in the
LLVM/CUDA variants and per sample (very slowly) in scalar.
"""
from __future__ import annotations

import functools

from neurender.base.dataset import ALBEDO, MASK, NORMAL
from neurender.base.mitsuba import dr, mi

GBUFFER_AOVS = [MASK, *NORMAL, "position.X", "position.Y", "position.Z", *ALBEDO]
"""The G-buffer integrator's outputs: the contract's mask, normals and albedo, and the world position
(the depth comes from it)."""


def _facing_normal(si, ray):
    """Geometric normal flipped to face the incoming ray (two-sided surfaces such as leaves)."""
    return dr.select(dr.dot(si.n, ray.d) > 0, -si.n, si.n)


class AmbientOcclusion:
    """AO = fraction of cosine-weighted hemisphere rays that travel ``radius`` unoccluded.

    One AO ray per camera sample, so spp sets the AO ray count. Pixels where the
    camera ray escapes get AO = 1. Output: grey radiance in [0, 1].
    """

    def __init__(self, props):
        mi.SamplingIntegrator.__init__(self, props)  # no super(): the class is remade per variant
        self.radius = props.get("radius", 1.0)

    def sample(self, scene, sampler, ray, medium=None, active=True):
        si = scene.ray_intersect(ray, active)
        hit = active & si.is_valid()
        frame = mi.Frame3f(_facing_normal(si, ray))
        direction = frame.to_world(mi.warp.square_to_cosine_hemisphere(sampler.next_2d(hit)))
        probe = si.spawn_ray(direction)
        probe.maxt = self.radius
        occluded = scene.ray_test(probe, hit)
        ao = dr.select(occluded, 0.0, 1.0)
        return mi.Spectrum(ao), dr.full(mi.Bool, True, dr.width(ao)), []


class GBuffer:
    """Coverage mask, world-space shading normal (facing the camera), world position, diffuse albedo.

    Values are averaged over the pixel's samples; misses contribute zeros, so
    normals and positions are divided by the mask afterwards.
    """

    def sample(self, scene, sampler, ray, medium=None, active=True):
        si = scene.ray_intersect(ray, active)
        hit = active & si.is_valid()
        if not dr.is_jit_v(mi.Float) and not hit:  # scalar: no BSDF to ask on a miss
            return mi.Spectrum(0.0), True, [mi.Float(0.0)] * len(GBUFFER_AOVS)
        normal = si.sh_frame.n
        normal = dr.select(dr.dot(normal, ray.d) > 0, -normal, normal)
        bsdf = si.bsdf(ray)
        # diffuse reflectance; 0 for BSDFs without a diffuse lobe (conductors), whose
        # eval_diffuse_reflectance falls back to a view-dependent specular value
        has_diffuse = hit & mi.has_flag(bsdf.flags(), mi.BSDFFlags.Diffuse)
        albedo = dr.select(has_diffuse, bsdf.eval_diffuse_reflectance(si, hit), mi.Color3f(0.0))
        zero = mi.Float(0.0)
        values = [dr.select(hit, 1.0, zero)]
        values += [dr.select(hit, normal[i], zero) for i in range(3)]
        values += [dr.select(hit, si.p[i], zero) for i in range(3)]
        values += [dr.select(hit, albedo[i], zero) for i in range(3)]
        return mi.Spectrum(0.0), dr.full(mi.Bool, True, dr.width(values[0])), values

    def aov_names(self):
        return GBUFFER_AOVS


@functools.cache
def _integrator(kind: type, variant: str) -> type:
    """``kind``'s methods on a ``mi.SamplingIntegrator`` of Mitsuba's ``variant`` (the one set now; a
    nanobind class takes one base)."""
    methods = {k: v for k, v in vars(kind).items() if k not in ("__dict__", "__weakref__")}
    return type(kind.__name__, (mi.SamplingIntegrator,), methods)


def register() -> None:
    """Register ``neurender_ao`` and ``neurender_gbuffer`` with the variant in use."""
    ao, gbuffer = (_integrator(kind, mi.variant()) for kind in (AmbientOcclusion, GBuffer))
    mi.register_integrator("neurender_ao", lambda props: ao(props))
    mi.register_integrator("neurender_gbuffer", lambda props: gbuffer(props))
