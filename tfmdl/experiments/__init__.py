"""Experiments: a config and a workdir in, results.json and TensorBoard out.

The binaries in ``bin/`` parse flags into a config and call one ``run`` here.
"""
