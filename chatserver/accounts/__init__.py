"""Accounts (issue 23): a name kept with a password, logins and their tokens, the throttle, the service.

``hashing`` (scrypt, its parameters kept with each hash), ``tokens`` (login
tokens: made by ``secrets``, kept only as hashes), ``throttle`` (growing delays
for wrong passwords, per address and per account, on an injectable clock),
``service`` (the rules of accounts, no I/O but the store's: what the chat rules
call). Where accounts are kept is a port, ``chatserver/backends/accounts.py``.
"""
