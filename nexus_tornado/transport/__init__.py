"""The SockJS transport layer: sockjs-tornado's router and transports fitted to Tornado 6.

It carries text messages between a browser (or a raw WebSocket client) and a connection
object; it knows nothing of STOMP, policy or the hub (the STOMP glue, ``nexus_tornado.glue``, builds on it).
"""
