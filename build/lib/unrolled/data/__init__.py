"""Data: pinned sources (sources.py), safe extraction (archive.py) and data set builders."""
