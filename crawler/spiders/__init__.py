"""Spiders: they decide what to request; parsing lives in crawler.sina and crawler.loaders."""
