"""Models of the course, one module per family.

* :mod:`ganlab.models.autoencoders` (Unit 01): MLP, linear and convolutional autoencoders.
"""

from ganlab.models.autoencoders import Autoencoder, ConvAutoencoder, add_noise

__all__ = ["Autoencoder", "ConvAutoencoder", "add_noise"]
