"""Context machinery: Paragon (storage), runs, Bifrost (blocks) and the proxies."""
