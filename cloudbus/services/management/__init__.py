"""The management-node cluster: membership and the ring, API records, takeover of dead nodes."""
