"""Builder of the tiny bootable test image (see docs/tiny-image.md)."""

from onestack.images.builder import Recipe, TinyImageError, build_tiny, default_cache_dir

__all__ = ["Recipe", "TinyImageError", "build_tiny", "default_cache_dir"]
