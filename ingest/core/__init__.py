"""The shared core of ingest: settings, domain types, catalogue, park files, SQL, migrations, and the
batch writer both front ends (MQTT, HJ 212 TCP) store through. Imports nothing from its siblings."""
