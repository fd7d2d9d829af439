"""Helpers of the L2/L3 network services: IPv4 range arithmetic (`ipam`), IP allocation
on the database (`allocation`), network service providers (`providers`) and the
handler groups the L3 service is made of (`ip_ranges`, `services`)."""
