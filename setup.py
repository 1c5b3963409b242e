"""Shim for old pip (18, Python 3.6's bundled pip), which installs only a
folder with a setup.py. Everything is declared in setup.cfg and pyproject.toml."""

from setuptools import setup

setup()
