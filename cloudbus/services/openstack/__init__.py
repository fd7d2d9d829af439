"""OpenStack as a backend: the cloud registry and its discovery (service.py, discovery.py),
the hypervisor driver (compute.py) and the Cinder and Glance storage drivers (storage.py)."""
