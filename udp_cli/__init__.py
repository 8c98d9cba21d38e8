"""The `udp` command line: the top layer, over the local twins and the orchestration."""
