"""Storage drivers: what the primary- and backup-storage services ask of a storage backend.

`base` holds the interfaces, `simulator` the in-memory drivers used by default (tests,
scale runs). The node keeps one driver per storage type (`ManagementNode.storage_drivers`).
"""
