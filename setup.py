"""For scrapyd-deploy only: it builds the egg with ``python setup.py bdist_egg`` (and, without
this file, would write a setup.py of its own that leaves settings/*.yaml out).  Everything
(packages, the settings/*.yaml package data, the ``scrapy`` settings entry point) comes
from pyproject.toml."""

from setuptools import setup

setup()
