"""Disk images as the host sees them, shared by the drivers that read tenant disks (storage
for volumes, virt for guests' disks): ``inspector`` parses image headers without qemu-img
and refuses anything unsafe, ``qemu_img`` runs qemu-img only on images the inspector passed.
The one package other drivers may import."""
