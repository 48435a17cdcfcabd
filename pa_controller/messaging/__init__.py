"""The wire: the MQTT client and the per-topic handlers; topics and payload codecs are `pa_protocol`'s."""
