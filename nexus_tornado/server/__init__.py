"""The STOMP glue and the host-app plugin: a SockJS connection drives one STOMP session,
its events go to policy and the hub, and the plugin wires it all into a Tornado app."""
