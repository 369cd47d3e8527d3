"""The LAN announcement (mDNS / DNS-SD), shared by server and client.

A server registers an instance of ``SERVICE_TYPE`` whose TXT record holds
``name``, ``version``, ``tls`` and ``password`` (docs/discovery.md); the
client browses for the same type. No I/O here: zeroconf does that.
"""

SERVICE_TYPE = "_chatserver._tcp.local."
