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
from numpyro.infer.hmc import hmc
from numpyro.infer.util import potential_energy

JITTER = 1.0  # half-width of the uniform start jitter on the unconstrained scale (PyMC's)


class FlatPosterior(NamedTuple):
    """The model's posterior as a function of one unconstrained vector."""

    potential: Callable[[Any], Any]   # (D,) -> scalar, minus log density at the fitted data
    potential_for: Callable[..., Callable[[Any], Any]]  # (*model args) -> potential at those data
    unravel: Callable[[Any], dict]    # (D,) -> {site: unconstrained value}
    transforms: dict                  # site -> unconstrained-to-support bijection
    center: Callable[..., Any]        # (*model args, starts) -> (D,) prior mean, unconstrained (traceable)
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

    def potential_for(*a):
        return lambda q: potential_energy(model, a, {}, unravel(q))

    def center(*a, starts: dict | None = None):
        """The prior mean, except sites given in `starts` (constrained values, e.g. data-informed)."""
        tr = trace(substitute(model, substitute_fn=_prior_center)).get_trace(*(a or args))
        starts = starts or {}
        return jnp.concatenate([jnp.ravel(transforms[k].inv(jnp.broadcast_to(starts[k], jnp.shape(tr[k]["value"]))
                                                            if k in starts else tr[k]["value"])) for k in layout])

    return FlatPosterior(potential_for(*args), potential_for, unravel, transforms, center, offset)


def _keys_and_starts(post: FlatPosterior, seed: int, chains: int, args: tuple = (), starts: dict | None = None):
    """One compiled program for every key and start: each eager PRNG op would compile its own."""

    @jax.jit
    def make(s, a, st):
        key = jax.random.PRNGKey(s)
        k_init, k_run = jax.random.split(key)
        z = post.center(*a, starts=st) + jax.random.uniform(k_init, (chains, post.size), minval=-JITTER, maxval=JITTER)
        return z, jax.random.split(k_run, chains)

    return make(seed, args, {k: jnp.asarray(v, dtype=jnp.float32) for k, v in (starts or {}).items()})


def constrain(post: FlatPosterior, q) -> dict[str, np.ndarray]:
    """Draws (chain, draw, D) on the unconstrained scale -> {site: (chain, draw, ...)} in support."""

    @jax.jit
    def one(v):
        return {k: post.transforms[k](u) for k, u in post.unravel(v).items()}

    return {k: np.asarray(v) for k, v in jax.vmap(jax.vmap(one))(q).items()}


def _chain(post: FlatPosterior, *, tune: int, draws: int, target_accept: float, dense_mass: bool,
           max_tree_depth: int) -> Callable:
    """One chain, warm-up and draws in a single scan, from NumPyro's functional NUTS kernel.

    Why not `numpyro.infer.MCMC`: it closes the data into the program (a potential_fn cannot take
    model arguments), so a refit on other data of the same shapes (another outcome, another
    revenue type) would miss the persistent compile cache; here the data are arguments."""
    def run(key, z0, args):
        init_kernel, sample_kernel = hmc(potential_fn_gen=post.potential_for, algo="NUTS")
        state = init_kernel(z0, tune, dense_mass=dense_mass, target_accept_prob=target_accept,
                            max_tree_depth=max_tree_depth, model_args=args, rng_key=key)

        def step(s, _):
            s = sample_kernel(s, model_args=args)
            return s, (s.z, s.diverging, s.num_steps, s.potential_energy)

        _, out = jax.lax.scan(step, state, None, length=tune + draws)
        return tuple(x[tune:] for x in out)

    return run


def run_nuts(model: Callable, args: tuple, *, seed: int, chains: int, draws: int, tune: int, chain_method: str,
             target_accept: float, dense_mass: bool, max_tree_depth: int, progress: bool = False,
             starts: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Posterior draws {site: (chain, draw, ...)} and sampler statistics of a NumPyro model.

    chain_method: "parallel" (one chain per host device, pmap), "vectorized" (vmap, lockstep) or
    "sequential" (one compiled chain run chain after chain). `progress` is accepted for the API's
    sake; the chains run as one compiled program with no per-draw callback. `starts`: constrained
    values that replace the prior mean as the centre of the jittered starts for those sites."""
    post = flatten(model, args)
    z0, keys = _keys_and_starts(post, seed, chains, args, starts)
    run = _chain(post, tune=tune, draws=draws, target_accept=target_accept, dense_mass=dense_mass,
                 max_tree_depth=max_tree_depth)
    if chain_method == "parallel":
        out = jax.pmap(run, in_axes=(0, 0, None))(keys, z0, args)
    elif chain_method == "vectorized":
        out = jax.jit(jax.vmap(run, in_axes=(0, 0, None)))(keys, z0, args)
    elif chain_method == "sequential":
        one = jax.jit(run)
        per_chain = [one(keys[c], z0[c], args) for c in range(chains)]
        out = tuple(jnp.stack(parts) for parts in zip(*per_chain))
    else:
        raise ValueError(f"chain_method must be 'parallel', 'vectorized' or 'sequential', got {chain_method!r}")
    q, diverging, num_steps, pe = (np.asarray(x) for x in out)
    if not np.all(np.isfinite(pe)):
        # a start with no finite density never moves; checked here, not before sampling, so the
        # common case compiles no extra program
        raise RuntimeError("NUTS met a non-finite log density (a start or a region the priors allow but the "
                           "model cannot evaluate); check the priors and the data for extreme values")
    stats = {"divergences": int(diverging.sum()), "mean_leapfrog_steps": float(num_steps.mean()),
             "init": f"prior mean + uniform(-{JITTER:g}, {JITTER:g}) jitter, unconstrained"}
    return constrain(post, q), stats
