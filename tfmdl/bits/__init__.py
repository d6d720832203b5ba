"""Pure math on numbers: units, the uniform code, mixtures, entropy coding."""
