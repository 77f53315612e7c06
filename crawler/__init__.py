"""sina-finance-hexo: crawls Sina Finance news into Hexo posts."""

# The one place the version is written (pyproject.toml reads it).  A cluster's workers
# refuse a coordinator of another version: bump it with any change to what is queued.
__version__ = "0.1.0"
