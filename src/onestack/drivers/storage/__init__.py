"""Block storage on the host: disk files, qemu-img."""
