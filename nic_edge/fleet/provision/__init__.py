"""Provisioning: write a device bundle onto a Raspberry Pi OS boot partition or image.

``partitions`` reads MBR/GPT tables, ``mtools`` writes into a FAT partition inside an image
without root or mounting, ``bundle`` builds and validates what a box needs (config, device key,
secrets, manuals), ``flash`` writes it and appends the first-boot hook, ``inventory`` handles
many devices, ``cli`` is the ``nic-fleet flash`` surface. Importing this package does no work.
"""
