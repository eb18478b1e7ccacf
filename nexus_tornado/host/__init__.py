"""What a host app calls: the plugin it mounts (:mod:`.plugin`), the publish API for its
services (:mod:`.service_api`) and the login-to-token handler (:mod:`.token_handler`)."""
