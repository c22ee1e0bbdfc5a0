"""Test-bed helpers: the real Agent Server (servers.py) and a fault-injecting proxy."""
