"""tfmdl: description length of deep learning models, in TensorFlow/Keras."""

import setuptools

INSTALL_REQUIRES = [
    "tensorflow==2.21.*",
    "tf-keras==2.21.*",
    "tensorflow-probability==0.25.*",
    "tensorflow-datasets>=4.9.10",
    "keras-tuner>=1.4.8",
    "absl-py>=2.1",
    "ml-collections>=1.0",
    "numpy>=1.26",
    "tensorboard==2.21.*",
    "scikit-learn>=1.5",
    "constriction>=0.4",
    "matplotlib>=3.8",
    "importlib_resources",  # tensorflow-datasets needs it to download
]

EXTRAS_REQUIRE = {
    # pdoc builds the API reference (docs/build_reference.py).
    "dev": ["pytest>=8", "pytest-xdist>=3.5", "pdoc>=15"],
    "gpu": ["tensorflow[and-cuda]==2.21.*"],
}

setuptools.setup(
    name="tfmdl",
    version="0.1.0",
    description="Description length (MDL) of deep learning models: uniform, "
    "two-part, variational, prequential and switch codes.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tfmdl", "tfmdl.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
