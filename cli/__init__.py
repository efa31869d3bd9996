"""`imgpipe`, the command line client of the gateway's HTTP API (README "The command line").

A client, not a function of the service: it talks to the gateway over HTTP and reads its
answers as the same typed views the gateway writes (shared/api.py).
"""
