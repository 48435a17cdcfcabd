"""The broker's side of LoaNet: Mosquitto's configuration, accounts and ACL, its TLS files, and its reload.

Everything here writes files Mosquitto reads; nothing opens a connection. What the accounts are (which
clusters, which passwords) is the services' to say (`services/broker_access.py`).
"""
