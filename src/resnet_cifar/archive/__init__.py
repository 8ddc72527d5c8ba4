"""Fetching a dataset's archive: download or copy, MD5 check, safe extraction (the `download` stage alone)."""
