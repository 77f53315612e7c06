"""sina-finance-hexo: crawls Sina Finance news into Hexo posts."""

# The one place the version is written (pyproject.toml reads it).  A cluster's workers
# refuse a coordinator of another version: bump it with any change to what is queued
# or answered (0.2.0: post format 3, frozen posts in the workers' answers).
__version__ = "0.2.0"
