"""The Tornado / sockjs-tornado glue: the only layer that imports either."""
