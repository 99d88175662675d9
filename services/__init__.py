"""The parts kappa starts on loopback: a Kafka broker, a Flink session cluster, a Beam job server."""
