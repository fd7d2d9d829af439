"""Binary size units, in bytes: what every size in an inventory is counted in."""

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
