"""YAML configuration shipped with the project (package data, read by crawler.config)."""
