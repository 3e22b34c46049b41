"""Checks that teach: the helpers the check cells of the assignments call (one module per unit).

Each ``check_*`` function runs a student's function on seeded random inputs, compares it
with the reference implementation in this package and, when something is wrong, raises
a :class:`CheckFailed` (an ``AssertionError``) whose **first line names the likely mistake
and its fix** (a grader reports only that line); the lines after it give the numbers. A
student function whose body still raises ``NotImplementedError`` gives one clear line,
``"<name> is not implemented yet: fill in the cell marked YOUR CODE HERE"``, instead of a
cascade of errors. An error raised inside the student's code is reported as what was
called and what it raised, with the original traceback chained below.

A notebook shows a failing check as its hint alone, ``Check failed: <hint>`` and the
details, not as a traceback through these modules; ``%tb`` in a new cell shows the full
traceback (see :class:`CheckFailed`).

The checks are deterministic (their own seeded generators; the caller's global random
state is left untouched) and take well under a second each on a CPU.

Unit 01: :func:`check_autoencoder`, :func:`check_reconstruction_loss`,
:func:`check_add_noise`, :func:`check_contractive_penalty`,
:func:`check_trained_autoencoder`.

Unit 02: :func:`check_reparameterize`, :func:`check_gaussian_kl`, :func:`check_vae_loss`,
:func:`check_elbo_estimate`, :func:`check_trained_vae`.

Unit 03: :func:`check_discriminator_loss`, :func:`check_generator_loss`,
:func:`check_discriminator_step`, :func:`check_generator_step`,
:func:`check_gan_iteration`, :func:`check_trained_gan`.

Unit 04 (NumPy functions of densities on a grid): :func:`check_optimal_discriminator`,
:func:`check_kl_divergence`, :func:`check_js_divergence`, :func:`check_value_function`,
:func:`check_smoothed_discriminator` (one-sided label smoothing).

Unit 05 (DCGAN): :func:`check_dcgan_generator`, :func:`check_dcgan_discriminator`,
:func:`check_dcgan_train_step`, :func:`check_trained_dcgan`.

Unit 06 (metrics): :func:`check_frechet_distance`, :func:`check_inception_score`,
:func:`check_nearest_neighbours`, :func:`check_model_scores` (the student's ``fid`` and IS on
the course's models), :func:`check_copy_ratio`.

Unit 07 (WGAN-GP): :func:`check_critic_loss`, :func:`check_gradient_penalty`,
:func:`check_critic_step`, :func:`check_wgan_generator_step`; the ring run reuses
:func:`check_trained_gan`.
"""

from __future__ import annotations

from ganlab.checks.common import IMAGE_SHAPE, NOT_IMPLEMENTED, CheckFailed, call, fail
from ganlab.checks.unit01 import (
    check_add_noise,
    check_autoencoder,
    check_contractive_penalty,
    check_reconstruction_loss,
    check_trained_autoencoder,
)
from ganlab.checks.unit02 import (
    check_elbo_estimate,
    check_gaussian_kl,
    check_reparameterize,
    check_trained_vae,
    check_vae_loss,
)
from ganlab.checks.unit03 import (
    check_discriminator_loss,
    check_discriminator_step,
    check_gan_iteration,
    check_generator_loss,
    check_generator_step,
    check_trained_gan,
)
from ganlab.checks.unit04 import (
    check_js_divergence,
    check_kl_divergence,
    check_optimal_discriminator,
    check_smoothed_discriminator,
    check_value_function,
)
from ganlab.checks.unit05 import (
    MAX_DCGAN_PARAMETERS,
    check_dcgan_discriminator,
    check_dcgan_generator,
    check_dcgan_train_step,
    check_trained_dcgan,
)
from ganlab.checks.unit06 import (
    check_copy_ratio,
    check_frechet_distance,
    check_inception_score,
    check_model_scores,
    check_nearest_neighbours,
)
from ganlab.checks.unit07 import (
    check_critic_loss,
    check_critic_step,
    check_gradient_penalty,
    check_wgan_generator_step,
)

__all__ = ['IMAGE_SHAPE', 'NOT_IMPLEMENTED', 'CheckFailed', 'call', 'fail', 'MAX_DCGAN_PARAMETERS', 'check_add_noise', 'check_autoencoder', 'check_contractive_penalty', 'check_reconstruction_loss', 'check_trained_autoencoder', 'check_elbo_estimate', 'check_gaussian_kl', 'check_reparameterize', 'check_trained_vae', 'check_vae_loss', 'check_discriminator_loss', 'check_discriminator_step', 'check_gan_iteration', 'check_generator_loss', 'check_generator_step', 'check_trained_gan', 'check_js_divergence', 'check_kl_divergence', 'check_optimal_discriminator', 'check_smoothed_discriminator', 'check_value_function', 'check_dcgan_discriminator', 'check_dcgan_generator', 'check_dcgan_train_step', 'check_trained_dcgan', 'check_frechet_distance', 'check_inception_score', 'check_copy_ratio', 'check_model_scores', 'check_nearest_neighbours', 'check_critic_loss', 'check_critic_step', 'check_gradient_penalty', 'check_wgan_generator_step']
