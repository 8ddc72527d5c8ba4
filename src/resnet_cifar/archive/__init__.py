"""Fetching the CIFAR-10 archive: download or copy, MD5 check, safe extraction (the `download` stage alone)."""
