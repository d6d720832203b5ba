"""tfmdl: the description length of deep learning models, in bits.

Codes (Blier & Ollivier, "The Description Length of Deep Learning Models"):
uniform, two-part, variational, prequential, switch and self-switch.
"""

__version__ = "0.1.0"
