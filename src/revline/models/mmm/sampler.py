"""NUTS over one flat vector of unconstrained parameters.

Why not `NUTS(model)`: a cold fit is mostly XLA compiling NumPyro's sampler program, and that
program grows with the number of parameter sites. NumPyro's tree builder, step-size and mass-matrix
adaptation and proposal selection act leaf by leaf on the parameter dict, so ten sites compile
every one of those steps ten times; its in-program initialisation (prior draws for
`init_to_median`: Gamma and Beta rejection samplers, retried in a while loop that also takes a
gradient) compiles too. Flattened, the program on PyMC-Marketing's quick-start fell from 1,089
XLA fusions to ~320 and a cold fit from ~16 s to ~8 s (docs/mmm.md).

The posterior is exactly the model's: the potential is NumPyro's `potential_energy` of the model
(minus log prior, minus log likelihood, minus log|Jacobian| of the constraining transforms) on the
unflattened vector. Only the starting points differ: PyMC's default `jitter+adapt_diag` start
(the prior mean, on the unconstrained scale, plus uniform(-1, 1) jitter per chain) instead of
NumPyro's median of 15 prior draws, so no prior sampler is compiled.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import substitute, trace
from numpyro.infer.util import potential_energy

class FlatPosterior(NamedTuple):
    """The model's posterior as a function of one unconstrained vector."""

    potential: Callable[[Any], Any]   # (D,) -> scalar, minus log density
    unravel: Callable[[Any], dict]    # (D,) -> {site: unconstrained value}
    transforms: dict                  # site -> unconstrained-to-support bijection
    center: Callable[[], Any]         # () -> (D,) prior mean, unconstrained (traceable)
    size: int


def _prior_center(site: dict):
    """Prior mean of a latent site (the support's image of 0 where the mean is missing or infinite)."""
    if site["type"] != "sample" or site["is_observed"]:
        return None
    fn = site["fn"]
    fallback = biject_to(fn.support)(jnp.zeros(fn.shape()))
    try:
        mean = fn.mean
    except NotImplementedError:
        mean = None
    if mean is None and isinstance(fn, dist.TransformedDistribution):
        try:
            mean = fn.base_dist.mean
            for t in fn.transforms:  # exact for the affine rescaling of control coefficients
                mean = t(mean)
        except NotImplementedError:
            mean = None
    if mean is None:
        return fallback
    mean = jnp.broadcast_to(mean, fn.shape())
    return jnp.where(jnp.isfinite(mean), mean, fallback)


def flatten(model: Callable, args: tuple) -> FlatPosterior:
    """Sites, supports and shapes from an abstract trace (nothing is compiled or run)."""
    found: dict[str, tuple[Any, tuple]] = {}

    def probe(*a):
        tr = trace(substitute(model, substitute_fn=_prior_center)).get_trace(*a)
        for name, site in tr.items():
            if site["type"] == "sample" and not site["is_observed"]:
                found[name] = (biject_to(site["fn"].support), tuple(jnp.shape(site["value"])))
        return 0

    jax.eval_shape(probe, *args)
    transforms = {k: t for k, (t, _) in found.items()}
    layout, offset = {}, 0
    for k, (t, shape) in found.items():
        ushape = tuple(t.inverse_shape(shape))
        layout[k] = (offset, ushape)
        offset += int(np.prod(ushape, dtype=int))

    def unravel(q):
        # plain slices (jax.flatten_util would run eager ops on a prototype to learn the layout)
        return {k: q[o:o + int(np.prod(sh, dtype=int))].reshape(sh) for k, (o, sh) in layout.items()}

    def potential(q):
        return potential_energy(model, args, {}, unravel(q))

    def center():
        tr = trace(substitute(model, substitute_fn=_prior_center)).get_trace(*args)
        return jnp.concatenate([jnp.ravel(transforms[k].inv(tr[k]["value"])) for k in layout])

    return FlatPosterior(potential, unravel, transforms, center, offset)


def _keys_and_starts(post: FlatPosterior, seed: int, chains: int):
    """One compiled program for every key and start: each eager PRNG op would compile its own."""

    @jax.jit
    def make(s):
        key = jax.random.PRNGKey(s)
        k_init, k_run = jax.random.split(key)
        z = post.center() + jax.random.uniform(k_init, (chains, post.size), minval=-1.0, maxval=1.0)
        return z, jax.random.split(k_run, chains)

    return make(seed)


def constrain(post: FlatPosterior, q) -> dict[str, np.ndarray]:
    """Draws (chain, draw, D) on the unconstrained scale -> {site: (chain, draw, ...)} in support."""

    @jax.jit
    def one(v):
        return {k: post.transforms[k](u) for k, u in post.unravel(v).items()}

    return {k: np.asarray(v) for k, v in jax.vmap(jax.vmap(one))(q).items()}


def run_nuts(model: Callable, args: tuple, *, seed: int, chains: int, draws: int, tune: int, chain_method: str,
             target_accept: float, dense_mass: bool, max_tree_depth: int, progress: bool = False
             ) -> tuple[dict[str, np.ndarray], dict]:
    """Posterior draws {site: (chain, draw, ...)} and sampler statistics of a NumPyro model."""
    from numpyro.infer import MCMC, NUTS

    post = flatten(model, args)
    z0, keys = _keys_and_starts(post, seed, chains)
    kernel = NUTS(potential_fn=post.potential, target_accept_prob=target_accept, dense_mass=dense_mass,
                  max_tree_depth=max_tree_depth)
    mcmc = MCMC(kernel, num_warmup=tune, num_samples=draws, num_chains=chains, chain_method=chain_method,
                progress_bar=progress)
    mcmc.run(keys if chains > 1 else keys[0], init_params=z0 if chains > 1 else z0[0],
             extra_fields=("diverging", "num_steps", "potential_energy"))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    if not np.all(np.isfinite(np.asarray(extra["potential_energy"]))):
        # a start with no finite density never moves; checked here, not before sampling, so the
        # common case compiles no extra program
        raise RuntimeError("NUTS met a non-finite log density (a start or a region the priors allow but the "
                           "model cannot evaluate); check the priors and the data for extreme values")
    stats = {"divergences": int(np.asarray(extra["diverging"]).sum()),
             "mean_leapfrog_steps": float(np.asarray(extra["num_steps"]).mean()),
             "init": "prior mean + uniform(-1, 1) jitter, unconstrained"}
    return constrain(post, mcmc.get_samples(group_by_chain=True)), stats
