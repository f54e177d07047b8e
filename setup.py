"""segwgan: SegGAN / SegWGAN semantic segmentation on the TF Model Garden."""
import setuptools

INSTALL_REQUIRES = [
    "tensorflow==2.20.0",
    "tf-keras==2.20.1",
    "tf-models-official==2.20.0",
    "tensorflow-datasets==4.9.10",
    "absl-py==1.4.0",
    "numpy==2.4.6",
    "opencv-python-headless==5.0.0.93",
    "cityscapesscripts==2.3.0",
    "matplotlib==3.11.2",
    "pillow==13.0.0",
    "PyYAML==6.0.4",
]

setuptools.setup(
    name="segwgan",
    version="0.1.0",
    description=__doc__,
    python_requires="==3.11.*",
    packages=setuptools.find_packages(include=["segwgan", "segwgan.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest==9.2.0", "pytest-xdist==3.8.0"]},
)
