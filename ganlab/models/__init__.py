"""Models of the course, one module per family.

* :mod:`ganlab.models.layers`: the layer stacks they share (an MLP, a small conv encoder
  and decoder, activations by name).
* :mod:`ganlab.models.autoencoders` (Unit 01): MLP, linear and convolutional autoencoders.
* :mod:`ganlab.models.vae` (Unit 02): the variational autoencoder (MLP or conv body,
  Bernoulli or Gaussian decoder).
* :mod:`ganlab.models.linear_gaussian` (Unit 02): a latent-variable model with exact
  likelihood and posterior, to check the ELBO identity.
* :mod:`ganlab.models.autoregressive` (Unit 02): MADE, a tractable-density model.
* :mod:`ganlab.models.gan` (Units 03-04): the lecture's MLP generator and discriminator.
* :mod:`ganlab.models.dcgan` (Unit 05): DCGAN presets ``tutorial28``, ``paper64``, ``cpu28``.
"""

from ganlab.models.autoencoders import Autoencoder, ConvAutoencoder, add_noise
from ganlab.models.autoregressive import MADE
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.gan import MLPDiscriminator, MLPGenerator
from ganlab.models.linear_gaussian import LinearGaussian
from ganlab.models.vae import VAE

__all__ = ["MADE", "VAE", "Autoencoder", "ConvAutoencoder", "DCGANDiscriminator", "DCGANGenerator",
           "LinearGaussian", "MLPDiscriminator", "MLPGenerator", "add_noise"]
