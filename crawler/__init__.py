"""sina-finance-hexo: crawls Sina Finance news into Hexo posts."""
