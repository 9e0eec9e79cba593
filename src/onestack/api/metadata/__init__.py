"""The metadata API guests read (Nova's metadata service), under /metadata."""
