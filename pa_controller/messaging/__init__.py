"""The wire: topics and payload codecs, the MQTT client, the per-topic handlers."""
