"""Pure math on numbers: units, the uniform code, switching, entropy coding."""
