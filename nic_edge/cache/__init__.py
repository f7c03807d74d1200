"""Answer cache: a small in-process LRU (L1) over an LMDB store on the SD card (L2).

Light on purpose: importing ``nic_edge.cache`` imports neither lmdb nor msgpack; they load
when a TieredCache is built.
"""
